// Benchmark: GET /l3af/configs/v1 of the agent against fastify serving the same JSON; writes a markdown report.
//   npx tsx bench/get-configs.ts [--rounds R] [--seconds S] [--out FILE]      (as root; see bench/README.md)
//
// The agent runs in this process (createEngine + buildServer, the logger at the default level info into
// /dev/null, REST on 127.0.0.1), with 1 and then 10 count-and-pass programs chained on a veth. The floor is
// a bare fastify in the same process answering the same bytes (the agent's answer, parsed once, returned as an
// object). wrk (one thread, 10 connections) loads each in turn, rounds interleaved: agent, floor, agent, …
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { buildServer } from '../agent/src/api/server.ts';
import { createEngine } from '../agent/src/engine/index.ts';
import { createLogger } from '../agent/src/log.ts';
import { hostName } from '../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab } from '../test/harness/index.ts';
import { StateDir, countAndPass, countAndPassRepo, ensurePackages, testConfig, xdpBody } from '../test/engine/helpers.ts';
import { benchEnvironment, bpfStatsState, loadAverage } from './lib/environment.ts';
import { summarize, type Summary } from './lib/stats.ts';
import { wrk, type WrkResult } from './lib/wrk.ts';
import { profileTable, startProfile, type ProfileEntry } from './lib/profile.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_OUT = resolve(REPO, 'bench/reports/get-configs.md');
const USAGE = `usage: get-configs [--rounds R] [--seconds S] [--out FILE]
  --rounds R    wrk runs per server and program count, interleaved (default 5, at least 3)
  --seconds S   length of each wrk run (default 2)
  --out FILE    markdown report (default bench/reports/get-configs.md)
Needs root, wrk, netns and veth.`;
const CONNECTIONS = 10;
const COUNTS = [1, 10] as const;

interface Row { programs: number; bytes: number; agent: WrkResult[]; floor: WrkResult[] }

function med(rs: readonly WrkResult[], f: (r: WrkResult) => number): Summary {
  return summarize(rs.map(f));
}

async function main(): Promise<number> {
  let opts: { rounds: number; seconds: number; out: string };
  try {
    const { values } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const rounds = Number(values.rounds ?? 5);
    const seconds = Number(values.seconds ?? 2);
    if (!Number.isSafeInteger(rounds) || rounds < 3 || rounds > 100) throw new Error(`--rounds must be an integer in 3..100, got '${values.rounds}'`);
    if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > 60) throw new Error(`--seconds must be an integer in 1..60, got '${values.seconds}'`);
    opts = { rounds, seconds, out: resolve(values.out ?? DEFAULT_OUT) };
  } catch (err) {
    console.error(`get-configs: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    console.error('get-configs: needs root');
    return 2;
  }
  ensurePackages();
  const env = benchEnvironment();
  const t0 = performance.now();
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using state = new StateDir();
  const iface = lab.rootIfname;
  const host = hostName();
  const config = testConfig(fs.path, state.path);
  const names = Array.from({ length: COUNTS[COUNTS.length - 1]! }, (_, i) => `cap-${i}`);
  const repo = countAndPassRepo(state.path, names);
  const engine = createEngine(config, {});
  const sink = createWriteStream('/dev/null');
  const app = await buildServer({ engine, config, logger: createLogger({ level: 'info', env: {}, destination: sink }) });
  const floorApp = Fastify({ logger: false });
  // the floor answers the agent's own bytes (its GET is pretty-printed like l3afd's), as fastify sends a ready string
  let floorText = '[]';
  floorApp.get('/l3af/configs/:version', async (_req, reply) => reply.type('application/json; charset=utf-8').send(floorText));
  const rows: Row[] = [];
  const problems: string[] = [];
  const profiles: Array<{ programs: number; top: ProfileEntry[] }> = [];
  try {
    await engine.start();
    const url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/l3af/configs/v1`;
    const floorUrl = `${await floorApp.listen({ host: '127.0.0.1', port: 0 })}/l3af/configs/v1`;
    let have = 0;
    for (const n of COUNTS) {
      const add = names.slice(have, n).map((name, i) => countAndPass(name, have + i + 1, { ebpf_package_repo_url: repo }));
      const res = await fetch(`${url.replace(/\/v1$/, '')}/v1/add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(xdpBody(host, iface, add)) });
      if (res.status !== 200) problems.push(`adding ${add.length} programs answered ${res.status}: ${await res.text()}`);
      have = n;
      const body = await (await fetch(url)).text();
      floorText = body;
      const floorBody = await (await fetch(floorUrl)).text();
      if (floorBody !== body) problems.push(`${n} programs: the floor's answer differs from the agent's`);
      // the programs are in the kernel: their live status (?status=true; GET itself is l3afd's shape, no status)
      const withStatus = await (await fetch(`${url}?status=true`)).text();
      const listed = (JSON.parse(withStatus) as Array<{ bpf_programs: { xdp_ingress: Array<{ status?: { attached?: boolean } }> | null } }>)[0]?.bpf_programs.xdp_ingress ?? [];
      if (listed.length !== n || !listed.every((p) => p.status?.attached === true)) problems.push(`${n} programs: GET lists ${listed.length}, attached ${listed.filter((p) => p.status?.attached).length}`);
      await wrk(url, { seconds: 1, connections: CONNECTIONS }); // warm-up, not measured
      await wrk(floorUrl, { seconds: 1, connections: CONNECTIONS });
      const row: Row = { programs: n, bytes: Buffer.byteLength(body), agent: [], floor: [] };
      for (let r = 1; r <= opts.rounds; r++) {
        row.agent.push(await wrk(url, { seconds: opts.seconds, connections: CONNECTIONS }));
        row.floor.push(await wrk(floorUrl, { seconds: opts.seconds, connections: CONNECTIONS }));
        console.log(`${n} programs, round ${r}/${opts.rounds}: agent ${row.agent.at(-1)!.rps.toFixed(0)} req/s, fastify ${row.floor.at(-1)!.rps.toFixed(0)} req/s`);
      }
      // one more agent run under the CPU profiler (not counted in the figures)
      const stop = await startProfile();
      await wrk(url, { seconds: opts.seconds, connections: CONNECTIONS });
      profiles.push({ programs: n, top: await stop() });
      rows.push(row);
    }
  } finally {
    await app.close();
    await floorApp.close();
    await engine.stop({ unload: true }).catch((err: unknown) => problems.push(`engine stop: ${String(err)}`));
    sink.end();
  }
  for (const r of rows) {
    const errs = [...r.agent, ...r.floor].reduce((n, x) => n + x.errors, 0);
    if (errs > 0) problems.push(`${r.programs} programs: ${errs} non-2xx answers or socket errors`);
  }
  const out: string[] = ['# GET /l3af/configs/v1: agent vs fastify serving the same JSON', ''];
  out.push(problems.length === 0 ? 'All checks passed.' : `**CHECKS FAILED: ${problems.join('; ')}**`, '');
  out.push('| | |', '|---|---|');
  out.push(`| date | ${env.date} |`, `| command | \`node --import tsx ${relative(REPO, process.argv[1] ?? 'bench/get-configs.ts')} ${process.argv.slice(2).join(' ')}\` |`);
  out.push(`| kernel / CPU | ${env.kernel} / ${env.cpuModel} × ${env.cpuCount} |`, `| node | ${env.node} |`);
  out.push(`| kernel run statistics (start / end) | ${env.bpfStats} / ${bpfStatsState().text} |`);
  out.push(`| load average (1, 5, 15 min) start / end | ${env.loadAvg} / ${loadAverage()} |`);
  out.push(`| load | wrk -t1 -c${CONNECTIONS}, ${opts.seconds} s per run, ${opts.rounds} rounds interleaved (agent, fastify, agent, …) after a 1 s warm-up of each |`);
  out.push(`| run time | ${((performance.now() - t0) / 1000).toFixed(0)} s |`, '');
  out.push('| programs | body bytes | agent req/s (median) | fastify, same JSON, req/s (median) | ratio | agent p50 / p99 ms | fastify p50 / p99 ms | agent rounds | fastify rounds |');
  out.push('|--:|--:|--:|--:|--:|--:|--:|---|---|');
  for (const r of rows) {
    const a = med(r.agent, (x) => x.rps).median;
    const f = med(r.floor, (x) => x.rps).median;
    out.push(`| ${r.programs} | ${r.bytes} | **${a.toFixed(0)}** | ${f.toFixed(0)} | **${(a / f).toFixed(2)}** | ${med(r.agent, (x) => x.p50Ms).median.toFixed(2)} / ${med(r.agent, (x) => x.p99Ms).median.toFixed(2)} | ${med(r.floor, (x) => x.p50Ms).median.toFixed(2)} / ${med(r.floor, (x) => x.p99Ms).median.toFixed(2)} | ${r.agent.map((x) => x.rps.toFixed(0)).join(' ')} | ${r.floor.map((x) => x.rps.toFixed(0)).join(' ')} |`);
  }
  out.push('', 'The floor answers the agent\'s own bytes (checked equal before measuring), so the ratio is what the agent adds on top of fastify: its hooks (tracing, request ids, request logs), the status and the serialisation. wrk shares the 2 cores with the server.', '');
  for (const p of profiles) out.push(`## CPU profile of the agent process under load, ${p.programs} program(s) (self time, one extra run)`, '', ...profileTable(p.top), '');
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, out.join('\n'));
  for (const p of problems) console.error(`CHECK FAILED: ${p}`);
  console.log(out.slice(-rows.length - 3, -2).join('\n'));
  return problems.length === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  console.error(`get-configs: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
