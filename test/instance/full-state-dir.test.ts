// A state directory on a full file system at start: the agent refuses to start naming the file it could not write
// (the state-directory lock), the directory and the cause (ENOSPC, file system full), not a "single instance"
// conflict. The file system is a small tmpfs this test mounts and fills.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrivateBpffs, skipUnless } from '../harness/index.ts';
import { StateDir } from '../engine/helpers.ts';
import { agentConfig, spawnAgent } from '../harness/agent-process.ts';
import { freePort } from '../harness/net.ts';

const skip = await skipUnless('root', 'bpffs');

test('a full state directory at start: exit 1 naming the lock file and ENOSPC', { skip, timeout: 120_000 }, async () => {
  await using bpffs = await PrivateBpffs.create();
  using state = new StateDir();
  const mnt = mkdtempSync(join(tmpdir(), `l3af-fullstate-${process.pid}-`));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32k,mode=0755', 'tmpfs', mnt]);
  try {
    const config = agentConfig({ stateDir: mnt, pinRoot: bpffs.path, port: await freePort(), pidFile: join(state.path, 'l3afd.pid') });
    // fill what is left
    let n = 0;
    for (let size = 4096; size >= 1; size = Math.floor(size / 2)) {
      for (;;) {
        try { writeFileSync(join(mnt, `fill-${n++}`), Buffer.alloc(size, 0x41)); } catch { break; }
      }
    }
    const agent = spawnAgent(config);
    const end = await agent.exited;
    assert.equal(end.code, 1);
    const err = agent.stderr.join('');
    assert.ok(err.includes(join(mnt, 'agent.lock')), err);
    assert.match(err, /state directory file .* cannot be written \(the file system holding it is full\): ENOSPC/);
    assert.doesNotMatch(err, /single instance|another agent/);
  } finally {
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});
