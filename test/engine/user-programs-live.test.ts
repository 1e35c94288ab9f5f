// Issue 5's user-program tests through the engine on a veth lab (real kernel, real processes):
// - the seed's ratelimiting payload (cmd_start, user_program_daemon, start_args ports/rate, no object_file) LIMITS
//   traffic: TCP connection attempts at 5× the rate to a listed port are accepted at about the rate per second, and
//   the companion's rl_drop_count_map counts exactly the attempts that did not connect; GET through the REST API shows
//   running and the user program; the observer hears it start and stop; delete → process gone, nothing left;
// - a crash-looping daemon (a native program's user program that crashes 0.8 s after every start) is restarted
//   within its budget, then given up: GET says failed with its last exit code, running false, the kernel program
//   still linked and consistent; the observer is told running=false; delete → process gone, chain empty;
// - a daemon that exits at once fails the add: the kernel program it came with is unloaded again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BpfMap, queryXdp, u32, u64 } from '../../agent/src/bpf/index.ts';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { buildServer } from '../../agent/src/api/server.ts';
import { createLogger } from '../../agent/src/log.ts';
import { createEngine, type EngineObserver, type ProgramResult, type ProgramStatus } from '../../agent/src/engine/index.ts';
import { Supervisor } from '../../agent/src/supervisor/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { platformName } from '../../agent/src/platform/platform-name.ts';
import type { BpfProgram } from '../../agent/src/payload/index.ts';
import { PACKAGES, BUILD_DIR } from '../../programs/packages.ts';
import { writePackage } from '../../programs/repository.ts';
import { PrivateBpffs, VethLab, connectTcp, listenTcp, skipUnless, EngineLab } from '../harness/index.ts';
import { pinsUnder } from '../chain/helpers.ts';
import { ROOT, StateDir, countAndPass, ensurePackages, testConfig, xdpBody } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(get: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

function outcomes(results: readonly ProgramResult[]): string[] {
  return results.map((r) => `${r.name}:${r.outcome}${r.outcome === 'failed' ? ` (${r.reason ?? ''})` : ''}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Records what the engine tells its observer, as `event name [running]` lines. */
class Recorder implements EngineObserver {
  readonly events: string[] = [];
  programStarted(p: { name: string; progId: number }): void {
    this.events.push(`started ${p.name}`);
  }
  programStopped(p: { name: string }): void {
    this.events.push(`stopped ${p.name}`);
  }
  programUpdated(p: { name: string }): void {
    this.events.push(`updated ${p.name}`);
  }
  deployFailed(p: { name: string }): void {
    this.events.push(`deployFailed ${p.name}`);
  }
  programRunning(p: { name: string }, running: boolean): void {
    this.events.push(`running ${p.name} ${running}`);
  }
}

type Shown = { name: string; status: ProgramStatus };

const RATE = 20;
const ATTEMPT_RATE = 100; // 5 × RATE
const SECONDS = 5;

test('seed ratelimiting user program through the engine limits traffic; GET over the API shows it running; delete → process gone', { skip, timeout: 240_000 }, async (t) => {
  ensurePackages();
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  await using listed = await listenTcp(lab);
  using state = new StateDir();
  const iface = lab.rootIfname;
  const repoDir = join(state.path, 'user-repo');
  await writePackage(repoDir, platformName(), PACKAGES.find((p) => p.name === 'ratelimiting') as (typeof PACKAGES)[number]);
  const config = testConfig(fs.path, state.path);
  config.web.ebpfPollIntervalMs = 200;
  const observer = new Recorder();
  const engine = createEngine(config, {
    chainManager: (roots) => new ChainManager({ pinRoot: fs.path, roots }), userProgramEnv: { L3AF_HOME: ROOT }, selfLinkTimeoutMs: 30_000, observer,
  });
  const app = await buildServer({ engine, config, logger: createLogger({ level: 'silent', env: {} }) });
  const pinDir = join(fs.path, iface, 'ratelimiting', 'latest');
  const seed: BpfProgram = {
    name: 'ratelimiting', seq_id: 1, artifact: 'l3af_ratelimiting.tar.gz', version: 'latest', admin_status: 'enabled', prog_type: 'xdp',
    map_name: 'xdp_rl_ingress_next_prog', cmd_start: 'ratelimiting', user_program_daemon: true, cfg_version: 1,
    start_args: { ports: String(listed.port), rate: String(RATE), 'pin-dir': pinDir }, ebpf_package_repo_url: pathToFileURL(repoDir).href,
  };
  try {
    await engine.start();
    const add = await app.inject({ method: 'POST', url: '/l3af/configs/v1/add', payload: xdpBody(hostName(), iface, [seed]) });
    assert.equal(add.statusCode, 200, add.body);
    assert.deepEqual(outcomes((add.json() as { results: ProgramResult[] }).results), ['ratelimiting:added']);
    assert.deepEqual(observer.events, ['started ratelimiting'], 'the observer heard the self-linked program start');

    // GET through the REST API: the status schema keeps running and user_program
    const got = await app.inject({ method: 'GET', url: `/l3af/configs/v1/${iface}?status=true` });
    assert.equal(got.statusCode, 200, got.body);
    const shown = ((got.json() as { bpf_programs: { xdp_ingress: Shown[] } }).bpf_programs.xdp_ingress)[0];
    assert.equal(shown?.status.attached, true);
    assert.equal(shown?.status.running, true, `GET shows running: ${JSON.stringify(shown?.status)}`);
    assert.equal(shown?.status.user_program?.state, 'running');
    assert.equal(shown?.status.user_program?.running, true);
    assert.equal(shown?.status.user_program?.restarts, 0);
    assert.equal(shown?.status.user_program?.last_exit_code, null);
    const pid = shown?.status.user_program?.pid as number;
    assert.ok(pid > 0 && alive(pid), 'the companion runs');

    // traffic at 5× the rate to the listed port: accepted ≈ rate per second; drops counted by the companion's map
    using dropMap = BpfMap.openPinned(join(pinDir, 'rl_drop_count_map'));
    using recvMap = BpfMap.openPinned(join(pinDir, 'rl_recv_count_map'));
    const drop0 = dropMap.typed(u32, u64).get(0) ?? 0n;
    const recv0 = recvMap.typed(u32, u64).get(0) ?? 0n;
    const a = await connectTcp(lab, { port: listed.port, attempts: ATTEMPT_RATE * SECONDS, ratePerSec: ATTEMPT_RATE, timeoutMs: 500, reset: true });
    assert.equal(a.refused + a.failed, 0, `client: ${a.firstError}`);
    assert.equal(await listed.waitForAccepted(a.connected), a.connected, 'listener accepted = client connected');
    await sleep(300);
    const drop = (dropMap.typed(u32, u64).get(0) ?? 0n) - drop0;
    const recv = (recvMap.typed(u32, u64).get(0) ?? 0n) - recv0;
    const full = a.perSecond.slice(1, SECONDS);
    const mean = full.reduce((s, x) => s + x, 0) / full.length;
    t.diagnostic(`attempted ${a.attempted} at ${ATTEMPT_RATE}/s, connected ${a.connected}; per second ${a.perSecond.join(' ')}; full seconds mean ${mean.toFixed(2)}/s vs rate ${RATE}/s; rl recv ${recv}, rl drop ${drop}`);
    assert.equal(recv, BigInt(a.attempted), 'one candidate SYN per attempt');
    assert.equal(drop, BigInt(a.attempted - a.connected), 'rl_drop_count_map = attempts that did not connect');
    assert.ok(Math.abs(mean - RATE) / RATE <= 0.15, `accepted per full second ${mean.toFixed(2)} is within ±15 % of ${RATE}`);

    // delete: the companion is gone, the observer heard it stop, nothing stays
    const del = await app.inject({ method: 'POST', url: '/l3af/configs/v1/delete', payload: [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['ratelimiting'] } }] });
    assert.equal(del.statusCode, 200, del.body);
    assert.equal(alive(pid), false, 'no process with its pid');
    assert.deepEqual(observer.events, ['started ratelimiting', 'stopped ratelimiting']);
    assert.equal(queryXdp(iface).progId, 0);
    assert.deepEqual(pinsUnder(fs.path), []);
  } finally {
    await app.close();
    await engine.stop({ unload: true });
  }
});

/** A user program that exits 3 after `--after=<seconds>` (0: at once), as a crashing daemon would. */
const CRASHER = `#!/bin/sh
after=0
for a in "$@"; do case "$a" in --after=*) after="\${a#--after=}" ;; esac; done
echo "pid $$ up, exiting after \${after} s"
[ "$after" = 0 ] || sleep "$after"
echo "fatal: simulated crash" >&2
exit 3
`;

test('crash-looping user program: restarted within its budget, then given up; GET shows failed and the exit code; delete → gone', { skip, timeout: 120_000 }, async (t) => {
  await using bed = await EngineLab.create();
  const { fs, state, iface } = bed;
  const repoDir = join(state.path, 'crash-repo');
  const script = join(state.path, 'crasher.sh');
  writeFileSync(script, CRASHER, { mode: 0o755 });
  for (const name of ['cap-crash', 'cap-quit']) {
    await writePackage(repoDir, platformName(), {
      name, artifact: 'l3af_cap_crash.tar.gz', version: '1.0.0',
      files: [{ source: join(BUILD_DIR, 'count_and_pass.bpf.o'), name: 'count_and_pass.bpf.o' }, { source: script, name: 'crasher.sh', mode: 0o755 }],
    });
  }
  const config = testConfig(fs.path, state.path);
  config.web.ebpfPollIntervalMs = 100;
  const MAX_RESTARTS = 3;
  const supervisor = new Supervisor({
    stateFile: join(state.path, 'supervisor.json'), logDir: join(state.path, 'logs'), startGraceMs: 300,
    restart: { initialDelayMs: 100, maxDelayMs: 400, factor: 2, maxRestarts: MAX_RESTARTS, windowMs: 60_000 },
  });
  const observer = new Recorder();
  let cm: ChainManager | undefined;
  const engine = createEngine(config, { chainManager: (roots) => (cm = new ChainManager({ pinRoot: fs.path, roots })), supervisor, observer });
  const app = await buildServer({ engine, config, logger: createLogger({ level: 'silent', env: {} }) });
  const prog = (name: string, seq: number, after: string): BpfProgram => countAndPass(name, seq, {
    artifact: 'l3af_cap_crash.tar.gz', version: '1.0.0', cmd_start: 'crasher.sh', user_program_daemon: true,
    start_args: { after }, ebpf_package_repo_url: pathToFileURL(repoDir).href,
  });
  const status = async (): Promise<ProgramStatus | undefined> => {
    const r = await app.inject({ method: 'GET', url: `/l3af/configs/v1/${iface}?status=true` });
    assert.equal(r.statusCode, 200, r.body);
    return ((r.json() as { bpf_programs: { xdp_ingress: Shown[] | null } }).bpf_programs.xdp_ingress ?? []).find((p) => p.name === 'cap-crash')?.status;
  };
  try {
    await engine.start();
    const t0 = Date.now();
    let r = await engine.add(xdpBody(hostName(), iface, [prog('cap-crash', 1, '0.6')]));
    assert.deepEqual(outcomes(r.results), ['cap-crash:added'], 'it outlives the start grace, so the add succeeds');
    const progId = cm?.describe(iface, 'xdp_ingress').programs[0]?.id;
    const pids = new Set<number>();
    let s: ProgramStatus | undefined;
    for (;;) {
      s = await status();
      if (s?.user_program?.pid) pids.add(s.user_program.pid);
      if (s?.user_program?.state === 'failed') break;
      if (Date.now() - t0 > 30_000) throw new Error(`not given up after 30 s: ${JSON.stringify(s)}`);
      await sleep(50);
    }
    const gaveUpMs = Date.now() - t0;
    t.diagnostic(`crash loop: given up after ${s.user_program?.restarts} restarts (budget ${MAX_RESTARTS}) in ${gaveUpMs} ms; pids seen ${[...pids].join(' ')}; last_error: ${s.last_error}`);
    assert.equal(s.user_program?.restarts, MAX_RESTARTS, 'restarted exactly the budget');
    assert.equal(s.user_program?.running, false);
    assert.equal(s.user_program?.pid, null);
    assert.equal(s.user_program?.last_exit_code, 3, 'GET reports the last exit code');
    assert.equal(s.user_program?.last_exit_signal, null);
    assert.equal(s.running, false, 'not running: its user program is down for good');
    assert.match(s.last_error ?? '', /gave up after 3 restarts/);
    for (const pid of pids) assert.equal(alive(pid), false, `no process left (pid ${pid})`);
    // the kernel program stays linked, as l3afd leaves it; the chain is consistent
    assert.equal(s.attached, true);
    assert.equal(s.kernel_prog_id, progId);
    const d = cm?.describe(iface, 'xdp_ingress');
    assert.deepEqual(d?.programs.map((p) => [p.name, p.linked, p.id]), [['cap-crash', true, progId]]);
    assert.equal(d?.root.linked, true);
    await until(() => observer.events.at(-1) === 'running cap-crash false' || undefined, 5_000, 'the observer to hear running=false');
    assert.ok(observer.events.includes('running cap-crash false'), observer.events.join(', '));
    assert.equal(observer.events[0], 'started cap-crash');
    await sleep(500);
    assert.equal((await status())?.user_program?.restarts, MAX_RESTARTS, 'no restart after giving up');

    // a daemon that exits at once fails its add: its kernel program is unloaded again, the other stays
    r = await engine.add(xdpBody(hostName(), iface, [prog('cap-quit', 2, '0')]));
    assert.equal(r.results[0]?.outcome, 'failed');
    assert.match(r.results[0]?.reason ?? '', /exit code 3|exited with 3|code 3/);
    assert.deepEqual(cm?.describe(iface, 'xdp_ingress').programs.map((p) => p.name), ['cap-crash']);

    // delete: gone, chain empty
    r = await engine.delete([{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['cap-crash'] } }]);
    assert.deepEqual(outcomes(r.results), ['cap-crash:removed']);
    assert.equal(queryXdp(iface).progId, 0);
    assert.deepEqual(pinsUnder(fs.path), []);
  } finally {
    await app.close();
    await engine.stop({ unload: true });
  }
});
