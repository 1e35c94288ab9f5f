/**
 * The agent's own metrics: program lifecycle counters, the running gauge and start time, per
 * program, in a registry of the agent's (never prom-client's global one). Fed by the engine as
 * an {@link EngineObserver}; the health monitor (or whoever knows) reports attach state with
 * {@link AgentMetrics.setRunning}.
 *
 * Names follow Prometheus conventions (`l3af_program_starts_total`, ...). With `l3afdCompat` the
 * same facts are also exported under l3afd's names and labels so its Grafana dashboards keep
 * working.
 */
import { hostname } from 'node:os';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { EngineObserver, ProgramRef, RunningProgram } from '../observer/program.ts';
import {
  L3AFD_LABEL_NAMES, PROGRAM_LABEL_NAMES, l3afdLabels, programKey, programLabels, type L3afdLabels, type ProgramLabels,
} from './labels.ts';

/** Options of {@link AgentMetrics}. */
export interface AgentMetricsOptions {
  readonly registry: Registry;
  /** The `host` label (default: os.hostname()). */
  readonly host?: string;
  /** Also export l3afd's series (`l3afd_BPFStartCount`, ...). */
  readonly l3afdCompat?: boolean;
  /**
   * How long the counter series of a program stay after it stopped (or failed without running)
   * before they are removed, so the last increments are scraped. Default 15 minutes.
   */
  readonly counterRetentionMs?: number;
  /** Clock for start times (ms since the epoch); default Date.now. */
  readonly now?: () => number;
}

type OurCounter = Counter<keyof ProgramLabels>;
type CompatCounter = Counter<string>;

interface Known {
  labels: ProgramLabels;
  compat: L3afdLabels;
  version: string;
  /** Gauges exist for it (started, not stopped). */
  live: boolean;
  retention?: NodeJS.Timeout;
}

const COUNTERS = {
  starts: ['l3af_program_starts_total', 'Times a program was started (loaded and attached or chained).', 'l3afd_BPFStartCount', 'The count of BPF program starts'],
  stops: ['l3af_program_stops_total', 'Times a program was stopped.', 'l3afd_BPFStopCount', 'The count of BPF program stops'],
  updates: ['l3af_program_updates_total', 'Times a change of a running program (map_args, monitor_maps, replacement) took effect.', 'l3afd_BPFUpdateCount', 'The count of BPF program updates'],
  updateFailures: ['l3af_program_update_failures_total', 'Times an update of a program failed (its previous state was kept).', 'l3afd_BPFUpdateFailedCount', 'The count of BPF program update failures'],
  deployFailures: ['l3af_program_deploy_failures_total', 'Times a program could not be deployed.', 'l3afd_BPFDeployFailedCount', 'The count of BPF program deploy failures'],
} as const;
type CounterName = keyof typeof COUNTERS;

/** Lifecycle metrics of the agent's programs. */
export class AgentMetrics implements EngineObserver {
  readonly registry: Registry;
  readonly host: string;
  readonly l3afdCompat: boolean;
  readonly #retentionMs: number;
  readonly #now: () => number;
  readonly #counters: Record<CounterName, OurCounter>;
  readonly #compatCounters: Partial<Record<CounterName, CompatCounter>> = {};
  readonly #running: Gauge<keyof ProgramLabels | 'version'>;
  readonly #startTime: Gauge<keyof ProgramLabels>;
  readonly #compatRunning?: Gauge<string>;
  readonly #compatStartTime?: Gauge<string>;
  readonly #known = new Map<string, Known>();

  constructor(opts: AgentMetricsOptions) {
    this.registry = opts.registry;
    this.host = opts.host ?? hostname();
    this.l3afdCompat = opts.l3afdCompat ?? false;
    this.#retentionMs = opts.counterRetentionMs ?? 15 * 60_000;
    this.#now = opts.now ?? Date.now;
    const registers = [this.registry];
    const counters = {} as Record<CounterName, OurCounter>;
    for (const [k, [name, help, compatName, compatHelp]] of Object.entries(COUNTERS) as [CounterName, readonly string[]][]) {
      counters[k] = new Counter({ name: name!, help: help!, labelNames: PROGRAM_LABEL_NAMES, registers });
      if (this.l3afdCompat) {
        this.#compatCounters[k] = new Counter({ name: compatName!, help: compatHelp!, labelNames: L3AFD_LABEL_NAMES, registers });
      }
    }
    this.#counters = counters;
    this.#running = new Gauge({
      name: 'l3af_program_running',
      help: '1 while the program is attached (and its user program, if any, is up), 0 when found down; absent once stopped.',
      labelNames: [...PROGRAM_LABEL_NAMES, 'version'],
      registers,
    });
    this.#startTime = new Gauge({
      name: 'l3af_program_start_time_seconds',
      help: 'When the program was last started, seconds since the Unix epoch.',
      labelNames: PROGRAM_LABEL_NAMES,
      registers,
    });
    if (this.l3afdCompat) {
      this.#compatRunning = new Gauge({ name: 'l3afd_BPFRunning', help: 'This value indicates BPF program is running or not', labelNames: [...L3AFD_LABEL_NAMES, 'version'], registers });
      this.#compatStartTime = new Gauge({ name: 'l3afd_BPFStartTime', help: 'This value indicates start time of the BPF program since unix epoch in seconds', labelNames: L3AFD_LABEL_NAMES, registers });
    }
  }

  #track(p: ProgramRef): Known {
    const key = programKey(p);
    const labels = programLabels(p, this.host);
    const compat = l3afdLabels(p, this.host);
    let k = this.#known.get(key);
    if (k && (k.labels.ipv4_address !== labels.ipv4_address || k.version !== p.version)) {
      // the identity labels changed: the old series would go stale, so they go now
      this.#removeGauges(k);
      if (k.labels.ipv4_address !== labels.ipv4_address) this.#removeCounters(k);
    }
    if (!k) {
      k = { labels, compat, version: p.version, live: false };
      this.#known.set(key, k);
      for (const name of Object.keys(COUNTERS) as CounterName[]) {
        this.#counters[name].inc(labels, 0);
        this.#compatCounters[name]?.inc(compat, 0);
      }
    }
    k.labels = labels;
    k.compat = compat;
    k.version = p.version;
    if (k.retention) clearTimeout(k.retention);
    k.retention = undefined;
    return k;
  }

  #count(name: CounterName, k: Known): void {
    this.#counters[name].inc(k.labels);
    this.#compatCounters[name]?.inc(k.compat);
  }

  #removeGauges(k: Known): void {
    this.#running.remove({ ...k.labels, version: k.version });
    this.#startTime.remove(k.labels);
    this.#compatRunning?.remove({ ...k.compat, version: k.version });
    this.#compatStartTime?.remove(k.compat);
    k.live = false;
  }

  #removeCounters(k: Known): void {
    for (const name of Object.keys(COUNTERS) as CounterName[]) {
      this.#counters[name].remove(k.labels);
      this.#compatCounters[name]?.remove(k.compat);
    }
  }

  #scheduleForget(key: string, k: Known): void {
    if (k.retention) clearTimeout(k.retention);
    k.retention = setTimeout(() => this.forget(key), this.#retentionMs);
    k.retention.unref();
  }

  /** Started (attached or chained): counts a start, sets the start time, running = 1. */
  programStarted(p: RunningProgram): void {
    const k = this.#track(p);
    this.#count('starts', k);
    const t = this.#now() / 1000;
    this.#startTime.set(k.labels, t);
    this.#compatStartTime?.set(k.compat, t);
    k.live = true;
    this.setRunning(p, true);
  }

  /** Stopped: counts a stop and removes the gauges; the counters go after the retention time. */
  programStopped(p: RunningProgram): void {
    const key = programKey(p);
    const k = this.#track(p);
    this.#count('stops', k);
    this.#removeGauges(k);
    this.#scheduleForget(key, k);
  }

  /** An update took effect. */
  programUpdated(p: RunningProgram): void {
    const prev = this.#known.get(programKey(p));
    const wasLive = prev?.live ?? false;
    const k = this.#track(p);
    this.#count('updates', k);
    if (wasLive && !k.live) {
      // labels changed with the update: the program still runs under its new labels
      const t = this.#now() / 1000;
      this.#startTime.set(k.labels, t);
      this.#compatStartTime?.set(k.compat, t);
      k.live = true;
      this.setRunning(p, true);
    }
  }

  /** An update failed; the program keeps its previous state. */
  updateFailed(p: ProgramRef, _reason: string): void {
    const key = programKey(p);
    const k = this.#track(p);
    this.#count('updateFailures', k);
    if (!k.live) this.#scheduleForget(key, k);
  }

  /** A deploy failed. */
  deployFailed(p: ProgramRef, _reason: string): void {
    const key = programKey(p);
    const k = this.#track(p);
    this.#count('deployFailures', k);
    if (!k.live) this.#scheduleForget(key, k);
  }

  /**
   * Attach state as found by the caller (the engine after attaching, the health monitor later):
   * 1 only while the kernel program is attached and its user program, if any, is up. Ignored for
   * a program that is not started.
   */
  setRunning(p: ProgramRef, running: boolean): void {
    const k = this.#known.get(programKey(p));
    if (!k?.live) return;
    const v = running ? 1 : 0;
    this.#running.set({ ...k.labels, version: k.version }, v);
    this.#compatRunning?.set({ ...k.compat, version: k.version }, v);
  }

  /** EngineObserver: the engine's health check found a user program down or up again. */
  programRunning(p: ProgramRef, running: boolean): void {
    this.setRunning(p, running);
  }

  /** Removes every series of a program now (normally done by the retention timer after a stop). */
  forget(p: Pick<ProgramRef, 'iface' | 'direction' | 'name'> | string): void {
    const key = typeof p === 'string' ? p : programKey(p);
    const k = this.#known.get(key);
    if (!k) return;
    if (k.retention) clearTimeout(k.retention);
    this.#removeGauges(k);
    this.#removeCounters(k);
    this.#known.delete(key);
  }

  /** Cancels the retention timers (series stay). */
  close(): void {
    for (const k of this.#known.values()) if (k.retention) clearTimeout(k.retention);
  }
}
