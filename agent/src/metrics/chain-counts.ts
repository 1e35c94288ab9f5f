/**
 * Packets per program inside a chain (`[l3af] chain-counting`): `l3af_program_packets_entered_total` — what
 * entered each chained program (its counting step's per-CPU counter, summed) — and `l3af_program_packets_ended`
 * — what the program ended (dropped, redirected or passed up) rather than handed to the next one: entered minus
 * what entered the program its next slot holds (read from the pins at scrape time, so the chain's order is
 * the kernel's), all of it for the last program. A gauge: packets in flight between the two reads may count
 * as ended for one scrape.
 */
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import { dirname, join } from 'node:path';
import { BpfMap, BpfProgram, ProgArray, u32, u64 } from '../bpf/index.ts';
import type { RunningProgram } from '../observer/program.ts';
import { programKey, programLabels } from './labels.ts';
import { ScrapeMetric, type ScrapeSample } from './scrape-metric.ts';

/** Options of {@link ChainCounts}. */
export interface ChainCountsOptions {
  readonly registry: Registry;
  readonly host?: string;
}

/** Reads one counted program's figures from its pins (opened per scrape: a move or a replacement re-pins them). */
interface Reading {
  readonly program: RunningProgram;
  readonly stepId: number | undefined;
  readonly nextId: number | undefined;
  readonly entered: bigint | undefined;
}

function readPins(p: RunningProgram): Reading {
  const c = p.counting;
  const read = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch {
      return undefined;
    }
  };
  if (!c) return { program: p, stepId: undefined, nextId: undefined, entered: undefined };
  const stepId = read(() => {
    using prog = BpfProgram.openPinned(join(dirname(c.countPin), 'prog'));
    return prog.info().id;
  });
  const entered = read(() => {
    using m = BpfMap.openPinned(c.countPin);
    return m.typed(u32, u64).sumPerCpu(0) ?? 0n;
  });
  const nextId = read(() => {
    using m = BpfMap.openPinned(c.nextPin);
    return new ProgArray(m).get(0);
  });
  return { program: p, stepId, nextId, entered };
}

/** One counted program's labels and figures in a scrape. */
interface Row {
  readonly labels: ScrapeSample['labels'];
  readonly entered: bigint | undefined;
  readonly ended: bigint | undefined;
}

/** The counted programs of every chain, as metrics. */
export class ChainCounts {
  readonly host: string;
  readonly #programs = new Map<string, RunningProgram>();
  /** The rows the entered series were made from, for the ended series of the same scrape (read once per scrape). */
  #rowsOfScrape: Row[] | undefined;

  constructor(opts: ChainCountsOptions) {
    this.host = opts.host ?? hostname();
    new ScrapeMetric({
      name: 'l3af_program_packets_entered_total', type: 'counter',
      help: 'Packets that entered a chained program (its counting step, [l3af] chain-counting); the kernel\'s run statistics count only the program on the hook.',
      collect: () => {
        const rows = this.#collect();
        this.#rowsOfScrape = rows;
        return rows.flatMap((r) => (r.entered === undefined ? [] : [{ labels: r.labels, value: Number(r.entered) }]));
      },
    }).register(opts.registry);
    new ScrapeMetric({
      name: 'l3af_program_packets_ended', type: 'gauge',
      help: 'Packets a chained program ended (dropped, redirected or passed up) rather than handing them to the next program: its entered minus the next program\'s (all of it for the last).',
      collect: () => {
        // registered after the entered series: a scrape collects that one first, and its rows serve here
        const rows = this.#rowsOfScrape ?? this.#collect();
        this.#rowsOfScrape = undefined;
        return rows.flatMap((r) => (r.ended === undefined ? [] : [{ labels: r.labels, value: Number(r.ended) }]));
      },
    }).register(opts.registry);
  }

  /**
   * Entered and ended of each counted program. A program's counter is read after its successor's (what entered
   * the successor entered the program before), so in-flight packets make `ended` too high for a scrape, never negative.
   */
  #collect(): Row[] {
    const firstPass = [...this.#programs.values()].map(readPins);
    const out: Row[] = [];
    for (const r of firstPass) {
      const succ = r.nextId === undefined ? undefined
        : firstPass.find((x) => x !== r && x.stepId === r.nextId && x.program.iface === r.program.iface && x.program.direction === r.program.direction);
      const mine = succ ? readPins(r.program).entered : r.entered; // read again, after the successor's
      // the next slot empty: the last program ended everything; it holds a program that is not counted: unknown
      const ended = mine === undefined ? undefined : r.nextId === undefined ? mine : succ?.entered === undefined ? undefined : mine - succ.entered;
      out.push({ labels: programLabels(r.program, this.host), entered: mine, ended: ended !== undefined && ended < 0n ? 0n : ended });
    }
    return out;
  }

  programStarted(p: RunningProgram): void {
    if (p.counting) this.#programs.set(programKey(p), p);
    else this.#programs.delete(programKey(p));
  }

  programUpdated(p: RunningProgram): void {
    this.programStarted(p);
  }

  programStopped(p: RunningProgram): void {
    this.#programs.delete(programKey(p));
  }

  close(): void {
    this.#programs.clear();
  }
}
