// The ratelimiting package is self-contained and follows the configured bpffs (issue 13 point 17):
// - extracted outside the checkout and run with an environment holding only PATH (to node): the bundled companion
//   starts (no checkout, no tsx, no npm), the package holds no TypeScript;
// - through the engine with BpfMapDefaultPath on a private bpffs (not /sys/fs/bpf) and the seed payload without
//   any pin-dir: the companion pins under the configured root where the agent waits, GET shows it running;
// - without the agent's hint (as under l3afd), the pin folder is derived from --map-name's root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { createEngine, type ProgramStatus } from '../../agent/src/engine/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { platformName } from '../../agent/src/platform/platform-name.ts';
import type { BpfProgram } from '../../agent/src/payload/index.ts';
import { PACKAGES } from '../../programs/packages.ts';
import { writePackage } from '../../programs/repository.ts';
import { parseCompanionArgs, pinDirFor } from '../../programs/companion/ratelimiting.ts';
import { PrivateBpffs, VethLab, skipUnless } from '../harness/index.ts';
import { ROOT, StateDir, ensurePackages, testConfig, xdpBody } from '../engine/helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');
const RL = PACKAGES.find((p) => p.name === 'ratelimiting') as (typeof PACKAGES)[number];

function buildCompanion(): void {
  execFileSync('make', ['-C', join(ROOT, 'programs'), 'build/companion/ratelimiting.mjs', 'build/ratelimiting.bpf.o'], { stdio: 'ignore', timeout: 300_000 });
}

test('without --pin-dir: $L3AF_PIN_DIR, else beside the --map-name program (l3afd\'s layout under any bpffs root)', () => {
  assert.equal(pinDirFor('/var/l3af/bpffs/eth0/xdp-root/latest/xdp_root_array', 'latest', {}), '/var/l3af/bpffs/eth0/ratelimiting/latest');
  assert.equal(pinDirFor('/sys/fs/bpf/eth0/xdp-root/latest/xdp_root_array', '1_0', {}), '/sys/fs/bpf/eth0/ratelimiting/1_0');
  assert.equal(pinDirFor('/x/user-roots/eth0/xdp-root/latest/xdp_root_array', 'latest', { L3AF_PIN_DIR: '/x/eth0/ratelimiting/latest' }), '/x/eth0/ratelimiting/latest');
});

test('Windows: without --map-name the companion attaches itself (l3afd on Windows runs unchained); pins are BPF:\\ names, not resolved as paths', () => {
  const argv = ['--iface=Ethernet 4', '--rate=2', '--ports=8080,8081', '--version=1.0.0'];
  const win = parseCompanionArgs(argv, {}, 'win32');
  assert.notEqual(win, 'help');
  if (win === 'help') return;
  assert.equal(win.mapName, undefined);
  assert.equal(win.pinDir, 'BPF:\\Ethernet 4\\ratelimiting\\1_0_0');
  assert.deepEqual([win.iface, win.rate, win.ports], ['Ethernet 4', 2, [8080, 8081]]);
  const hinted = parseCompanionArgs(argv, { L3AF_PIN_DIR: 'BPF:\\x\\ratelimiting\\latest' }, 'win32');
  assert.equal(hinted !== 'help' && hinted.pinDir, 'BPF:\\x\\ratelimiting\\latest');
  const chained = parseCompanionArgs([...argv, '--map-name=BPF:\\Ethernet 4\\xdp-root\\latest\\xdp_root_array'], {}, 'win32');
  assert.equal(chained !== 'help' && chained.mapName, 'BPF:\\Ethernet 4\\xdp-root\\latest\\xdp_root_array');
  // Linux is unchanged: chain-only
  assert.throws(() => parseCompanionArgs(argv, {}, 'linux'), /--map-name is required/);
});

test('the package runs outside a checkout with only node on PATH: bundle + koffi, no TypeScript', { skip, timeout: 300_000 }, async () => {
  buildCompanion();
  using state = new StateDir();
  const repo = join(state.path, 'repo');
  const [written] = await writePackage(repo, platformName(), RL);
  const out = mkdtempSync(join(tmpdir(), 'l3af-pkg-run-'));
  try {
    execFileSync('tar', ['xzf', written?.path ?? '', '-C', out]);
    const dir = join(out, 'l3af_ratelimiting');
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, ['node_modules', 'ratelimiting', 'ratelimiting.bpf.o', 'ratelimiting.mjs']);
    const env = { PATH: dirname(process.execPath) };
    const help = spawnSync(join(dir, 'ratelimiting'), ['--help'], { cwd: '/', env, encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /usage: ratelimiting --iface=IF/);
    // it reaches the kernel layer (koffi + libbpf): a missing interface is its own usage error, not a module error
    const bad = spawnSync(join(dir, 'ratelimiting'), ['--iface=nx-l3af0', '--rate=2', '--ports=80', '--map-name=/nonexistent/a/b/c'], { cwd: '/', env, encoding: 'utf8' });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /no network interface named 'nx-l3af0'/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('BpfMapDefaultPath not /sys/fs/bpf: the seed payload (no pin-dir) pins under it and the add succeeds', { skip, timeout: 240_000 }, async () => {
  ensurePackages();
  buildCompanion();
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using state = new StateDir();
  const iface = lab.rootIfname;
  const repoDir = join(state.path, 'user-repo');
  await writePackage(repoDir, platformName(), RL);
  const config = testConfig(fs.path, state.path);
  const engine = createEngine(config, {
    chainManager: (roots) => new ChainManager({ pinRoot: fs.path, roots }), userProgramEnv: {}, selfLinkTimeoutMs: 30_000,
  });
  const seed: BpfProgram = {
    name: 'ratelimiting', seq_id: 1, artifact: 'l3af_ratelimiting.tar.gz', version: 'latest', admin_status: 'enabled', prog_type: 'xdp',
    map_name: 'xdp_rl_ingress_next_prog', cmd_start: 'ratelimiting', user_program_daemon: true, cfg_version: 1,
    start_args: { ports: '8080,8081', rate: '2' }, ebpf_package_repo_url: pathToFileURL(repoDir).href,
  };
  try {
    await engine.start();
    const r = await engine.add(xdpBody(hostName(), iface, [seed]));
    assert.deepEqual(r.results.map((x) => `${x.name}:${x.outcome}:${x.reason ?? ''}`), ['ratelimiting:added:']);
    const pinDir = join(fs.path, iface, 'ratelimiting', 'latest');
    assert.ok(existsSync(join(pinDir, 'xdp_rl_ingress_next_prog')), 'its next-program array is pinned under the configured root');
    assert.equal(existsSync(join('/sys/fs/bpf', iface)), false, 'nothing under /sys/fs/bpf');
    const status = (engine.get(iface)[0]?.bpf_programs.xdp_ingress?.[0] as unknown as { status: ProgramStatus }).status;
    assert.equal(status.user_program?.running, true, JSON.stringify(status));
    const d = await engine.delete([{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['ratelimiting'] } }]);
    assert.equal(d.results[0]?.outcome, 'removed');
    assert.equal(existsSync(join(pinDir, 'xdp_rl_ingress_next_prog')), false, 'its pins are gone after delete');
  } finally {
    await engine.stop({ unload: true });
  }
});
