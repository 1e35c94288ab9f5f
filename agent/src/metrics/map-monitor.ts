/**
 * Map monitors: the `monitor_maps` of each running program, sampled on a timer from the maps
 * pinned in the program's `mapPinDir`, exported from the last samples (a scrape never touches
 * the kernel).
 *
 * Per program the monitored maps are opened once (again when the program is replaced: another
 * kernel program id or pin directory). Each tick reads every monitored map once: one lookup
 * when a single key of it is monitored, else one `entries()` (BPF_MAP_LOOKUP_BATCH where the
 * kernel has it). Keys and values are unsigned integers of the map's own widths (1, 2, 4 or 8
 * bytes); per-CPU values are summed over CPUs.
 *
 * Aggregators: `scalar` (the value), `max-rate` and `avg` (per-second rates over the last
 * `samples` intervals, real elapsed time; see {@link RateWindow}), and, beyond l3afd,
 * `histogram`.
 *
 * **Payload entries**: l3afd's `{name, integer key, scalar|max-rate|avg}` and integer-keyed
 * histograms (`key` a range or `"*"`) are {@link MonitorSpec}s here; every other typed entry
 * (BTF-decoded keys and values, string / schema keys, lists, label and value paths, per-CPU by
 * CPU) is a {@link TypedMapMonitor} whose series join the same metric families.
 * {@link MapMonitorsOptions.extraSpecs} gives further {@link MonitorSpec}s per program, whose `key`
 * may be an inclusive range `{from, to}` or `'all'`. Each key becomes a series with the key as a label, at most
 * `maxKeysPerSpec` keys per spec (the ones seen first are kept); when the bound is hit the number of keys left out is
 * exported as `l3af_map_keys_omitted` and logged once.
 *
 * **Histogram convention** (`aggregator: 'histogram'`): an ARRAY (or PERCPU_ARRAY) with u32
 * keys and integer values; slot i counts values v with 2^i ≤ v < 2^(i+1) (slot 0 also counts
 * 0), so its upper bound is `le = 2^(i+1) − 1` for integer observations. The optional
 * `sumSlot` holds the sum of the observed values and becomes `_sum`; without it `_sum` is not
 * exported (nothing truthful to put there). A key range restricts the slots.
 */
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { BpfMap, possibleCpuCount } from '../bpf/index.ts';
import type { EngineObserver, RunningProgram } from '../observer/program.ts';
import { RateWindow } from './rate-window.ts';
import { ScrapeMetric, type ScrapeSample } from './scrape-metric.ts';
import { l3afdLabels, programKey, programLabels } from './labels.ts';
import { messageOf } from '../error-message.ts';
import { isPlainMonitorMap, type MonitorMap } from '../payload/index.ts';
import { TypedMapMonitor } from './typed-map-monitor.ts';
import { Tick } from './tick.ts';

/** Aggregators a {@link MonitorSpec} may ask for. */
export type MonitorAggregator = 'scalar' | 'max-rate' | 'avg' | 'histogram';

/** Which keys of a map a spec reads. */
export type KeySelector = number | bigint | { readonly from: number | bigint; readonly to: number | bigint } | 'all';

/** One monitored map (a payload `monitor_maps` entry is the case of a single key). */
export interface MonitorSpec {
  /** Map name inside the object (the pin file name under `mapPinDir`). */
  readonly name: string;
  readonly key: KeySelector;
  readonly aggregator: MonitorAggregator;
  /** Histogram only: slot holding the sum of observed values. */
  readonly sumSlot?: number;
}

/** Options of {@link MapMonitors}. */
export interface MapMonitorsOptions {
  readonly registry: Registry;
  /** The `host` label (default os.hostname()). */
  readonly host?: string;
  /** Sampling interval (default 1000 ms). */
  readonly intervalMs?: number;
  /** Rate intervals kept for max-rate / avg (`[web] n-metric-samples`, default 20). */
  readonly samples?: number;
  /** Series per spec of a key range or all keys (default 256). */
  readonly maxKeysPerSpec?: number;
  /** Also export `l3afd_BPFMonitorMap{map_name="<map>_<key>_<aggregator>"}`. */
  readonly l3afdCompat?: boolean;
  /** Further specs per program (key ranges, all keys, histograms). */
  readonly extraSpecs?: (p: RunningProgram) => readonly MonitorSpec[];
  /** Called after each sampling round (the /metrics body is rendered again then). */
  readonly onSampled?: () => void;
  readonly logger?: Logger;
}

interface KeyState {
  value: bigint;
  readonly window: RateWindow;
}

interface SpecState {
  readonly spec: MonitorSpec;
  readonly id: string;
  readonly series: Map<bigint, KeyState>;
  /** Histogram: slot → count, and the sum when a sum slot is given. */
  buckets?: Map<bigint, bigint>;
  sum?: bigint;
  omitted: number;
  limitLogged: boolean;
  invalid?: string;
}

interface MapGroup {
  readonly name: string;
  map?: BpfMap;
  openError?: string;
  readonly specs: SpecState[];
}

/** Tracks a program's monitored maps and their last samples. */
class ProgramMonitor {
  program: RunningProgram;
  groups = new Map<string, MapGroup>();

  constructor(program: RunningProgram, specs: readonly MonitorSpec[], readonly owner: MapMonitors) {
    this.program = program;
    this.setSpecs(specs);
  }

  setSpecs(specs: readonly MonitorSpec[]): void {
    const old = this.groups;
    this.groups = new Map();
    for (const spec of specs) {
      const id = specId(spec);
      let g = this.groups.get(spec.name);
      if (!g) {
        const prev = old.get(spec.name);
        g = { name: spec.name, map: prev?.map, openError: prev?.openError, specs: [] };
        if (prev) prev.map = undefined;
        this.groups.set(spec.name, g);
      }
      if (g.specs.some((s) => s.id === id)) continue;
      const kept = old.get(spec.name)?.specs.find((s) => s.id === id);
      g.specs.push(kept ?? { spec, id, series: new Map(), omitted: 0, limitLogged: false });
    }
    for (const g of old.values()) g.map?.close();
  }

  close(): void {
    for (const g of this.groups.values()) {
      g.map?.close();
      g.map = undefined;
    }
  }

  sample(): void {
    for (const g of this.groups.values()) this.#sampleGroup(g);
  }

  #open(g: MapGroup): BpfMap | undefined {
    if (g.map) return g.map;
    try {
      const map = BpfMap.openPinned(join(this.program.mapPinDir, g.name));
      const bad = checkWidths(map);
      for (const s of g.specs) {
        s.invalid = bad ?? (s.spec.aggregator === 'histogram' && !['array', 'percpu_array'].includes(map.type) ? `histogram needs an ARRAY, ${g.name} is ${map.type}` : undefined);
      }
      g.map = map;
      g.openError = undefined;
      return map;
    } catch (err) {
      const msg = messageOf(err);
      if (g.openError !== msg) this.owner.logger?.warn({ program: this.program.name, iface: this.program.iface, map: g.name, err: msg }, 'cannot open monitored map');
      g.openError = msg;
      this.owner.countError(this.program, g.name);
      return undefined;
    }
  }

  #sampleGroup(g: MapGroup): void {
    const map = this.#open(g);
    if (!map) return;
    const specs = g.specs.filter((s) => s.invalid === undefined);
    if (specs.length === 0) return;
    const keyOf = (b: Buffer): bigint => readUint(b, 0, map.keySize);
    let rows: Array<[bigint, bigint]>;
    try {
      const single = singleKey(specs);
      if (single !== undefined) {
        const v = map.lookup(writeUint(single, map.keySize));
        rows = v === undefined ? [] : [[single, valueOf(v, map)]];
      } else {
        rows = map.entries().map(([k, v]) => [keyOf(k), valueOf(v, map)]);
      }
    } catch (err) {
      this.owner.countError(this.program, g.name);
      this.owner.logger?.warn({ program: this.program.name, map: g.name, err: messageOf(err) }, 'map sample failed');
      return;
    }
    const t = process.hrtime.bigint();
    for (const s of specs) this.#apply(s, rows, t);
  }

  #apply(s: SpecState, rows: Array<[bigint, bigint]>, t: bigint): void {
    const sel = s.spec.key;
    if (s.spec.aggregator === 'histogram') {
      const sumSlot = s.spec.sumSlot === undefined ? undefined : BigInt(s.spec.sumSlot);
      const buckets = new Map<bigint, bigint>();
      let sum: bigint | undefined;
      for (const [k, v] of rows) {
        if (k === sumSlot) sum = v;
        else if (selects(sel, k) && k < 64n) buckets.set(k, v);
      }
      s.buckets = buckets;
      s.sum = sum;
      return;
    }
    const limit = isMulti(sel) ? this.owner.maxKeysPerSpec : Infinity;
    const seen = new Set<bigint>();
    let omitted = 0;
    for (const [k, v] of rows) {
      if (!selects(sel, k)) continue;
      let st = s.series.get(k);
      if (!st) {
        if (s.series.size >= limit) {
          omitted++;
          continue;
        }
        st = { value: v, window: new RateWindow(this.owner.samples) };
        s.series.set(k, st);
      }
      st.value = v;
      st.window.push(t, v);
      seen.add(k);
    }
    for (const k of s.series.keys()) if (!seen.has(k)) s.series.delete(k);
    s.omitted = omitted;
    if (omitted > 0 && !s.limitLogged) {
      s.limitLogged = true;
      this.owner.logger?.warn({ program: this.program.name, iface: this.program.iface, map: s.spec.name, limit, omitted },
        'monitored map has more keys than the series limit; the keys beyond it are not exported');
    }
  }
}

/** Samples the monitored maps of running programs; an {@link EngineObserver}. */
export class MapMonitors implements EngineObserver {
  readonly host: string;
  readonly intervalMs: number;
  readonly samples: number;
  readonly maxKeysPerSpec: number;
  readonly logger: Logger | undefined;
  readonly #extra: ((p: RunningProgram) => readonly MonitorSpec[]) | undefined;
  readonly #onSampled: (() => void) | undefined;
  readonly #programs = new Map<string, ProgramMonitor>();
  /** Typed `monitor_maps` entries (typed-map-monitor.ts), per program. */
  readonly #typed = new Map<string, { program: RunningProgram; monitors: TypedMapMonitor[] }>();
  readonly #errors = new Map<string, { labels: Record<string, string>; count: number }>();
  readonly #tick = new Tick(() => this.sampleNow());
  /** Duration of the last tick, ms. */
  lastTickMs = 0;

  constructor(opts: MapMonitorsOptions) {
    this.host = opts.host ?? hostname();
    this.intervalMs = opts.intervalMs ?? 1000;
    this.samples = opts.samples ?? 20;
    this.maxKeysPerSpec = opts.maxKeysPerSpec ?? 256;
    this.logger = opts.logger;
    this.#extra = opts.extraSpecs;
    this.#onSampled = opts.onSampled;
    if (!(this.intervalMs >= 1)) throw new RangeError(`sampling interval must be ≥ 1 ms, got ${this.intervalMs}`);
    if (!Number.isInteger(this.maxKeysPerSpec) || this.maxKeysPerSpec < 1) throw new RangeError(`maxKeysPerSpec must be a positive integer, got ${this.maxKeysPerSpec}`);
    new RateWindow(this.samples); // validates
    this.#registerMetrics(opts.registry, opts.l3afdCompat ?? false);
  }

  /** Starts the sampling timer (idempotent). */
  start(): this {
    this.#tick.start(this.intervalMs);
    return this;
  }

  /** Stops sampling and closes every map. */
  close(): void {
    this.#tick.stop();
    for (const m of this.#programs.values()) m.close();
    this.#programs.clear();
    for (const t of this.#typed.values()) for (const m of t.monitors) m.close();
    this.#typed.clear();
  }

  /** One sampling round over every program now (what the timer runs). */
  sampleNow(): void {
    const t0 = performance.now();
    for (const m of this.#programs.values()) m.sample();
    const t = process.hrtime.bigint();
    for (const x of this.#typed.values()) for (const m of x.monitors) m.sample(t);
    this.lastTickMs = performance.now() - t0;
    this.#onSampled?.();
  }

  #specs(p: RunningProgram): MonitorSpec[] {
    const specs: MonitorSpec[] = [];
    for (const m of p.monitorMaps) {
      if (isPlainMonitorMap(m)) specs.push({ name: m.name, key: m.key, aggregator: m.aggregator });
      else if (isIntegerHistogram(m)) specs.push({ name: m.name, key: m.key === '*' ? 'all' : (m.key as number | { from: number; to: number }), aggregator: 'histogram' });
    }
    for (const s of this.#extra?.(p) ?? []) specs.push(validateSpec(s));
    return specs;
  }

  #startTyped(p: RunningProgram): void {
    const key = programKey(p);
    for (const m of this.#typed.get(key)?.monitors ?? []) m.close();
    this.#typed.delete(key);
    const entries = p.monitorMaps.filter((m) => !isPlainMonitorMap(m) && !isIntegerHistogram(m));
    if (entries.length === 0) return;
    const opts = { samples: this.samples, maxKeys: this.maxKeysPerSpec, ...(this.logger ? { logger: this.logger } : {}) };
    const monitors = entries.map((e) => new TypedMapMonitor(p.mapPinDir, e, p.name, { ...opts, onError: () => this.countError(p, e.name) }));
    this.#typed.set(key, { program: p, monitors });
    const t = process.hrtime.bigint();
    for (const m of monitors) m.sample(t);
  }

  programStarted(p: RunningProgram): void {
    this.#startTyped(p);
    this.#startPlain(p);
  }

  #startPlain(p: RunningProgram): void {
    const key = programKey(p);
    this.#programs.get(key)?.close();
    const specs = this.#specs(p);
    if (specs.length === 0) {
      this.#programs.delete(key);
      return;
    }
    const m = new ProgramMonitor(p, specs, this);
    this.#programs.set(key, m);
    m.sample();
  }

  programUpdated(p: RunningProgram): void {
    const key = programKey(p);
    const typed = this.#typed.get(key);
    if (!typed || typed.program.progId !== p.progId || typed.program.mapPinDir !== p.mapPinDir || JSON.stringify(typed.program.monitorMaps) !== JSON.stringify(p.monitorMaps)) this.#startTyped(p);
    else typed.program = p;
    const m = this.#programs.get(key);
    if (!m || m.program.progId !== p.progId || m.program.mapPinDir !== p.mapPinDir || m.program.ipv4 !== p.ipv4) {
      this.#startPlain(p);
      return;
    }
    const specs = this.#specs(p);
    if (specs.length === 0) {
      m.close();
      this.#programs.delete(key);
      return;
    }
    m.program = p;
    m.setSpecs(specs);
    m.sample();
  }

  programStopped(p: RunningProgram): void {
    const key = programKey(p);
    for (const m of this.#typed.get(key)?.monitors ?? []) m.close();
    this.#typed.delete(key);
    this.#programs.get(key)?.close();
    this.#programs.delete(key);
    for (const k of this.#errors.keys()) if (k.startsWith(`${key}\u0000`)) this.#errors.delete(k);
  }

  /** @internal counts a failed open or read. */
  countError(p: RunningProgram, map: string): void {
    const k = `${programKey(p)}\u0000${map}`;
    const e = this.#errors.get(k) ?? { labels: { ...programLabels(p, this.host), map }, count: 0 };
    e.count++;
    this.#errors.set(k, e);
  }

  #registerMetrics(registry: Registry, compat: boolean): void {
    const each = (fn: (m: ProgramMonitor, g: MapGroup, s: SpecState) => Iterable<ScrapeSample>) => (): Iterable<ScrapeSample> => {
      const out: ScrapeSample[] = [];
      for (const m of this.#programs.values()) {
        for (const g of m.groups.values()) for (const s of g.specs) out.push(...fn(m, g, s));
      }
      return out;
    };
    const typed = this.#typed;
    const host = this.host;
    const keyed = (agg: MonitorAggregator, value: (st: KeyState) => number | undefined) => () => {
      const out = [...each(function* (m, g, s) {
        if (s.spec.aggregator !== agg) return;
        const base = programLabels(m.program, m.owner.host);
        for (const [k, st] of s.series) {
          const v = value(st);
          if (v !== undefined) yield { labels: { ...base, map: g.name, key: k.toString() }, value: v };
        }
      })()];
      for (const x of typed.values()) {
        const base = programLabels(x.program, host);
        for (const m of x.monitors) {
          for (const st of m.series.values()) {
            if (st.aggregator !== agg) continue;
            const v = value(st);
            if (v !== undefined) out.push({ labels: { ...base, map: m.entry.name, ...st.labels }, value: v });
          }
        }
      }
      return out;
    };
    // the sampled value of every monitored integer key, whatever its aggregator (once per map and key): a
    // dashboard can rate() a counter the payload monitors as max-rate or avg (the seed's rl_recv_count_map)
    const values = keyed('scalar', (st) => Number(st.value));
    const allValues = (): ScrapeSample[] => {
      const out = [...values()];
      const seen = new Set(out.map((x) => JSON.stringify(x.labels)));
      for (const m of this.#programs.values()) {
        const base = programLabels(m.program, m.owner.host);
        for (const g of m.groups.values()) {
          for (const s of g.specs) {
            if (s.spec.aggregator === 'scalar' || s.spec.aggregator === 'histogram') continue;
            for (const [k, st] of s.series) {
              const labels = { ...base, map: g.name, key: k.toString() };
              const id = JSON.stringify(labels);
              if (seen.has(id)) continue;
              seen.add(id);
              out.push({ labels, value: Number(st.value) });
            }
          }
        }
      }
      return out;
    };
    new ScrapeMetric({ name: 'l3af_map_value', type: 'gauge', help: 'Value of a monitored map key, whatever its aggregator (per-CPU values summed).', collect: allValues }).register(registry);
    new ScrapeMetric({ name: 'l3af_map_rate_max_per_second', type: 'gauge', help: 'Largest per-second increase of a monitored map key over the last n-metric-samples intervals (max-rate aggregator).', collect: keyed('max-rate', (st) => st.window.maxRate()) }).register(registry);
    new ScrapeMetric({ name: 'l3af_map_rate_avg_per_second', type: 'gauge', help: 'Mean per-second increase of a monitored map key over the last n-metric-samples intervals, time-weighted (avg aggregator).', collect: keyed('avg', (st) => st.window.avgRate()) }).register(registry);
    new ScrapeMetric({
      name: 'l3af_map_log2_distribution', type: 'histogram', help: 'Log2 histogram map: slot i counts values in [2^i, 2^(i+1)); le = 2^(i+1)-1.',
      collect: each(function* (m, g, s) {
        if (s.spec.aggregator !== 'histogram' || !s.buckets) return;
        const base = { ...programLabels(m.program, m.owner.host), map: g.name };
        const slots = [...s.buckets.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        let cum = 0n;
        for (const slot of slots) {
          cum += s.buckets.get(slot)!;
          yield { metricName: 'l3af_map_log2_distribution_bucket', labels: { ...base, le: String(2 ** (Number(slot) + 1) - 1) }, value: Number(cum) };
        }
        yield { metricName: 'l3af_map_log2_distribution_bucket', labels: { ...base, le: '+Inf' }, value: Number(cum) };
        if (s.sum !== undefined) yield { metricName: 'l3af_map_log2_distribution_sum', labels: base, value: Number(s.sum) };
        yield { metricName: 'l3af_map_log2_distribution_count', labels: base, value: Number(cum) };
      }),
    }).register(registry);
    new ScrapeMetric({
      name: 'l3af_map_keys_omitted', type: 'gauge', help: `Keys of a monitored key range left out of the last sample by the series limit (${this.maxKeysPerSpec} per spec).`,
      collect: () => {
        const out = [...each(function* (m, g, s) {
          if (s.spec.aggregator === 'histogram' || !isMulti(s.spec.key)) return;
          yield { labels: { ...programLabels(m.program, m.owner.host), map: g.name, aggregator: s.spec.aggregator }, value: s.omitted };
        })()];
        for (const x of typed.values()) {
          for (const m of x.monitors) if (m.multi) out.push({ labels: { ...programLabels(x.program, host), map: m.entry.name, aggregator: m.entry.aggregator }, value: m.omitted });
        }
        return out;
      },
    }).register(registry);
    new ScrapeMetric({
      name: 'l3af_map_sample_errors_total', type: 'counter', help: 'Failed opens or reads of a monitored map.',
      collect: () => [...this.#errors.values()].map((e) => ({ labels: e.labels, value: e.count })),
    }).register(registry);
    new ScrapeMetric({
      name: 'l3af_map_sample_duration_seconds', type: 'gauge', help: 'How long the last sampling round over all monitored maps took.',
      collect: () => [{ labels: {}, value: this.lastTickMs / 1000 }],
    }).register(registry);
    if (compat) {
      new ScrapeMetric({
        name: 'l3afd_BPFMonitorMap', type: 'gauge', help: 'This value indicates BPF program monitor counters',
        collect: each(function* (m, g, s) {
          const agg = s.spec.aggregator;
          if (agg === 'histogram') return;
          const c = l3afdLabels(m.program, m.owner.host);
          for (const [k, st] of s.series) {
            // max-rate as l3afd reports it: the largest integer increase of one sample interval
            const v = agg === 'scalar' ? Number(st.value) : agg === 'max-rate' ? st.window.maxIncrease() : st.window.avgRate();
            if (v === undefined) continue;
            yield { labels: { host: c.host, ebpf_program: c.ebpf_program, map_name: `${g.name}_${k}_${agg}`, interface_name: c.interface_name, ipv4_address: c.ipv4_address }, value: v };
          }
        }),
      }).register(registry);
    }
  }
}

function specId(s: MonitorSpec): string {
  const k = s.key;
  const key = typeof k === 'object' ? `${k.from}-${k.to}` : String(k);
  return `${s.name}|${key}|${s.aggregator}|${s.sumSlot ?? ''}`;
}

/** A payload histogram over integer slots: the existing log2 path (key range or "*"). */
function isIntegerHistogram(m: MonitorMap): boolean {
  if (m.aggregator !== 'histogram' || m.labels !== undefined || m.values !== undefined) return false;
  const k = m.key;
  return k === '*' || typeof k === 'number' || (typeof k === 'object' && !Array.isArray(k) && 'from' in k);
}

const AGGREGATORS = new Set<string>(['scalar', 'max-rate', 'avg', 'histogram']);

/** Checks a spec; throws a RangeError naming what is wrong. */
export function validateSpec(s: MonitorSpec): MonitorSpec {
  if (typeof s.name !== 'string' || !/^[A-Za-z0-9_.]{1,255}$/.test(s.name)) throw new RangeError(`monitor spec: bad map name ${JSON.stringify(s.name)}`);
  if (!AGGREGATORS.has(s.aggregator)) throw new RangeError(`monitor spec ${s.name}: unknown aggregator ${JSON.stringify(s.aggregator)}`);
  const k = s.key;
  const okInt = (v: unknown): boolean => (typeof v === 'bigint' && v >= 0n) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
  if (k !== 'all' && !okInt(k)) {
    if (typeof k !== 'object' || k === null || !okInt(k.from) || !okInt(k.to) || BigInt(k.from) > BigInt(k.to)) {
      throw new RangeError(`monitor spec ${s.name}: key must be a non-negative integer, {from, to} with from <= to, or 'all'`);
    }
  }
  if (s.sumSlot !== undefined && (s.aggregator !== 'histogram' || !Number.isInteger(s.sumSlot) || s.sumSlot < 0)) {
    throw new RangeError(`monitor spec ${s.name}: sumSlot is a non-negative integer, for histograms only`);
  }
  return s;
}

function isMulti(sel: KeySelector): boolean {
  return typeof sel === 'object' || sel === 'all';
}

function selects(sel: KeySelector, k: bigint): boolean {
  if (sel === 'all') return true;
  if (typeof sel === 'object') return k >= BigInt(sel.from) && k <= BigInt(sel.to);
  return k === BigInt(sel);
}

/** The one key all specs read, when they read exactly one key (then a lookup suffices). */
function singleKey(specs: SpecState[]): bigint | undefined {
  let key: bigint | undefined;
  for (const s of specs) {
    const sel = s.spec.key;
    if (s.spec.aggregator === 'histogram' || isMulti(sel)) return undefined;
    const k = BigInt(sel as number | bigint);
    if (key !== undefined && key !== k) return undefined;
    key = k;
  }
  return key;
}

const WIDTHS = new Set([1, 2, 4, 8]);

function checkWidths(map: BpfMap): string | undefined {
  if (!WIDTHS.has(map.keySize)) return `${map.name}: ${map.keySize}-byte keys are not integers`;
  if (!WIDTHS.has(map.valueSize)) return `${map.name}: ${map.valueSize}-byte values are not integers`;
  return undefined;
}

function readUint(b: Buffer, off: number, size: number): bigint {
  return size === 8 ? b.readBigUInt64LE(off) : BigInt(b.readUIntLE(off, size));
}

function writeUint(v: bigint, size: number): Buffer {
  const b = Buffer.alloc(size);
  if (size === 8) b.writeBigUInt64LE(BigInt.asUintN(64, v));
  else b.writeUIntLE(Number(BigInt.asUintN(size * 8, v)), 0, size);
  return b;
}

/** The value of one entry: the integer, or for per-CPU maps the sum over every possible CPU. */
function valueOf(v: Buffer, map: BpfMap): bigint {
  if (!map.perCpu) return readUint(v, 0, map.valueSize);
  const stride = (map.valueSize + 7) & ~7;
  let sum = 0n;
  const n = Math.min(possibleCpuCount(), Math.floor(v.length / stride));
  for (let cpu = 0; cpu < n; cpu++) sum += readUint(v, cpu * stride, map.valueSize);
  return sum;
}
