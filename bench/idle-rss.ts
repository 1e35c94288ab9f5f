// Benchmark: idle memory of the agent as `npm start` runs it, against bare fastify; writes a markdown report.
//   npx tsx bench/idle-rss.ts [--rounds R] [--out FILE]      (as root; see bench/README.md)
//
// Each round starts `npm start -- --config FILE`, FILE being the embedded default's settings with a temporary state
// directory and free ports (another agent on this machine may hold localhost:53000 and :8898), posts the README's seed payload (ratelimiting) on a veth of a lab this bench creates, waits until the
// agent is idle, and reads VmRSS of every process of the tree npm started; then bare fastify (one GET route) in a
// node process, after a few requests. Rounds interleave agent and fastify.
import { AGENT_NODE_FLAGS } from './lib/agent-flags.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hostName } from '../agent/src/platform/host.ts';
import { VethLab } from '../test/harness/index.ts';
import { ratelimiting, xdpBody } from '../test/engine/helpers.ts';
import { benchEnvironment, bpfStatsState, loadAverage } from './lib/environment.ts';
import { summarize } from './lib/stats.ts';
import { freePort } from '../test/harness/net.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_OUT = resolve(REPO, 'bench/reports/idle-rss.md');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const FASTIFY = `
const Fastify = require('fastify');
const app = Fastify({ logger: false });
app.get('/l3af/configs/:v', async () => [{ host_name: 'h', iface: 'x', bpf_programs: {} }]);
app.listen({ host: '127.0.0.1', port: 0 }).then(() => process.stdout.write(String(app.server.address().port) + '\\n'));
`;

interface Proc { pid: number; comm: string; rssKiB: number }

function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** The process and its descendants. */
function tree(root: number): Proc[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out.flatMap((pid) => {
    try {
      return [{ pid, comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), rssKiB: rssOf(pid) }];
    } catch {
      return [];
    }
  });
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = createConnection({ port, host: '127.0.0.1' }, () => { s.destroy(); r(true); });
    s.on('error', () => r(false));
  });
}


/** The embedded default's settings (agent/src/config/defaults.ts) with state under `state` and the given ports. */
function configFile(state: string, rest: number, metrics: number): string {
  const c = {
    l3afd: { 'pid-file': join(state, 'l3afd.pid'), datacenter: 'local', 'bpf-dir': join(state, 'packages'), 'bpf-chaining-enabled': true, BpfMapDefaultPath: join(state, 'bpffs'), environment: 'DEV' },
    'ebpf-repo': { url: pathToFileURL(join(REPO, 'programs', 'repo')).href },
    'l3af-config-store': { filename: join(state, 'l3af-config.json') },
    'l3af-configs': { 'restapi-addr': `127.0.0.1:${rest}` },
    web: { 'metrics-addr': `127.0.0.1:${metrics}` },
    mtls: { enabled: false },
    l3af: { 'state-dir': state },
  };
  const file = join(state, 'l3afd.yaml');
  writeFileSync(file, JSON.stringify(c, null, 2));
  return file;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await Promise.race([done, sleep(15_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const rounds = Number(values.rounds ?? 3);
  if (!Number.isSafeInteger(rounds) || rounds < 3) {
    console.error('idle-rss: --rounds must be an integer ≥ 3');
    return 2;
  }
  const out = resolve(values.out ?? DEFAULT_OUT);
  if (process.getuid?.() !== 0) {
    console.error('idle-rss: needs root');
    return 2;
  }
  const env = benchEnvironment();
  const problems: string[] = [];
  const agentRows: Array<{ agent: number; tree: Proc[] }> = [];
  const fastify: number[] = [];
  await using lab = await VethLab.create();
  for (let r = 1; r <= rounds; r++) {
    // --- the agent through npm start
    const state = mkdtempSync(join(tmpdir(), 'l3af-rss-'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}/l3af/configs/v1`;
    const npm = spawn('npm', ['start', '--silent', '--', '--config', configFile(state, port, await freePort())], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, L3AF_LOG_LEVEL: 'warn' } });
    try {
      const deadline = Date.now() + 180_000;
      while (!(await portOpen(port))) {
        if (Date.now() > deadline || npm.exitCode !== null) throw new Error(`npm start did not listen on 127.0.0.1:${port} (exit ${npm.exitCode})`);
        await sleep(200);
      }
      const res = await fetch(`${base}/add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(xdpBody(hostName(), lab.rootIfname, [ratelimiting(1, 2, [8080, 8081])])) });
      if (res.status !== 200) problems.push(`round ${r}: seed payload answered ${res.status}: ${await res.text()}`);
      for (let i = 0; i < 20; i++) await (await fetch(`${base}/${lab.rootIfname}`)).text();
      await sleep(5000); // idle: a few sampling ticks
      const procs = tree(npm.pid!);
      const agent = procs.find((p) => p.comm === 'node' && p.pid !== npm.pid) ?? procs.at(-1)!;
      agentRows.push({ agent: agent.rssKiB, tree: procs });
      const del = await fetch(`${base}/delete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ host_name: hostName(), iface: lab.rootIfname, bpf_programs: { xdp_ingress: ['ratelimiting'] } }]) });
      if (del.status !== 200) problems.push(`round ${r}: delete answered ${del.status}`);
    } catch (err) {
      problems.push(`round ${r}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await stop(npm);
      // the agent leaves its bpffs mounted (pins outlive it, by design): unmount the private one, then remove the state
      spawnSync('umount', ['-l', join(state, 'bpffs')]);
      rmSync(state, { recursive: true, force: true });
    }
    // --- bare fastify
    const f = spawn(process.execPath, ['-e', FASTIFY], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let port = '';
      f.stdout.setEncoding('utf8').on('data', (s: string) => { port += s; });
      while (!port.includes('\n')) await sleep(50);
      for (let i = 0; i < 20; i++) await (await fetch(`http://127.0.0.1:${port.trim()}/l3af/configs/v1`)).text();
      await sleep(2000);
      fastify.push(rssOf(f.pid!));
    } finally {
      await stop(f);
    }
    console.log(`round ${r}: agent ${((agentRows.at(-1)?.agent ?? 0) / 1024).toFixed(0)} MiB (tree ${(((agentRows.at(-1)?.tree ?? []).reduce((n, p) => n + p.rssKiB, 0)) / 1024).toFixed(0)} MiB), fastify ${(fastify.at(-1)! / 1024).toFixed(0)} MiB`);
  }
  const mib = (k: number): string => (k / 1024).toFixed(0);
  const a = summarize(agentRows.map((x) => x.agent)).median;
  const t = summarize(agentRows.map((x) => x.tree.reduce((n, p) => n + p.rssKiB, 0))).median;
  const fl = summarize(fastify).median;
  const last = agentRows.at(-1)?.tree ?? [];
  const lines = ['# Idle memory: the agent as `npm start` runs it vs bare fastify', ''];
  lines.push(problems.length === 0 ? 'All checks passed (the seed payload was added and deleted in every round).' : `**CHECKS FAILED: ${problems.join('; ')}**`, '');
  lines.push('| | |', '|---|---|', `| date | ${env.date} |`, `| command | \`node --import tsx ${relative(REPO, process.argv[1] ?? 'bench/idle-rss.ts')} ${process.argv.slice(2).join(' ')}\` |`);
  lines.push(`| kernel / node | ${env.kernel} / ${env.node} |`, `| kernel run statistics (start / end) | ${env.bpfStats} / ${bpfStatsState().text} |`, `| load average start / end | ${env.loadAvg} / ${loadAverage()} |`, '');
  lines.push('| | VmRSS, MiB (median of rounds) | ratio to bare fastify | rounds |', '|---|--:|--:|---|');
  lines.push(`| agent process (\`node ${AGENT_NODE_FLAGS.join(' ')} dist/agent/src/main.js\`, the seed payload loaded, idle 5 s) | **${mib(a)}** | **${(a / fl).toFixed(2)}** | ${agentRows.map((x) => mib(x.agent)).join(' ')} |`);
  lines.push(`| the whole tree \`npm start\` leaves running | ${mib(t)} | ${(t / fl).toFixed(2)} | ${agentRows.map((x) => mib(x.tree.reduce((n, p) => n + p.rssKiB, 0))).join(' ')} |`);
  lines.push(`| floor: bare fastify, one GET route, after 20 requests | ${mib(fl)} | 1.00 | ${fastify.map(mib).join(' ')} |`, '');
  lines.push(`Processes of the last round: ${last.map((p) => `${p.comm} (pid ${p.pid}, ${mib(p.rssKiB)} MiB)`).join(', ')}. \`npm start\` builds (make, tsc --incremental) and then \`exec\`s node on the compiled agent: the shell and the TypeScript loader are gone; npm itself stays as the parent that waits for the agent (run \`node dist/agent/src/main.js\` directly for one process).`, '');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, lines.join('\n'));
  console.log(lines.filter((l) => l.startsWith('| agent') || l.startsWith('| the whole') || l.startsWith('| floor')).join('\n'));
  for (const p of problems) console.error(`CHECK FAILED: ${p}`);
  return problems.length === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  console.error(`idle-rss: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
