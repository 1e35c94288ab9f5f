// Benchmark: the cost of refusing a bad request, per byte of request. Bodies of several shapes, each as large as the
// body limit allows, are POSTed to /l3af/configs/v1/add (fastify.inject, a do-nothing engine): parse, ajv with
// allErrors, error formatting (linear, at most 100 problems listed) — the time the request holds the event loop.
//   npx tsx bench/schema-errors.ts [--rounds R] [--out FILE]        (see bench/README.md)
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Writable } from 'node:stream';
import { buildServer } from '../agent/src/api/server.ts';
import { defaultConfig } from '../agent/src/config/index.ts';
import { createLogger } from '../agent/src/log.ts';
import { MAX_PROBLEMS } from '../agent/src/payload/index.ts';
import type { Engine, OperationResult } from '../agent/src/engine/index.ts';
import { benchEnvironment } from './lib/environment.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_OUT = resolve(REPO, 'bench/reports/schema-errors.md');

/** The issue's program: every field of the wrong type (and every required one missing). */
const P = { start_args: 1, stop_args: 1, status_args: 1, update_args: 1, config_args: 1, map_args: 1, monitor_maps: 1, event_maps: 1 };
const LISTS = ['xdp_ingress', 'tc_ingress', 'tc_egress', 'probes'] as const;

interface Shape { name: string; what: string; element: (i: number) => unknown; maxElements?: number }
const shapes: Shape[] = [
  { name: 'issue', what: 'N × {xdp_ingress: [P × 64]} (the issue\'s case, scaled to the limit)', element: () => ({ host_name: 'h', iface: 'i', bpf_programs: { xdp_ingress: Array.from({ length: 64 }, () => ({ ...P })) } }) },
  { name: 'issue, 4 lists', what: 'N × {each of the 4 lists: [P × 64]}', element: () => ({ host_name: 'h', iface: 'i', bpf_programs: Object.fromEntries(LISTS.map((l) => [l, Array.from({ length: 64 }, () => ({ ...P }))])) }) },
  { name: 'empty programs', what: 'N × {each of the 4 lists: [{} × 64]} (every required field missing, 3 bytes a program; refused by the program count before validation)', element: () => ({ host_name: 'h', iface: 'i', bpf_programs: Object.fromEntries(LISTS.map((l) => [l, Array.from({ length: 64 }, () => ({}))])) }) },
  { name: 'empty programs at the program limit', what: '64 × {each of the 4 lists: [{} × 64]} (16384 programs, the most a request may list)', maxElements: 64, element: () => ({ host_name: 'h', iface: 'i', bpf_programs: Object.fromEntries(LISTS.map((l) => [l, Array.from({ length: 64 }, () => ({}))])) }) },
  { name: 'P at the program limit', what: '64 × {each of the 4 lists: [P × 64]} (16384 programs of the issue\'s P; larger than the body limit: as many as fit)', maxElements: 64, element: () => ({ host_name: 'h', iface: 'i', bpf_programs: Object.fromEntries(LISTS.map((l) => [l, Array.from({ length: 64 }, () => ({ ...P }))])) }) },
  { name: 'bad map_args', what: 'N × one program whose map_args holds 1024 × {"name":1,"args":1}', element: () => ({ host_name: 'h', iface: 'i', bpf_programs: { xdp_ingress: [{ name: 'x', map_args: Array.from({ length: 1024 }, () => ({ name: 1, args: 1 })) }] } }) },
  { name: 'bad elements', what: '[1, 1, 1, …] (elements of the wrong type)', element: () => 1 },
  { name: 'semantic duplicates', what: 'N × valid programs with one duplicate seq_id each (schema passes, semantic checks refuse)', element: (i) => ({ host_name: 'h', iface: `i${i}`, bpf_programs: { xdp_ingress: Array.from({ length: 64 }, (_, j) => ({ name: `p${j}`, seq_id: 1, artifact: 'a.tar.gz', version: '1', admin_status: 'enabled', prog_type: 'xdp', object_file: 'o.bpf.o', entry_function_name: 'e' })) } }) },
];

/** The largest body of `shape` within `limit` bytes (as many elements as fit, at most 1024). */
function bodyOf(shape: Shape, limit: number): { text: string; elements: number } {
  const parts: string[] = [];
  let size = 2;
  for (let i = 0; i < (shape.maxElements ?? 1024); i++) {
    const t = JSON.stringify(shape.element(i));
    if (size + t.length + 1 > limit) break;
    parts.push(t);
    size += t.length + 1;
  }
  return { text: `[${parts.join(',')}]`, elements: parts.length };
}

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, out: { type: 'string', default: DEFAULT_OUT } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) { console.error('--rounds must be a positive integer'); process.exit(2); }
const out = resolve(values.out ?? DEFAULT_OUT);

const env = benchEnvironment();
const load0 = loadavg().map((x) => x.toFixed(1)).join(' ');
const config = defaultConfig({ stateDir: '/nonexistent-l3af-bench', projectRoot: REPO });
const engine: Engine = {
  start: async () => undefined, stop: async () => undefined, running: () => [], get: () => [],
  add: async (): Promise<OperationResult> => ({ results: [] }), update: async (): Promise<OperationResult> => ({ results: [] }), delete: async (): Promise<OperationResult> => ({ results: [] }),
};
const app = await buildServer({ engine, config, logger: createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) }) });
await app.ready();

interface Row { shape: Shape; bytes: number; elements: number; status: number; problems: number; total: string; ms: number[]; median: number; cpuMedian: number; usPerKb: number }
const rows: Row[] = [];
const checks: Array<{ what: string; ok: boolean }> = [];
for (const shape of shapes) {
  const { text, elements } = bodyOf(shape, config.l3af.bodyLimit - 1024);
  const ms: number[] = [];
  const cpu: number[] = [];
  let status = 0;
  let problems = 0;
  let total = '';
  for (let r = 0; r < rounds + 1; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const res = await app.inject({ method: 'POST', url: '/l3af/configs/v1/add', headers: { 'content-type': 'application/json' }, payload: text });
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    const c = process.cpuUsage(c0);
    if (r > 0) { ms.push(dt); cpu.push((c.user + c.system) / 1000); } // round 0 warms up
    status = res.statusCode;
    const body = res.json() as { problems?: Array<{ path: string; message: string }> };
    problems = body.problems?.length ?? 0;
    total = problems > MAX_PROBLEMS ? body.problems?.at(-1)?.message ?? '' : `${problems} problems`;
  }
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] as number;
  const cpuMedian = [...cpu].sort((a, b) => a - b)[Math.floor(cpu.length / 2)] as number;
  rows.push({ shape, bytes: text.length, elements, status, problems, total, ms, median, cpuMedian, usPerKb: (cpuMedian * 1000) / (text.length / 1024) });
  checks.push({ what: `${shape.name}: 400 with at most ${MAX_PROBLEMS + 1} problems`, ok: status === 400 && problems >= 1 && problems <= MAX_PROBLEMS + 1 });
  console.log(`${shape.name}: ${text.length} bytes, ${elements} elements, ${status}, ${problems} listed (${total}), median ${median.toFixed(1)} ms wall, ${cpuMedian.toFixed(1)} ms CPU`);
}
await app.close();

const worst = rows.reduce((a, b) => (b.usPerKb > a.usPerKb ? b : a));
const failed = checks.filter((c) => !c.ok);
const md = [
  '# schema-errors: the cost of refusing a bad request',
  '',
  ...(failed.length > 0 ? [`**CHECKS FAILED: ${failed.map((c) => c.what).join('; ')}**`, ''] : []),
  `Date ${env.date}; kernel ${env.kernel}; ${env.cpuModel} × ${env.cpuCount}; node ${env.node}; load average at start ${load0}, at end ${loadavg().map((x) => x.toFixed(1)).join(' ')}.`,
  `Command: \`npx tsx ${relative(REPO, fileURLToPath(import.meta.url))} --rounds ${rounds}${out !== DEFAULT_OUT ? ` --out ${relative(REPO, out)}` : ''}\``,
  '',
  `Each body is as large as the body limit (${config.l3af.bodyLimit} bytes) allows; the time is from inject to the answer`,
  '(JSON parse, ajv with allErrors, formatting, the 400), median of the rounds after one warm-up round: the time the',
  'request holds the event loop.',
  '',
  '| shape | body bytes | elements | status | problems listed (what the last one says) | median CPU ms | median wall ms | min / max wall ms | CPU µs per KB |',
  '|---|---:|---:|---:|---|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.shape.name}: ${r.shape.what} | ${r.bytes} | ${r.elements} | ${r.status} | ${r.problems} (${r.total}) | ${r.cpuMedian.toFixed(1)} | ${r.median.toFixed(1)} | ${Math.min(...r.ms).toFixed(1)} / ${Math.max(...r.ms).toFixed(1)} | ${r.usPerKb.toFixed(0)} |`),
  '',
  `Worst case per byte: **${worst.shape.name}**, ${worst.usPerKb.toFixed(0)} µs of CPU per KB, ${worst.cpuMedian.toFixed(0)} ms of CPU (${worst.median.toFixed(0)} ms wall) for ${worst.bytes} bytes.`,
  '',
  'CPU time (user + system of this process during the request) is what the request costs; wall time adds the waits',
  'for a CPU on a loaded machine (see the load average above).',
  '',
  '## Checks',
  '',
  ...checks.map((c) => `- ${c.ok ? 'ok' : 'FAILED'}: ${c.what}`),
  '',
].join('\n');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, md);
console.log(`report: ${relative(REPO, out)}`);
process.exit(failed.length > 0 ? 1 : 0);
