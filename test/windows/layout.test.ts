// Windows struct layouts of the agent (Job Objects, ETW consumer and tdh buffers) against a probe
// compiled with mingw-w64's headers (x86_64-w64-mingw32-gcc) and run under Wine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { windowsLayouts } from '../../agent/src/bpf/win32/layouts.ts';
import { ROOT, WINE, mingw, prepareWine, runUnderWine, wineMissing } from './wine-env.ts';

const missing = wineMissing();

test('Windows layouts: every size and offset the agent uses equals mingw-w64\'s, measured under Wine', { skip: missing }, () => {
  const dir = mkdtempSync(join(tmpdir(), `l3af-layout-${process.pid}-`));
  try {
    const exe = join(dir, 'layout-probe.exe');
    mingw(join(ROOT, 'test', 'windows', 'fixtures', 'layout-probe.c'), exe);
    const wine = prepareWine();
    const r = runUnderWine(wine, [exe], join(dir, 'out.txt'), dir, 120_000);
    assert.equal(r.status, 0, `${WINE} ${exe}: ${r.output}`);
    const probe = JSON.parse(r.output) as Record<string, Record<string, number>>;
    const ours = windowsLayouts();
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(probe).sort());
    for (const [type, layout] of Object.entries(ours)) assert.deepEqual(layout, probe[type], type);
    console.log(Object.entries(probe).map(([t, l]) => `${t} ${l.size}`).join(', '));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
