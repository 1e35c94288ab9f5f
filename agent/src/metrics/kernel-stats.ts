/**
 * Kernel run statistics of running programs: run count and run time from bpf_prog_info, which
 * the kernel counts only while statistics are enabled (BPF_ENABLE_STATS, held by this module
 * for as long as it runs, or the `kernel.bpf_stats_enabled` sysctl). Read on the sampling tick,
 * exported from the last reading.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { BpfProgram, enableStats, statsEnabled } from '../bpf/index.ts';
import type { EngineObserver, RunningProgram } from '../observer/program.ts';
import { ScrapeMetric, type ScrapeSample } from './scrape-metric.ts';
import { programKey, programLabels, type ProgramLabels } from './labels.ts';
import { messageOf } from '../error-message.ts';
import { Tick } from './tick.ts';

/** Options of {@link KernelStats}. */
export interface KernelStatsOptions {
  readonly registry: Registry;
  readonly host?: string;
  /** Turn statistics on while running (`[l3af] kernel-stats-enabled`, default false: it taxes every program on the host). */
  readonly enable?: boolean;
  /** Reading interval (default 1000 ms). */
  readonly intervalMs?: number;
  readonly logger?: Logger;
}

/** One program's last reading. */
export interface RunStats {
  readonly progId: number;
  readonly runCount: bigint;
  readonly runTimeNs: bigint;
  /** Mean ns per run since the program was loaded (0 before the first counted run). */
  readonly avgNsPerRun: number;
}

interface Tracked {
  program: RunningProgram;
  labels: ProgramLabels;
  prog?: BpfProgram;
  last?: RunStats;
  error?: string;
}

/** Reads bpf_prog_info of every running program; an {@link EngineObserver}. */
export class KernelStats implements EngineObserver {
  readonly host: string;
  readonly intervalMs: number;
  readonly #enable: boolean;
  readonly #logger: Logger | undefined;
  readonly #programs = new Map<string, Tracked>();
  #handle: { close(): void } | undefined;
  readonly #tick = new Tick(() => this.sampleNow());

  constructor(opts: KernelStatsOptions) {
    this.host = opts.host ?? hostname();
    this.intervalMs = opts.intervalMs ?? 1000;
    this.#enable = opts.enable ?? false;
    this.#logger = opts.logger;
    const each = (fn: (t: Tracked, s: RunStats) => ScrapeSample) => (): ScrapeSample[] => {
      const out: ScrapeSample[] = [];
      for (const t of this.#programs.values()) if (t.last) out.push(fn(t, t.last));
      return out;
    };
    const withId = (t: Tracked, s: RunStats): Record<string, string> => ({ ...t.labels, prog_id: String(s.progId) });
    new ScrapeMetric({ name: 'l3af_program_runs_total', type: 'counter', help: 'Times the kernel ran the program (bpf_prog_info run_cnt; counted while kernel stats are enabled).', collect: each((t, s) => ({ labels: withId(t, s), value: Number(s.runCount) })) }).register(opts.registry);
    new ScrapeMetric({ name: 'l3af_program_run_time_seconds_total', type: 'counter', help: 'Time the kernel spent running the program (bpf_prog_info run_time_ns).', collect: each((t, s) => ({ labels: withId(t, s), value: Number(s.runTimeNs) / 1e9 })) }).register(opts.registry);
    new ScrapeMetric({ name: 'l3af_program_run_average_seconds', type: 'gauge', help: 'Mean time per run since the program was loaded (run_time_ns / run_cnt).', collect: each((t, s) => ({ labels: withId(t, s), value: s.avgNsPerRun / 1e9 })) }).register(opts.registry);
    new ScrapeMetric({ name: 'l3af_kernel_stats_enabled', type: 'gauge', help: '1 while the kernel counts BPF run statistics.', collect: () => [{ labels: { host: this.host }, value: statsEnabled() ? 1 : 0 }] }).register(opts.registry);
  }

  /** Enables kernel statistics (when configured) and starts reading. */
  start(): this {
    if (this.#enable && !this.#handle) {
      try {
        this.#handle = enableStats();
      } catch (err) {
        this.#logger?.warn({ err: messageOf(err) }, 'cannot enable kernel BPF statistics');
      }
    }
    this.#tick.start(this.intervalMs);
    return this;
  }

  /** Stops reading, closes program fds and releases the statistics handle. */
  close(): void {
    this.#tick.stop();
    for (const t of this.#programs.values()) t.prog?.close();
    this.#programs.clear();
    this.#handle?.close();
    this.#handle = undefined;
  }

  /** Whether this module holds a statistics handle. */
  get enabled(): boolean {
    return this.#handle !== undefined;
  }

  /** The last reading of a program. */
  stats(p: Pick<RunningProgram, 'iface' | 'direction' | 'name'>): RunStats | undefined {
    return this.#programs.get(programKey(p))?.last;
  }

  /** Reads every program now. */
  sampleNow(): void {
    for (const t of this.#programs.values()) this.#read(t);
  }

  #read(t: Tracked): void {
    try {
      t.prog ??= BpfProgram.fromId(t.program.progId);
      const i = t.prog.info();
      t.last = {
        progId: i.id, runCount: i.runCount, runTimeNs: i.runTimeNs,
        avgNsPerRun: i.runCount > 0n ? Number(i.runTimeNs) / Number(i.runCount) : 0,
      };
      t.error = undefined;
    } catch (err) {
      const msg = messageOf(err);
      if (t.error !== msg) this.#logger?.warn({ program: t.program.name, progId: t.program.progId, err: msg }, 'cannot read program run statistics');
      t.error = msg;
    }
  }

  programStarted(p: RunningProgram): void {
    this.programStopped(p);
    if (p.progId <= 0) return;
    const t: Tracked = { program: p, labels: programLabels(p, this.host) };
    this.#programs.set(programKey(p), t);
    this.#read(t);
  }

  programUpdated(p: RunningProgram): void {
    const t = this.#programs.get(programKey(p));
    if (!t || t.program.progId !== p.progId || t.program.ipv4 !== p.ipv4) this.programStarted(p);
    else t.program = p;
  }

  programStopped(p: RunningProgram): void {
    const key = programKey(p);
    this.#programs.get(key)?.prog?.close();
    this.#programs.delete(key);
  }
}
