// [l3afd] max-ebpf-restart-count bounds the restarts of a crashing user program (it was read and ignored: the
// supervisor's own budget of 5 applied). With the key at 1: one restart, then the program is given up (GET says so).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { createEngine, type ProgramStatus } from '../../agent/src/engine/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { platformName } from '../../agent/src/platform/platform-name.ts';
import { BUILD_DIR } from '../../programs/packages.ts';
import { writePackage } from '../../programs/repository.ts';
import { skipUnless, EngineLab } from '../harness/index.ts';
import { countAndPass, testConfig, xdpBody } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

const CRASHER = '#!/bin/sh\nsleep 0.8\necho "fatal: simulated crash" >&2\nexit 3\n';

test('max-ebpf-restart-count = 1: a crashing user program is restarted once, then given up', { skip, timeout: 120_000 }, async () => {
  await using bed = await EngineLab.create();
  const { fs, state, iface } = bed;
  const repoDir = join(state.path, 'crash-repo');
  const script = join(state.path, 'crasher.sh');
  writeFileSync(script, CRASHER, { mode: 0o755 });
  await writePackage(repoDir, platformName(), {
    name: 'cap-crash', artifact: 'l3af_cap_crash.tar.gz', version: '1.0.0',
    files: [{ source: join(BUILD_DIR, 'count_and_pass.bpf.o'), name: 'count_and_pass.bpf.o' }, { source: script, name: 'crasher.sh', mode: 0o755 }],
  });
  const config = testConfig(fs.path, state.path);
  config.web.ebpfPollIntervalMs = 100;
  config.l3afd.maxEbpfRestartCount = 1;
  const engine = createEngine(config, { chainManager: (roots) => new ChainManager({ pinRoot: fs.path, roots }) });
  try {
    await engine.start();
    const r = await engine.add(xdpBody(hostName(), iface, [countAndPass('cap-crash', 1, {
      artifact: 'l3af_cap_crash.tar.gz', version: '1.0.0', cmd_start: 'crasher.sh', user_program_daemon: true, ebpf_package_repo_url: pathToFileURL(repoDir).href,
    })]));
    assert.equal(r.results[0]?.outcome, 'added', JSON.stringify(r.results));
    const status = (): ProgramStatus | undefined => (engine.get(iface)[0]?.bpf_programs.xdp_ingress?.[0] as unknown as { status?: ProgramStatus } | undefined)?.status;
    const deadline = Date.now() + 30_000;
    while (status()?.user_program?.state !== 'failed') {
      if (Date.now() > deadline) throw new Error(`not given up: ${JSON.stringify(status())}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(status()?.user_program?.restarts, 1, 'restarted exactly max-ebpf-restart-count times');
    assert.match(status()?.last_error ?? '', /gave up after 1 restart/);
  } finally {
    await engine.stop({ unload: true });
  }
});
