// l3afd's user-program argument contract through the engine, with C user programs built by programs/Makefile
// that reject unknown options with getopt_long, as L3AF's do (test/engine/fixtures/strict_user.c):
// - without `bpf-log-dir` no --log-dir is passed: a program that does not know the option (like L3AF's
//   mirroring) starts, and its argv is exactly l3afd's;
// - with `bpf-log-dir` set, --log-dir=<dir> is passed (l3afd does the same), in l3afd's position;
// - cmd_update gets --log-dir only when bpf-log-dir is set as well.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { createEngine, type ProgramResult } from '../../agent/src/engine/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { platformName } from '../../agent/src/platform/platform-name.ts';
import type { BpfProgram } from '../../agent/src/payload/index.ts';
import { BUILD_DIR } from '../../programs/packages.ts';
import { writePackage } from '../../programs/repository.ts';
import { PrivateBpffs, VethLab, skipUnless } from '../harness/index.ts';
import { ROOT, StateDir, countAndPass, ensurePackages, testConfig, xdpBody } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

function buildFixtures(): { strict: string; withLogDir: string } {
  const strict = join(BUILD_DIR, 'test', 'strict_user');
  const withLogDir = join(BUILD_DIR, 'test', 'strict_user_logdir');
  execFileSync('make', ['-C', join(ROOT, 'programs'), 'build/test/strict_user', 'build/test/strict_user_logdir'], { stdio: 'ignore', timeout: 120_000 });
  return { strict, withLogDir };
}

function outcomes(results: readonly ProgramResult[]): string[] {
  return results.map((r) => `${r.name}:${r.outcome}${r.outcome === 'failed' ? ` (${r.reason ?? ''})` : ''}`);
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const logDir of ['', 'set'] as const) {
  const title = logDir === ''
    ? 'no bpf-log-dir: no --log-dir, so a C user program rejecting unknown options starts with exactly l3afd\'s argv'
    : 'bpf-log-dir set: --log-dir=<dir> is passed in l3afd\'s position (and to cmd_update)';
  test(title, { skip, timeout: 120_000 }, async () => {
    ensurePackages();
    const bins = buildFixtures();
    await using lab = await VethLab.create();
    await using fs = await PrivateBpffs.create();
    using state = new StateDir();
    const iface = lab.rootIfname;
    const repoDir = join(state.path, 'strict-repo');
    const argsFile = join(state.path, 'argv.txt');
    await writePackage(repoDir, platformName(), {
      name: 'strict-user', artifact: 'l3af_strict_user.tar.gz', version: '1.0',
      files: [
        { source: join(BUILD_DIR, 'count_and_pass.bpf.o'), name: 'count_and_pass.bpf.o' },
        { source: logDir === '' ? bins.strict : bins.withLogDir, name: 'strict_user', mode: 0o755 },
        { source: logDir === '' ? bins.strict : bins.withLogDir, name: 'strict_update', mode: 0o755 },
      ],
    });
    const config = testConfig(fs.path, state.path);
    const bpfLogDir = join(state.path, 'bpf-logs');
    if (logDir === 'set') config.l3afd.bpfLogDir = bpfLogDir;
    const engine = createEngine(config, {
      chainManager: (roots) => new ChainManager({ pinRoot: fs.path, roots }),
      userProgramEnv: { STRICT_ARGS_FILE: argsFile },
    });
    const prog = (rate: string, updateRate: string): BpfProgram => countAndPass('strict-user', 1, {
      artifact: 'l3af_strict_user.tar.gz', version: '1.0', cmd_start: 'strict_user', cmd_update: 'strict_update', user_program_daemon: true,
      start_args: { rate }, update_args: { rate: updateRate }, ebpf_package_repo_url: pathToFileURL(repoDir).href,
    });
    try {
      await engine.start();
      const r = await engine.add(xdpBody(hostName(), iface, [prog('2', '2')]));
      assert.deepEqual(outcomes(r.results), ['strict-user:added']);
      await until(() => existsSync(argsFile), 10_000, 'the user program to write its argv');
      const want = [`--iface=${iface}`, '--direction=xdpingress', '--version=1_0'];
      if (logDir === 'set') want.push(`--log-dir=${bpfLogDir}`);
      want.push('--rate=2');
      assert.deepEqual(readFileSync(argsFile, 'utf8').trim().split('\n'), want, 'cmd_start argv');
      rmSync(`${argsFile}.update`, { force: true });
      const u = await engine.update(xdpBody(hostName(), iface, [prog('2', '3')]));
      assert.ok(u.results.every((x) => x.outcome !== 'failed'), JSON.stringify(u.results));
      await until(() => existsSync(`${argsFile}.update`), 10_000, 'cmd_update to write its argv');
      const upd = readFileSync(`${argsFile}.update`, 'utf8').trim().split('\n');
      const wantUpdate = [`--iface=${iface}`, '--direction=xdpingress', '--cmd=update', '--version=1_0'];
      if (logDir === 'set') wantUpdate.push(`--log-dir=${bpfLogDir}`);
      wantUpdate.push('--rate=3');
      assert.deepEqual(upd, wantUpdate, 'cmd_update argv');
    } finally {
      await engine.stop({ unload: true });
    }
  });
}
