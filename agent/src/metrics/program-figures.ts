/**
 * What the verifier and the JIT made of each running chained program, and how long its object took to load:
 * `l3af_program_verified_instructions`, `l3af_program_xlated_bytes`, `l3af_program_jited_bytes` and
 * `l3af_program_load_seconds`, with the program's labels. The figures come with the program from the chain
 * (read once at load or adoption), so a scrape costs no kernel call.
 */
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import type { ProgramFigures, RunningProgram } from '../observer/program.ts';
import { programKey, programLabels } from './labels.ts';
import { ScrapeMetric, type ScrapeSample } from './scrape-metric.ts';

/** Options of {@link ProgramFigureMetrics}. */
export interface ProgramFigureMetricsOptions {
  readonly registry: Registry;
  readonly host?: string;
}

/** The figures of the running programs that have them, as gauges. */
export class ProgramFigureMetrics {
  readonly host: string;
  readonly #programs = new Map<string, { program: RunningProgram; figures: ProgramFigures }>();

  constructor(opts: ProgramFigureMetricsOptions) {
    this.host = opts.host ?? hostname();
    const each = (value: (f: ProgramFigures) => number | undefined) => (): Iterable<ScrapeSample> => {
      const out: ScrapeSample[] = [];
      for (const { program, figures } of this.#programs.values()) {
        const v = value(figures);
        if (v !== undefined) out.push({ labels: programLabels(program, this.host), value: v });
      }
      return out;
    };
    new ScrapeMetric({ name: 'l3af_program_verified_instructions', type: 'gauge', help: 'Instructions the verifier processed for the program (bpf_prog_info.verified_insns).', collect: each((f) => f.verifiedInstructions) }).register(opts.registry);
    new ScrapeMetric({ name: 'l3af_program_xlated_bytes', type: 'gauge', help: 'Size of the program after the verifier\'s rewrites (xlated), bytes.', collect: each((f) => f.xlatedBytes) }).register(opts.registry);
    new ScrapeMetric({ name: 'l3af_program_jited_bytes', type: 'gauge', help: 'Size of the program\'s JIT image, bytes (0 without a JIT).', collect: each((f) => f.jitedBytes) }).register(opts.registry);
    new ScrapeMetric({ name: 'l3af_program_load_seconds', type: 'gauge', help: 'Wall time of loading the program\'s object, verification included (absent for programs adopted from pins after a restart).', collect: each((f) => (f.loadMs === undefined ? undefined : f.loadMs / 1000)) }).register(opts.registry);
  }

  programStarted(p: RunningProgram): void {
    if (p.figures) this.#programs.set(programKey(p), { program: p, figures: p.figures });
    else this.#programs.delete(programKey(p));
  }

  /** A replaced program brings its new figures; an update without figures keeps the ones it had when its id stayed. */
  programUpdated(p: RunningProgram): void {
    const cur = this.#programs.get(programKey(p));
    if (!p.figures && cur && cur.program.progId === p.progId) {
      cur.program = p;
      return;
    }
    this.programStarted(p);
  }

  programStopped(p: RunningProgram): void {
    this.#programs.delete(programKey(p));
  }
}
