// A CPU profiler's SIGPROF does not make program loads fail: the kernel layer blocks SIGPROF while the
// verifier runs (a pending signal makes it give up with EAGAIN, on every libbpf retry).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireRoot } from '../harness/index.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

test('node --cpu-prof (SIGPROF every 100 µs): every load succeeds and the profile is written', (t) => {
  if (requireRoot(t)) return;
  const dir = mkdtempSync(join(tmpdir(), `l3af-cpuprof-${process.pid}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '100', '--import', 'tsx', 'test/bpf/fixtures/load-under-profiler.ts'], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^loaded 10\n/, r.stdout);
  assert.ok(readdirSync(dir).some((f) => f.endsWith('.cpuprofile')), 'the profiler ran');
});
