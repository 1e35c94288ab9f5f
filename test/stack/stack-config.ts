/**
 * The stack's configuration files as the live test runs them: prometheus/prometheus.yml and
 * deploy/agent/l3afd.yaml read from the repository and changed only where a test must differ
 * (free loopback ports, 1 s intervals, a private bpffs and temp state, extra file_sd targets).
 * Rules, jobs, relabelling and every other key stay those of the repository files.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import { PROMETHEUS_DIR, ROOT } from './promql.ts';

interface ScrapeConfig {
  job_name: string;
  scrape_interval?: string;
  static_configs?: { targets: string[]; labels?: Record<string, string> }[];
  file_sd_configs?: { files: string[] }[];
}
interface PromConfig {
  global: Record<string, string>;
  rule_files: string[];
  scrape_configs: ScrapeConfig[];
}

/** Where the test's Prometheus finds each target. */
export interface PrometheusTargets {
  readonly agent: string;
  readonly node: string;
  readonly prometheus: string;
  /** Extra file_sd targets per job (e.g. a windows_exporter fixture, an agent that is down). */
  readonly fileSd?: Readonly<Record<string, readonly string[]>>;
}

/** Writes `dir`/prometheus.yml (+ targets/) from the repository's prometheus.yml; returns its path. */
export function writePrometheusConfig(dir: string, t: PrometheusTargets, interval = '1s'): string {
  const cfg = parse(readFileSync(join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8')) as PromConfig;
  cfg.global.scrape_interval = interval;
  cfg.global.evaluation_interval = interval;
  cfg.rule_files = cfg.rule_files.map((f) => join(PROMETHEUS_DIR, f));
  const statics: Record<string, string> = { 'localhost:8898': t.agent, 'localhost:9100': t.node, 'localhost:9090': t.prometheus };
  for (const job of cfg.scrape_configs) {
    if (job.scrape_interval) job.scrape_interval = interval;
    for (const sc of job.static_configs ?? []) {
      sc.targets = sc.targets.map((x) => {
        const to = statics[x];
        if (!to) throw new Error(`prometheus.yml: job ${job.job_name}: unexpected static target ${x}`);
        return to;
      });
    }
    for (const fsd of job.file_sd_configs ?? []) {
      fsd.files = fsd.files.map((f) => {
        const sub = join(dir, f.slice(0, f.lastIndexOf('/')));
        mkdirSync(sub, { recursive: true });
        const extra = t.fileSd?.[job.job_name] ?? [];
        writeFileSync(join(sub, 'test.yml'), stringify(extra.length > 0 ? [{ targets: [...extra] }] : []));
        return join(dir, f);
      });
    }
  }
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, stringify(cfg));
  return file;
}

/** Paths and ports of the test's agent. */
export interface AgentSetup {
  readonly stateDir: string;
  readonly bpffs: string;
  readonly restPort: number;
  readonly metricsPort: number;
  /** `[l3af] chain-counting` entries (default: as deploy/agent/l3afd.yaml says, off). */
  readonly chainCounting?: readonly string[];
}

/** Writes the agent's YAML config from deploy/agent/l3afd.yaml; returns its path. */
export function writeAgentConfig(a: AgentSetup): string {
  const c = parse(readFileSync(join(ROOT, 'deploy', 'agent', 'l3afd.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  c.l3afd = { ...c.l3afd, 'pid-file': join(a.stateDir, 'l3afd.pid'), 'bpf-dir': join(a.stateDir, 'packages'), BpfMapDefaultPath: a.bpffs };
  c['ebpf-repo'] = { url: pathToFileURL(join(ROOT, 'programs', 'repo')).href };
  c['l3af-configs'] = { 'restapi-addr': `127.0.0.1:${a.restPort}` };
  c['l3af-config-store'] = { filename: join(a.stateDir, 'l3af-config.json') };
  c.web = { ...c.web, 'metrics-addr': `127.0.0.1:${a.metricsPort}` };
  c.l3af = { ...c.l3af, 'state-dir': a.stateDir, 'log-level': 'info', ...(a.chainCounting ? { 'chain-counting': a.chainCounting.join(',') } : {}) };
  const file = join(a.stateDir, 'l3afd.yaml');
  writeFileSync(file, stringify(c));
  return file;
}
