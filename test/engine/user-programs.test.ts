// User programs through the engine on the real kernel:
// - the seed's payload shape (ratelimiting with cmd_start, user_program_daemon, start_args ports/rate, no object_file):
//   the packaged companion links itself right after an agent-held root; kill -9 → the supervisor restarts it and it
//   relinks (restarts 1 in GET); delete → process gone, slot empty, root detached, pins gone;
// - a native program with a user program (object_file + cmd_start of a fixture daemon): kernel program first, then
//   the daemon with the contract's arguments (no --map-name); a start_args change restarts only the daemon; delete
//   stops it and unloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BpfProgram as KernelProgram, queryXdp } from '../../agent/src/bpf/index.ts';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { createEngine, type ProgramResult, type ProgramStatus } from '../../agent/src/engine/index.ts';
import { slotId } from '../../agent/src/engine/user-programs.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { platformName } from '../../agent/src/platform/platform-name.ts';
import type { BpfProgram, NormalizedL3afBpfPrograms } from '../../agent/src/payload/index.ts';
import { PACKAGES, BUILD_DIR } from '../../programs/packages.ts';
import { writePackage } from '../../programs/repository.ts';
import { skipUnless, EngineLab } from '../harness/index.ts';
import { pinsUnder } from '../chain/helpers.ts';
import { ROOT, countAndPass, ratelimitingMaps, testConfig, xdpBody } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(get: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

function outcomes(results: readonly ProgramResult[]): string[] {
  return results.map((r) => `${r.name}:${r.outcome}${r.outcome === 'failed' ? ` (${r.reason ?? ''})` : ''}`);
}

type Shown = { name: string; status: ProgramStatus };
function xdpOf(get: NormalizedL3afBpfPrograms[]): Shown[] {
  return (get[0]?.bpf_programs.xdp_ingress ?? []) as unknown as Shown[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('seed ratelimiting user program: self-linked after the root, restarted after kill -9, deleted', { skip, timeout: 240_000 }, async () => {
  await using bed = await EngineLab.create();
  const { fs, state, iface } = bed;
  const repoDir = join(state.path, 'user-repo');
  await writePackage(repoDir, platformName(), PACKAGES.find((p) => p.name === 'ratelimiting') as (typeof PACKAGES)[number]);
  const config = testConfig(fs.path, state.path);
  let cm: ChainManager | undefined;
  let engine = createEngine(config, {
    chainManager: (roots) => (cm = new ChainManager({ pinRoot: fs.path, roots })),
    userProgramEnv: { L3AF_HOME: ROOT },
    selfLinkTimeoutMs: 30_000,
  });
  // the seed's payload; the companion pins where the agent's map path says (the private bpffs, not /sys/fs/bpf)
  const pinDir = join(fs.path, iface, 'ratelimiting', 'latest');
  const seed: BpfProgram = {
    name: 'ratelimiting', seq_id: 1, artifact: 'l3af_ratelimiting.tar.gz', version: 'latest', admin_status: 'enabled', prog_type: 'xdp',
    map_name: 'xdp_rl_ingress_next_prog', cmd_start: 'ratelimiting', user_program_daemon: true, cfg_version: 1,
    start_args: { ports: '8080,8081', rate: '2', 'pin-dir': pinDir }, ebpf_package_repo_url: pathToFileURL(repoDir).href,
  };
  const rootArray = join(fs.path, 'user-roots', iface, 'xdp-root', 'latest', 'xdp_root_array');
  try {
    await engine.start();
    const t0 = Date.now();
    let r = await engine.add(xdpBody(hostName(), iface, [seed]));
    const addMs = Date.now() - t0;
    assert.deepEqual(outcomes(r.results), ['ratelimiting:added']);
    assert.equal(cm?.chains().length, 0, 'the ChainManager loaded nothing: the companion loads its own program');

    // the hook runs the agent-held root; its slot holds the companion's program; the companion pinned its maps
    const hook = queryXdp(iface).progId;
    assert.ok(hook > 0, 'XDP attached');
    using rootProg = KernelProgram.openPinned(join(fs.path, 'user-roots', 'progs', iface, 'xdp-root', 'latest', 'xdp_root_xdp'));
    assert.equal(rootProg.id, hook, 'the hook runs the agent-held root');
    const firstId = slotId(rootArray);
    assert.ok(firstId !== undefined, 'the root slot holds a program');
    {
      using p = KernelProgram.fromId(firstId);
      assert.equal(p.info().type, 'xdp');
      assert.match(p.info().name, /^_xdp_ratelimit/, 'the companion\'s ratelimiting program');
    }
    assert.ok(existsSync(join(pinDir, 'xdp_rl_ingress_next_prog')), 'its next array is pinned at the agent\'s map path');
    assert.deepEqual(ratelimitingMaps(fs.path, iface), { rate: 2n, window: 0n, ports: [8080, 8081] }, 'start_args reached its maps');

    let s = xdpOf(engine.get())[0]?.status;
    assert.equal(s?.attached, true);
    assert.equal(s?.running, true);
    assert.equal(s?.kernel_prog_id, firstId);
    assert.equal(s?.restarts, 0);
    assert.equal(s?.user_program?.state, 'running');
    const pid1 = s?.user_program?.pid as number;
    assert.ok(pid1 > 0 && alive(pid1));
    const args = readFileSync(`/proc/${pid1}/cmdline`, 'utf8').split('\0');
    assert.ok(args.includes(`--map-name=${rootArray}`), `--map-name names the root's array: ${args.join(' ')}`);
    assert.ok(args.includes('--direction=xdpingress') && args.includes(`--iface=${iface}`) && args.includes('--rate=2'));

    // kill -9: the supervisor restarts it; the new instance relinks (the dead one's program kept the slot meanwhile)
    const k0 = Date.now();
    process.kill(pid1, 'SIGKILL');
    const secondId = await until(() => { const id = slotId(rootArray); return id !== undefined && id !== firstId ? id : undefined; }, 60_000, 'the restarted companion to relink');
    const relinkMs = Date.now() - k0;
    // GET's status is refreshed on the supervisor's events and every sampling tick: the relink shows within a tick
    s = await until(() => { const st = xdpOf(engine.get())[0]?.status; return st?.running && st.user_program?.pid !== pid1 && st.kernel_prog_id === secondId ? st : undefined; }, 10_000, 'GET to show the new instance');
    assert.equal(s.restarts, 1, 'counted once');
    assert.equal(s.user_program?.restarts, 1);
    assert.equal(s.kernel_prog_id, secondId);
    assert.equal(s.user_program?.last_exit_signal, 'SIGKILL');
    assert.deepEqual(ratelimitingMaps(fs.path, iface), { rate: 2n, window: 0n, ports: [8080, 8081] }, 'the new instance pinned its maps again');
    const pid2 = s.user_program?.pid as number;
    console.log(`# add → linked: ${addMs} ms; kill -9 → relinked by the restarted companion: ${relinkMs} ms`);

    // agent restart: a second engine adopts the running companion (same pid, same program in the slot) and the root
    await engine.stop();
    assert.ok(alive(pid2), 'stop() leaves the user program running');
    engine = createEngine(config, { chainManager: (roots) => (cm = new ChainManager({ pinRoot: fs.path, roots })), userProgramEnv: { L3AF_HOME: ROOT } });
    await engine.start();
    s = xdpOf(engine.get())[0]?.status;
    assert.equal(s?.running, true);
    assert.equal(s?.user_program?.adopted, true);
    assert.equal(s?.user_program?.pid, pid2, 'adopted, not started again');
    assert.equal(s?.kernel_prog_id, secondId);
    assert.equal(queryXdp(iface).progId, hook, 'the same root runs');

    // delete: stopped, unlinked, root detached, pins gone
    r = await engine.delete([{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['ratelimiting'] } }]);
    assert.deepEqual(outcomes(r.results), ['ratelimiting:removed']);
    await until(() => !alive(pid2), 15_000, 'the adopted companion to exit');
    assert.equal(queryXdp(iface).progId, 0, 'the agent-held root is detached');
    assert.deepEqual(pinsUnder(fs.path), [], 'no pin left');
    // as l3afd, the interface stays known (its address, null lists) after its last program goes
    assert.deepEqual(engine.get().map((e) => [e.iface, e.bpf_programs]), [[iface, { xdp_ingress: null, tc_ingress: null, tc_egress: null, probes: null }]]);
  } finally {
    await engine.stop({ unload: true });
  }
});

test('native program with a user program: kernel program first, daemon with the contract, restart on start_args, delete', { skip, timeout: 120_000 }, async () => {
  await using bed = await EngineLab.create();
  const { fs, state, iface } = bed;
  const repoDir = join(state.path, 'cap-user-repo');
  await writePackage(repoDir, platformName(), {
    name: 'cap-user', artifact: 'l3af_cap_user.tar.gz', version: '1.0.0',
    files: [
      { source: join(BUILD_DIR, 'count_and_pass.bpf.o'), name: 'count_and_pass.bpf.o' },
      { source: join(ROOT, 'test', 'supervisor', 'fixtures', 'daemon.sh'), name: 'daemon.sh', mode: 0o755 },
    ],
  });
  const config = testConfig(fs.path, state.path);
  let cm: ChainManager | undefined;
  const engine = createEngine(config, { chainManager: (roots) => (cm = new ChainManager({ pinRoot: fs.path, roots })) });
  const prog = (args: Record<string, string>): BpfProgram => countAndPass('cap-user', 1, {
    artifact: 'l3af_cap_user.tar.gz', cmd_start: 'daemon.sh', user_program_daemon: true, start_args: args, ebpf_package_repo_url: pathToFileURL(repoDir).href,
  });
  try {
    await engine.start();
    let r = await engine.add(xdpBody(hostName(), iface, [prog({ mode: 'a' })]));
    assert.deepEqual(outcomes(r.results), ['cap-user:added']);
    const d = cm?.describe(iface, 'xdp_ingress');
    assert.deepEqual(d?.programs.map((p) => [p.name, p.linked]), [['cap-user', true]], 'the agent loaded and linked the kernel program');
    let s = xdpOf(engine.get())[0]?.status;
    assert.equal(s?.running, true);
    assert.equal(s?.kernel_prog_id, d?.programs[0]?.id);
    const pid1 = s?.user_program?.pid as number;
    const args = readFileSync(`/proc/${pid1}/cmdline`, 'utf8').split('\0');
    assert.ok(args.includes(`--iface=${iface}`) && args.includes('--direction=xdpingress') && args.includes('--mode=a'), args.join(' '));
    assert.ok(!args.some((a) => a.startsWith('--map-name')), 'no --map-name: the agent loaded the object');

    // start_args change: the daemon restarts, the kernel program stays
    r = await engine.update(xdpBody(hostName(), iface, [prog({ mode: 'b' })]));
    assert.deepEqual(outcomes(r.results), ['cap-user:updated']);
    s = xdpOf(engine.get())[0]?.status;
    const pid2 = s?.user_program?.pid as number;
    assert.notEqual(pid2, pid1);
    assert.ok(!alive(pid1), 'the old daemon is gone');
    assert.ok(readFileSync(`/proc/${pid2}/cmdline`, 'utf8').split('\0').includes('--mode=b'));
    assert.equal(s?.kernel_prog_id, d?.programs[0]?.id, 'the kernel program was not reloaded');

    r = await engine.delete([{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['cap-user'] } }]);
    assert.deepEqual(outcomes(r.results), ['cap-user:removed']);
    assert.ok(!alive(pid2), 'the daemon is stopped');
    assert.equal(queryXdp(iface).progId, 0);
    assert.deepEqual(pinsUnder(fs.path), []);
  } finally {
    await engine.stop({ unload: true });
  }
});
