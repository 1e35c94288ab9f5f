// [graceful-restart] restart-artifacts-url (issue 13 point 15): the agent's own l3afd-style artifact
// (programs/bundle.ts: {url}/{version}/l3afd.tar.gz, folder l3afd/ with launcher, bundle and koffi) is downloaded and
// installed into basepath/<version> before a hand-over, as l3afd does; the installed build is found and runs with an
// environment holding only PATH (to node): it starts, serves the REST API on its config and stops on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultConfig } from '../../agent/src/config/index.ts';
import { buildUrl, installBuild, resolveBuild } from '../../agent/src/instance/handover.ts';
import { buildAgentArtifact } from '../../programs/bundle.ts';
import { PrivateBpffs, skipUnless } from '../harness/index.ts';
import { ROOT, StateDir } from '../engine/helpers.ts';
import { freePort } from '../harness/net.ts';

const skip = await skipUnless('root', 'bpffs');

test('a missing build is downloaded from restart-artifacts-url/<version>/l3afd.tar.gz, installed, and runs on its own', { skip, timeout: 300_000 }, async () => {
  await using bpffs = await PrivateBpffs.create();
  using state = new StateDir();
  const builds = join(state.path, 'builds');
  const artifact = await buildAgentArtifact(builds, 'v1.2.3');
  assert.equal(artifact, join(builds, 'v1.2.3', 'l3afd.tar.gz'));
  const config = structuredClone(defaultConfig({ stateDir: join(state.path, 'agent'), projectRoot: ROOT }));
  config.gracefulRestart.restartArtifactsUrl = pathToFileURL(builds).href;
  config.gracefulRestart.basepath = join(state.path, 'basepath');
  assert.equal(buildUrl(config, 'v1.2.3').href, pathToFileURL(artifact).href);
  const lines: string[] = [];
  const logger = { debug: () => undefined, info: (_o: Record<string, unknown>, m: string) => lines.push(m), warn: () => undefined, error: () => undefined };
  assert.equal(await installBuild(config, 'v1.2.3', logger), true, 'downloaded');
  assert.equal(await installBuild(config, 'v1.2.3', logger), false, 'installed already: no second download');
  await assert.rejects(installBuild(config, 'v9.9.9', logger), /no build of v9\.9\.9 is installed: .* is not there/);
  assert.equal(existsSync(join(config.gracefulRestart.basepath, 'v9.9.9')), false, 'nothing left of a failed download');
  const entry = resolveBuild(config, 'v1.2.3');
  assert.equal(entry.command, join(config.gracefulRestart.basepath, 'v1.2.3', 'l3afd', 'l3af-agent'));

  // the installed build on its own: only node on PATH, cwd /, a YAML config over a private bpffs
  const port = await freePort();
  const dir = join(state.path, 'run');
  mkdirSync(dir, { recursive: true });
  const cfg = join(dir, 'agent.yaml');
  writeFileSync(cfg, [
    'l3afd:', `  pid-file: ${join(dir, 'l3afd.pid')}`, '  datacenter: t', `  bpf-dir: ${join(dir, 'pkgs')}`, '  bpf-chaining-enabled: true',
    `  BpfMapDefaultPath: ${bpffs.path}`, 'ebpf-repo:', `  url: ${pathToFileURL(join(ROOT, 'programs', 'repo')).href}`,
    'l3af-configs:', `  restapi-addr: 127.0.0.1:${port}`, 'l3af-config-store:', `  filename: ${join(dir, 'store.json')}`,
    'mtls:', '  enabled: false', 'web:', '  metrics-addr: 127.0.0.1:0', 'l3af:', `  state-dir: ${dir}`, '',
  ].join('\n'));
  const child = spawn(entry.command, ['--config', cfg], { cwd: '/', env: { PATH: dirname(process.execPath) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 60_000;
    while (!out.includes('"msg":"REST API listening"')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the installed build did not serve: ${out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const got = await fetch(`http://127.0.0.1:${port}/l3af/configs/v1`);
    assert.equal(got.status, 200);
    assert.deepEqual(await got.json(), []);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out.slice(-2000));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
