// Benchmark: the cost of exporting l3afd's metric names beside l3af's (issue 13 point 10); writes a markdown report.
//   npx tsx bench/l3afd-names.ts [--programs N] [--scrapes N] [--out FILE]      (as root; see bench/README.md)
//
// N programs (default 100), each ratelimiting.bpf.o loaded and pinned in a private bpffs, started in the agent's
// metrics (AgentMetrics + MapMonitors, 4 monitored maps each: 2 scalar, 1 max-rate, 1 avg). Two registries over the
// same programs: l3af names only, and l3af + l3afd names (l3afd_BPFStartCount/StopCount/UpdateCount/
// UpdateFailedCount/DeployFailedCount, l3afd_BPFRunning, l3afd_BPFStartTime, l3afd_BPFMonitorMap). Sampled once,
// then --scrapes renders of each registry, interleaved (one of each per round), timed with performance.now().
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import type { MonitorMap } from '../agent/src/payload/index.ts';
import { AgentMetrics } from '../agent/src/metrics/agent-metrics.ts';
import { MapMonitors } from '../agent/src/metrics/map-monitor.ts';
import { PrivateBpffs } from '../test/harness/index.ts';
import { loadRatelimiting, type Loaded } from '../test/metrics/fixtures.ts';
import { benchEnvironment } from './lib/environment.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const MONITORS: MonitorMap[] = [
  { name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' },
  { name: 'rl_recv_count_map', key: 0, aggregator: 'scalar' },
  { name: 'rl_recv_count_map', key: 0, aggregator: 'max-rate' },
  { name: 'rl_drop_count_map', key: 0, aggregator: 'avg' },
];

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export interface NamesResult {
  programs: number;
  scrapes: number;
  rows: { variant: string; series: number; bytes: number; p50: number; p99: number; mean: number }[];
  checks: { what: string; ok: boolean }[];
}

/** Runs the measurement. */
export async function runNames(programs: number, scrapes: number): Promise<NamesResult> {
  await using bpffs = await PrivateBpffs.create();
  const loaded: Loaded[] = [];
  const variants = [false, true].map((compat) => {
    const registry = new Registry();
    return { compat, registry, agent: new AgentMetrics({ registry, host: 'bench', l3afdCompat: compat }), maps: new MapMonitors({ registry, host: 'bench', l3afdCompat: compat, intervalMs: 1000, samples: 20 }) };
  });
  try {
    for (let i = 0; i < programs; i++) {
      const rl = loadRatelimiting(bpffs, `if${i}`);
      loaded.push(rl);
      const p = rl.running({ iface: `if${i}`, name: 'ratelimiting', ipv4: '10.0.0.1', monitorMaps: MONITORS });
      for (const v of variants) {
        v.agent.programStarted(p);
        v.maps.programStarted(p);
      }
    }
    for (const v of variants) {
      v.maps.sampleNow();
      v.maps.sampleNow();
    }
    const times = variants.map(() => [] as number[]);
    const texts = ['', ''];
    for (let r = 0; r < scrapes; r++) {
      for (const [i, v] of variants.entries()) {
        const t0 = performance.now();
        texts[i] = await v.registry.metrics();
        times[i]!.push(performance.now() - t0);
      }
    }
    const rows = variants.map((v, i) => {
      const sorted = [...times[i]!].sort((a, b) => a - b);
      const text = texts[i]!;
      return {
        variant: v.compat ? 'l3af + l3afd names' : 'l3af names only',
        series: text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length,
        bytes: Buffer.byteLength(text),
        p50: pct(sorted, 50), p99: pct(sorted, 99), mean: sorted.reduce((s, x) => s + x, 0) / sorted.length,
      };
    });
    const compat = texts[1]!;
    const checks = [
      { what: `l3afd_BPFMonitorMap has ${programs * MONITORS.length} series (one per program and monitored map)`, ok: (compat.match(/^l3afd_BPFMonitorMap\{/gm) ?? []).length === programs * MONITORS.length },
      { what: 'rl_drop_count_map_0_scalar is among them', ok: compat.includes('map_name="rl_drop_count_map_0_scalar"') },
      { what: `l3afd_BPFRunning has ${programs} series`, ok: (compat.match(/^l3afd_BPFRunning\{/gm) ?? []).length === programs },
      { what: 'the l3af-only registry has no l3afd_ series', ok: !texts[0]!.includes('l3afd_') },
    ];
    return { programs, scrapes, rows, checks };
  } finally {
    for (const v of variants) {
      v.maps.close();
      v.agent.close();
    }
    for (const l of loaded) l[Symbol.dispose]();
  }
}

/** The report. */
export function namesMarkdown(r: NamesResult, command: string): string {
  const env = benchEnvironment();
  const failed = r.checks.filter((c) => !c.ok);
  const [a, b] = r.rows;
  const f = (x: number): string => x.toFixed(2);
  return [
    '# l3afd metric names beside l3af\'s: scrape cost', '',
    failed.length > 0 ? `**CHECKS FAILED: ${failed.map((c) => c.what).join('; ')}**\n` : '',
    `${r.programs} ratelimiting programs, 4 monitored maps each; ${r.scrapes} renders of each registry (interleaved).`, '',
    '| variant | series | bytes | render p50 ms | p99 ms | mean ms |', '|---|---|---|---|---|---|',
    ...r.rows.map((x) => `| ${x.variant} | ${x.series} | ${x.bytes} | ${f(x.p50)} | ${f(x.p99)} | ${f(x.mean)} |`), '',
    a && b ? `Cost of l3afd's names: +${b.series - a.series} series (×${(b.series / a.series).toFixed(2)}), +${b.bytes - a.bytes} bytes, render p50 +${f(b.p50 - a.p50)} ms (×${(b.p50 / a.p50).toFixed(2)}). Sampling is shared (the same map reads feed both names).` : '', '',
    '## Checks', '', ...r.checks.map((c) => `- ${c.ok ? 'ok' : 'FAILED'}: ${c.what}`), '',
    '## Environment', '', '| | |', '|---|---|', `| date | ${env.date} |`, `| kernel | ${env.kernel} |`, `| CPU | ${env.cpuModel} × ${env.cpuCount} |`,
    `| libbpf | ${env.libbpf} |`, `| node | ${env.node} |`, `| command | \`${command}\` |`, '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { programs: { type: 'string', default: '100' }, scrapes: { type: 'string', default: '200' }, out: { type: 'string', default: resolve(REPO, 'bench/reports/l3afd-names.md') } } });
  const r = await runNames(Number(values.programs), Number(values.scrapes));
  const md = namesMarkdown(r, `npx tsx bench/l3afd-names.ts --programs ${values.programs} --scrapes ${values.scrapes}`);
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, md);
  process.stdout.write(md);
  if (r.checks.some((c) => !c.ok)) process.exit(1);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
