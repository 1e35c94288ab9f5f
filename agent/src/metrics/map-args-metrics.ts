/**
 * `l3af_map_arg_value{…program labels, map, key}`: the configuration the agent wrote into each running
 * program's maps from its payload's map_args (ratelimiting's rate in rl_config_map[0], its ports in
 * rl_ports_map), so a dashboard shows the configured values without the payload having to monitor those maps.
 */
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import type { RunningProgram } from '../observer/program.ts';
import { programKey, programLabels } from './labels.ts';
import { ScrapeMetric, type ScrapeSample } from './scrape-metric.ts';

/** Options of {@link MapArgMetrics}. */
export interface MapArgMetricsOptions {
  readonly registry: Registry;
  readonly host?: string;
}

/** The map_args of the running programs, as gauges. */
export class MapArgMetrics {
  readonly host: string;
  readonly #programs = new Map<string, RunningProgram>();

  constructor(opts: MapArgMetricsOptions) {
    this.host = opts.host ?? hostname();
    new ScrapeMetric({
      name: 'l3af_map_arg_value', type: 'gauge', help: 'A value the agent wrote into a running program\'s map from the payload\'s map_args (its configuration).',
      collect: () => {
        const out: ScrapeSample[] = [];
        for (const p of this.#programs.values()) {
          const base = programLabels(p, this.host);
          for (const arg of p.mapArgs ?? []) for (const kv of arg.args ?? []) out.push({ labels: { ...base, map: arg.name, key: String(kv.key) }, value: kv.value });
        }
        return out;
      },
    }).register(opts.registry);
  }

  programStarted(p: RunningProgram): void {
    this.#programs.set(programKey(p), p);
  }

  programUpdated(p: RunningProgram): void {
    this.#programs.set(programKey(p), p);
  }

  programStopped(p: RunningProgram): void {
    this.#programs.delete(programKey(p));
  }
}
