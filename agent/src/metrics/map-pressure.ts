/**
 * Map pressure: how full each hash and LRU map pinned by a running program is — the number of
 * entries against `max_entries` — exported with the program's labels:
 * `l3af_map_entries`, `l3af_map_max_entries` and `l3af_map_fill_ratio` (entries / max_entries).
 *
 * A full HASH map refuses new keys (updates fail with E2BIG) and a full LRU map evicts; neither is
 * visible from the program side, hence these series. The kernel keeps no entry count a user
 * reads cheaply on every kernel, so the entries are counted by key iteration
 * (`BPF_MAP_GET_NEXT_KEY`, one syscall per entry), on its own timer (default 5 s) and at
 * most `maxEntriesCounted` keys per map per round (default 65536: ≈ 3 µs per key measured, ≈ 0.2 s per round at the bound; a map larger than that reports the bound and
 * `l3af_map_entries_truncated` 1).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { BpfMap } from '../bpf/index.ts';
import type { EngineObserver, RunningProgram } from '../observer/program.ts';
import { ScrapeMetric, type ScrapeSample } from './scrape-metric.ts';
import { programKey, programLabels } from './labels.ts';
import { messageOf } from '../error-message.ts';
import { Tick } from './tick.ts';

/** Map types whose fill is tracked (arrays are always full by construction). */
const PRESSURE_TYPES = new Set<string>(['hash', 'lru_hash', 'percpu_hash', 'lru_percpu_hash']);

export interface MapPressureOptions {
  readonly registry: Registry;
  readonly host?: string;
  /** Counting interval (default 5000 ms). */
  readonly intervalMs?: number;
  /** Keys counted per map per round at most (default 65536). */
  readonly maxEntriesCounted?: number;
  readonly logger?: Logger;
}

interface Tracked {
  readonly map: BpfMap;
  entries: number;
  truncated: boolean;
}

interface ProgramMaps {
  program: RunningProgram;
  readonly maps: Map<string, Tracked>;
}

/** Counts entries of the hash/LRU maps of running programs; an {@link EngineObserver}. */
export class MapPressure implements EngineObserver {
  readonly host: string;
  readonly intervalMs: number;
  readonly maxEntriesCounted: number;
  readonly #logger: Logger | undefined;
  readonly #programs = new Map<string, ProgramMaps>();
  readonly #tick = new Tick(() => this.sampleNow());

  constructor(opts: MapPressureOptions) {
    this.host = opts.host ?? hostname();
    this.intervalMs = opts.intervalMs ?? 5000;
    this.maxEntriesCounted = opts.maxEntriesCounted ?? 65536;
    this.#logger = opts.logger;
    if (!(this.intervalMs >= 1)) throw new RangeError(`map pressure interval must be ≥ 1 ms, got ${this.intervalMs}`);
    if (!Number.isInteger(this.maxEntriesCounted) || this.maxEntriesCounted < 1) throw new RangeError(`maxEntriesCounted must be a positive integer, got ${this.maxEntriesCounted}`);
    this.#register(opts.registry);
  }

  /** Starts the counting timer (idempotent). */
  start(): this {
    this.#tick.start(this.intervalMs);
    return this;
  }

  close(): void {
    this.#tick.stop();
    for (const p of this.#programs.values()) closeAll(p);
    this.#programs.clear();
  }

  /** One counting round now. */
  sampleNow(): void {
    for (const p of this.#programs.values()) {
      for (const [name, t] of p.maps) {
        try {
          let n = 0;
          for (const _ of t.map.keys()) {
            if (++n >= this.maxEntriesCounted) break;
          }
          t.entries = n;
          t.truncated = n >= this.maxEntriesCounted && n < t.map.maxEntries;
        } catch (err) {
          this.#logger?.warn({ program: p.program.name, map: name, err: messageOf(err) }, 'map entry count failed');
        }
      }
    }
  }

  programStarted(p: RunningProgram): void {
    const key = programKey(p);
    const old = this.#programs.get(key);
    if (old) closeAll(old);
    this.#programs.delete(key);
    const maps = this.#open(p);
    if (maps.size === 0) return;
    this.#programs.set(key, { program: p, maps });
    this.sampleNow();
  }

  programUpdated(p: RunningProgram): void {
    const cur = this.#programs.get(programKey(p));
    if (cur && cur.program.progId === p.progId && cur.program.mapPinDir === p.mapPinDir) {
      cur.program = p;
      return;
    }
    this.programStarted(p);
  }

  programStopped(p: RunningProgram): void {
    const key = programKey(p);
    const cur = this.#programs.get(key);
    if (cur) closeAll(cur);
    this.#programs.delete(key);
  }

  #open(p: RunningProgram): Map<string, Tracked> {
    const out = new Map<string, Tracked>();
    if (!p.mapPinDir) return out;
    let names: string[];
    try {
      names = readdirSync(p.mapPinDir);
    } catch {
      return out;
    }
    for (const name of names.sort()) {
      let map: BpfMap | undefined;
      try {
        map = BpfMap.openPinned(join(p.mapPinDir, name));
      } catch {
        continue; // a pinned program or link, or a file being replaced
      }
      if (PRESSURE_TYPES.has(map.type)) out.set(name, { map, entries: 0, truncated: false });
      else map.close();
    }
    return out;
  }

  #register(registry: Registry): void {
    const each = (value: (t: Tracked) => number) => (): Iterable<ScrapeSample> => {
      const out: ScrapeSample[] = [];
      for (const p of this.#programs.values()) {
        const base = programLabels(p.program, this.host);
        for (const [name, t] of p.maps) out.push({ labels: { ...base, map: name, type: t.map.type }, value: value(t) });
      }
      return out;
    };
    new ScrapeMetric({ name: 'l3af_map_entries', type: 'gauge', help: 'Entries in a hash or LRU map of a running program (counted by key iteration).', collect: each((t) => t.entries) }).register(registry);
    new ScrapeMetric({ name: 'l3af_map_max_entries', type: 'gauge', help: 'max_entries of a hash or LRU map of a running program.', collect: each((t) => t.map.maxEntries) }).register(registry);
    new ScrapeMetric({ name: 'l3af_map_fill_ratio', type: 'gauge', help: 'Entries / max_entries of a hash or LRU map (1 = full: HASH refuses new keys, LRU evicts).', collect: each((t) => (t.map.maxEntries > 0 ? t.entries / t.map.maxEntries : 0)) }).register(registry);
    new ScrapeMetric({ name: 'l3af_map_entries_truncated', type: 'gauge', help: 'Whether the last entry count of a map stopped at the counting bound (then l3af_map_entries is a lower bound).', collect: each((t) => (t.truncated ? 1 : 0)) }).register(registry);
  }
}

function closeAll(p: ProgramMaps): void {
  for (const t of p.maps.values()) t.map.close();
  p.maps.clear();
}
