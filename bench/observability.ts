// Benchmark: the observability side under load; writes a markdown report.
//   npx tsx bench/observability.ts [--programs N] [--scrapes N] [--out FILE]      (as root; see bench/README.md)
//
// 1. Scrape latency: the agent's Observability (registry, map monitors sampling every second, kernel run stats,
//    /metrics over real HTTP) with N programs (default 100), each ratelimiting.bpf.o + obs_maps.bpf.o loaded and
//    pinned into one directory, and 10 monitored maps per program (10 distinct pinned maps). Both programs of
//    each get BPF_PROG_TEST_RUN traffic while --scrapes sequential scrapes are timed.
//    The floor, scraped in the same run (interleaved): bare prom-client with the same series (families, labels and
//    values parsed from the agent's body), rendered per scrape, served by node:http.
// Ring-buffer events are measured by bench/events.ts.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createServer } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import { BpfMap, BpfProgram, u32, u64 } from '../agent/src/bpf/index.ts';
import type { MonitorMap } from '../agent/src/payload/index.ts';
import type { RunningProgram } from '../agent/src/engine/types.ts';
import { Observability } from '../agent/src/app/observability.ts';
import { PrivateBpffs } from '../test/harness/index.ts';
import { Loaded } from '../test/metrics/fixtures.ts';
import { programObject, tcp4 } from '../test/programs/frames.ts';
import { benchEnvironment, type BenchEnvironment } from './lib/environment.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_OUT = resolve(REPO, 'bench/reports/observability.md');
const USAGE = `usage: observability [--programs N] [--scrapes N] [--out FILE]
  --programs N  programs with 10 monitored maps each (default 100)
  --scrapes N   timed /metrics scrapes (default 250; at least 200 for the report)
  --out FILE    markdown report (default bench/reports/observability.md)
Needs root and a bpffs (a private one is mounted).`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The frame every program runs: a SYN to port 80 (ratelimiting's listed port). */
const SYN = tcp4(80);
/** The 10 monitored maps of every program (distinct pinned maps of ratelimiting + obs_maps; hash keys the frame fills). */
const MONITORS: MonitorMap[] = [
  { name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' },
  { name: 'rl_recv_count_map', key: 0, aggregator: 'max-rate' },
  { name: 'rl_window_map', key: 0, aggregator: 'scalar' },
  { name: 'rl_config_map', key: 0, aggregator: 'scalar' },
  { name: 'rl_ports_map', key: 80, aggregator: 'scalar' },
  { name: 'obs_pcpu', key: 0, aggregator: 'max-rate' },
  { name: 'obs_by_byte', key: SYN[0]!, aggregator: 'scalar' },
  { name: 'obs_by_len', key: SYN.length, aggregator: 'avg' },
  { name: 'obs_by_len64', key: SYN.length, aggregator: 'scalar' },
  { name: 'obs_u32', key: 0, aggregator: 'scalar' },
];

/** Series the monitors give per program: one per entry, plus the value of each key monitored only as max-rate / avg (l3af_map_value holds every monitored key's value). */
const SERIES_PER_PROGRAM = MONITORS.length + MONITORS.filter((m) => m.aggregator !== 'scalar' && !MONITORS.some((s) => s.aggregator === 'scalar' && s.name === m.name && s.key === m.key)).length;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

interface Check { what: string; ok: boolean; detail: string }

function counter(dir: string, map: string, key: number): number {
  using m = BpfMap.openPinned(join(dir, map));
  return Number(m.typed(u32, u64).get(key) ?? 0n);
}

/**
 * --traffic id,id,…: runs each program 10 times every 100 ms until stdin closes; prints its counts. Ten calls with
 * repeat 1, not one with repeat 10: an XDP test run with repeat > 1 pays ≈ 28 ms once per call on this kernel.
 */
async function trafficChild(list: string): Promise<number> {
  const progs = list.split(',').map((id) => BpfProgram.fromId(Number(id)));
  let ticks = 0;
  let interrupted = 0;
  const start = performance.now();
  let open = true;
  process.stdin.on('end', () => { open = false; }).resume();
  while (open) {
    const next = performance.now() + 100;
    for (const p of progs) {
      try {
        for (let k = 0; k < 10; k++) p.testRun({ data: SYN, repeat: 1 });
      } catch (err) {
        // the kernel ends a test run early with EINTR when a signal is pending; that run is skipped
        if ((err as { code?: string }).code !== 'EINTR') throw err;
        interrupted++;
      }
    }
    ticks++;
    await sleep(Math.max(0, next - performance.now()));
  }
  for (const p of progs) p.close();
  process.stdout.write(`ticks ${ticks} interrupted ${interrupted} ms ${Math.round(performance.now() - start)}\n`);
  return 0;
}

async function main(): Promise<number> {
  const t = process.argv.indexOf('--traffic');
  if (t >= 0) return trafficChild(process.argv[t + 1] ?? '');
  let opts: { programs: number; scrapes: number; out: string };
  try {
    const { values } = parseArgs({ options: { programs: { type: 'string' }, scrapes: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const int = (name: string, v: string | undefined, d: number, min: number, max: number): number => {
      if (v === undefined) return d;
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < min || n > max) throw new RangeError(`--${name} must be an integer in ${min}..${max}, got '${v}'`);
      return n;
    };
    opts = { programs: int('programs', values.programs, 100, 1, 1000), scrapes: int('scrapes', values.scrapes, 250, 10, 100_000), out: resolve(values.out ?? DEFAULT_OUT) };
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    console.error('observability: needs root (BPF, bpffs)');
    return 2;
  }
  const env = benchEnvironment();
  const load0 = loadavg()[0]!;
  const checks: Check[] = [];
  await using bpffs = await PrivateBpffs.create();
  const loaded: Loaded[] = [];
  const tmp = mkdtempSync(join(tmpdir(), `l3af-bench-obs-${process.pid}-`));
  const obs = await Observability.start({ metricsAddr: '127.0.0.1:0', sampleIntervalMs: 1000, kernelStatsEnabled: false, host: 'bench', env: {} });
  try {
    // ---------------------------------------------------------------- 1. scrape latency
    const t0 = performance.now();
    const programs: Array<{ rl: Loaded; om: Loaded; p: RunningProgram }> = [];
    for (let i = 0; i < opts.programs; i++) {
      const iface = `b${i}`;
      const rl = new Loaded(bpffs, programObject('ratelimiting'), '_xdp_ratelimiting', [iface, 'ratelimiting', '1']);
      loaded.push(rl);
      const om = new Loaded(bpffs, programObject('test/obs_maps'), 'obs_xdp', [iface, 'ratelimiting', '1']);
      loaded.push(om);
      rl.obj.map('rl_ports_map').update(Buffer.from([80, 0]), Buffer.from([1]));
      rl.obj.map('rl_config_map').typed(u32, u64).set(0, 5n);
      programs.push({ rl, om, p: rl.running({ iface, name: 'ratelimiting', monitorMaps: MONITORS }) });
    }
    const loadMs = performance.now() - t0;
    // one run each first: the hash keys the monitors read exist from the first sampling round on
    for (const x of programs) {
      x.rl.prog.testRun({ data: SYN });
      x.om.prog.testRun({ data: SYN });
    }
    for (const x of programs) obs.programStarted(x.p);
    // the traffic runs in a child process (this script with --traffic): the agent's event loop is not its
    const ids = programs.flatMap((x) => [x.rl.prog.info().id, x.om.prog.info().id]);
    const trafficChild = spawn(process.execPath, [...process.execArgv, process.argv[1]!, '--traffic', ids.join(',')], { stdio: ['pipe', 'pipe', 'inherit'] });
    let trafficReport = '';
    trafficChild.stdout.setEncoding('utf8').on('data', (d: string) => { trafficReport += d; });
    const trafficDone = new Promise<void>((r) => trafficChild.once('exit', () => r()));
    const url = obs.server!.url;
    await sleep(3500); // three sampling rounds: every series exists and rates have intervals
    const first = await (await fetch(url)).text();
    const mapSeries = first.split('\n').filter((l) => /^l3af_map_(value|rate_max_per_second|rate_avg_per_second)\{/.test(l));
    const programsSeen = new Set(mapSeries.map((l) => /interface="([^"]+)"/.exec(l)?.[1]));
    checks.push({ what: `${opts.programs} × ${SERIES_PER_PROGRAM} monitored map series in /metrics (10 entries, 3 of them max-rate / avg with their value too)`, ok: mapSeries.length === opts.programs * SERIES_PER_PROGRAM && programsSeen.size === opts.programs, detail: `${mapSeries.length} l3af_map_* series over ${programsSeen.size} programs; b0: ${mapSeries.filter((l) => l.includes('interface="b0"')).map((l) => /map="([^"]+)"/.exec(l)?.[1]).join(', ')}` });
    const errorsLine = first.split('\n').filter((l) => l.startsWith('l3af_map_sample_errors_total{') && !l.endsWith(' 0'));
    checks.push({ what: 'no map read errors', ok: errorsLine.length === 0, detail: errorsLine.length === 0 ? 'none' : errorsLine.slice(0, 3).join('; ') });
    const runStats = first.split('\n').filter((l) => l.startsWith('l3af_program_runs_total{'));
    const floor = await floorServer(first);
    const lat: number[] = [];
    const floorLat: number[] = [];
    let bytes = 0;
    let floorBytes = 0;
    const s0 = performance.now();
    for (let i = 0; i < opts.scrapes; i++) {
      const a = performance.now();
      const res = await fetch(url);
      const body = await res.text();
      lat.push(performance.now() - a);
      bytes = Buffer.byteLength(body);
      if (res.status !== 200) checks.push({ what: `scrape ${i}`, ok: false, detail: `status ${res.status}` });
      const b = performance.now();
      const fb = await (await fetch(floor.url)).text();
      floorLat.push(performance.now() - b);
      floorBytes = Buffer.byteLength(fb);
      await sleep(20);
    }
    await floor.close();
    const scrapeWallMs = performance.now() - s0;
    const sampleLine = (await (await fetch(url)).text()).split('\n').find((l) => l.startsWith('l3af_map_sample_duration_seconds'));
    trafficChild.stdin.end();
    await trafficDone;
    const interrupted = Number(/interrupted (\d+)/.exec(trafficReport)?.[1] ?? NaN);
    const ticks = Number(/ticks (\d+)/.exec(trafficReport)?.[1] ?? NaN);
    const trafficMs = Number(/ms (\d+)/.exec(trafficReport)?.[1] ?? NaN);
    checks.push({ what: 'the traffic process ran', ok: ticks > 0, detail: `${ticks} ticks of ${ids.length} test runs, ${interrupted} interrupted (EINTR)` });
    const sorted = [...lat].sort((a, b) => a - b);
    const floorSorted = [...floorLat].sort((a, b) => a - b);
    const series = first.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    const drops = counter(programs[0]!.rl.pinDir, 'rl_drop_count_map', 0);
    checks.push({ what: 'traffic reached the programs during the scrapes', ok: drops > 0, detail: `program b0: rl_drop_count_map = ${drops}` });
    for (const x of programs) obs.programStopped(x.p);

    // ---------------------------------------------------------------- report
    const f = (x: number, d = 1): string => x.toFixed(d);
    const failed = checks.filter((c) => !c.ok);
    const script = relative(process.cwd(), process.argv[1] ?? 'bench/observability.ts') || 'bench/observability.ts';
    const md = [
      '# Observability: /metrics scrape latency and ring buffer event throughput',
      '',
      failed.length === 0 ? 'All checks passed. How to read this report: [bench/README.md](../README.md#observability-scrape-latency-and-event-throughput).' : `**${failed.length} CHECK(S) FAILED — do not quote these figures.**`,
      '',
      '| | |',
      '|---|---|',
      ...environmentRows(env, `npx tsx ${[script, ...process.argv.slice(2)].join(' ')}`),
      `| load average (1 min) at start / end | ${f(load0, 2)} / ${f(loadavg()[0]!, 2)} |`,
      '',
      '## /metrics scrape latency',
      '',
      `${opts.programs} programs (ratelimiting.bpf.o + obs_maps.bpf.o each, loaded in ${f(loadMs / 1000)} s, maps pinned in one directory per program), `
        + `10 monitored maps each (${MONITORS.map((m) => `${m.name}[${m.key}] ${m.aggregator}`).join(', ')}): ${opts.programs * 10} map series, sampled every 1 s; kernel run statistics off (the default; ${runStats.length} run-count series). `
        + `A separate process (this script with --traffic) runs each of the ${opts.programs * 2} programs 10 times per round (BPF_PROG_TEST_RUN), a round at most every 100 ms, while the scrapes go on: ${ticks} rounds in ${f(trafficMs / 1000)} s (${f(ticks / (trafficMs / 1000))} rounds/s; ${interrupted} calls ended early with EINTR and were skipped). `
        + `Scrapes are sequential GETs over HTTP on 127.0.0.1 from the same process, 20 ms apart (${f(scrapeWallMs / 1000)} s in all, so about ${Math.round(scrapeWallMs / 1000)} sampling rounds ran in between).`,
      '',
      '| server | scrapes | series in a scrape | bytes | p50 (ms) | p90 (ms) | p99 (ms) | min | max | mean |',
      '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
      `| agent (/metrics, body rendered once per sampling tick) | ${lat.length} | ${series} | ${bytes} | **${f(percentile(sorted, 50), 2)}** | ${f(percentile(sorted, 90), 2)} | **${f(percentile(sorted, 99), 2)}** | ${f(sorted[0]!, 2)} | ${f(sorted.at(-1)!, 2)} | ${f(lat.reduce((a, b) => a + b, 0) / lat.length, 2)} |`,
      `| floor: bare prom-client, same series, rendered per scrape | ${floorLat.length} | ${series} | ${floorBytes} | **${f(percentile(floorSorted, 50), 2)}** | ${f(percentile(floorSorted, 90), 2)} | **${f(percentile(floorSorted, 99), 2)}** | ${f(floorSorted[0]!, 2)} | ${f(floorSorted.at(-1)!, 2)} | ${f(floorLat.reduce((a, b) => a + b, 0) / floorLat.length, 2)} |`,
      '',
      `p50 ratio agent / floor: **${f(percentile(sorted, 50) / percentile(floorSorted, 50), 2)}** (scrapes interleaved: agent, floor, agent, …; both servers in this process, over HTTP on 127.0.0.1).`,
      '',
      `Last sampling round of all ${opts.programs * 10} monitored maps (l3af_map_sample_duration_seconds): ${sampleLine ? `${f(Number(sampleLine.split(' ').at(-1)) * 1000, 2)} ms` : 'not reported'}.`,
      '',
      'A scrape reads no map and renders nothing: the body is rendered once right after each sampling round (the sampler reads the kernel once a second, batched per map) and served as bytes; a scrape that lands during a sampling round waits for that round\'s synchronous reads and rendering.',
      '',
      'Ring-buffer events: see [events.md](events.md) (bench/events.ts).',
      '',
      '## Checks',
      '',
      '| check | result | detail |',
      '|---|---|---|',
      ...checks.map((c) => `| ${c.what} | ${c.ok ? 'ok' : '**FAILED**'} | ${c.detail} |`),
      '',
    ].join('\n');
    mkdirSync(dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, md);
    console.log(md);
    return failed.length === 0 ? 0 : 1;
  } finally {
    await obs.close();
    for (const l of loaded) l[Symbol.dispose]();
    rmSync(tmp, { recursive: true, force: true });
  }
}

function environmentRows(env: BenchEnvironment, command: string): string[] {
  return [
    `| date | ${env.date} |`,
    `| command | \`${command}\` |`,
    `| kernel | ${env.kernel} |`,
    `| CPU | ${env.cpuModel} × ${env.cpuCount} |`,
    `| libbpf | ${env.libbpf} |`,
    `| node | ${env.node} |`,
    `| bpf_jit_enable | ${env.jit} |`,
    `| kernel run statistics (sysctl and stats fds of any process) | ${env.bpfStats} |`,
  ];
}

/** Bare prom-client serving the series of an exposition body (families, labels, values), rendered per scrape. */
async function floorServer(body: string): Promise<{ url: string; close: () => Promise<void> }> {
  const registry = new Registry();
  const help = new Map<string, string>();
  const samples = new Map<string, Array<{ labels: Record<string, string>; value: number }>>();
  for (const line of body.split('\n')) {
    if (line.startsWith('# HELP ')) {
      const [, name, ...rest] = line.slice(2).split(' ');
      help.set(name!, rest.join(' '));
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
    const list = samples.get(m[1]!) ?? [];
    list.push({ labels, value: Number(m[3]) });
    samples.set(m[1]!, list);
  }
  for (const [name, list] of samples) {
    const labelNames = [...new Set(list.flatMap((x) => Object.keys(x.labels)))];
    const base = name.replace(/_(bucket|sum|count)$/, '');
    const g = new Gauge({ name, help: help.get(name) ?? help.get(base) ?? name, labelNames, registers: [registry] });
    for (const x of list) g.set(x.labels, x.value);
  }
  const server = createServer((_req, res) => {
    registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    }, () => res.writeHead(500).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/metrics`, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

process.exitCode = await main();
