// The process-level guard (issue 14, point 9) in a child process: a thrown exception nobody catches and a
// rejection nobody handles are logged with their context, counted in l3af_agent_unexpected_errors_total, and
// the process keeps running (it answers afterwards and exits 0 on its own).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('unexpected exceptions and rejections: logged with context, counted, the process stays up', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'l3af-guard-'));
  try {
    const script = join(dir, 'child.ts');
    writeFileSync(script, [
      `import { Registry } from ${JSON.stringify(join(root, 'node_modules', 'prom-client', 'index.js'))};`,
      `import { installUnexpectedErrorGuard } from ${JSON.stringify(join(root, 'agent', 'src', 'metrics', 'unexpected-errors.ts'))};`,
      'const registry = new Registry();',
      'const lines: unknown[] = [];',
      'installUnexpectedErrorGuard(registry, { error: (obj, msg) => lines.push({ ...obj, msg }) });',
      "setTimeout(() => { throw Object.assign(new Error('boom in a timer', { cause: new Error('the cause') }), { code: 'EBOOM' }); }, 10);",
      "setTimeout(() => { void Promise.reject(new Error('nobody awaits me')); }, 20);",
      'setTimeout(async () => {',
      "  const text = await registry.getSingleMetricAsString('l3af_agent_unexpected_errors_total');",
      '  process.stdout.write(JSON.stringify({ text, lines }));',
      '}, 200);',
    ].join('\n'));
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, encoding: 'utf8', timeout: 50_000 });
    assert.equal(r.status, 0, `the process stayed up and exited 0 on its own: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as { text: string; lines: { kind: string; origin?: string; msg: string; err: { message: string; code?: string; stack?: string; cause?: { message: string } } }[] };
    assert.match(out.text, /l3af_agent_unexpected_errors_total\{kind="uncaught_exception"\} 1/);
    assert.match(out.text, /l3af_agent_unexpected_errors_total\{kind="unhandled_rejection"\} 1/);
    const [thrown, rejected] = out.lines;
    assert.equal(thrown?.kind, 'uncaught_exception');
    assert.equal(thrown?.err.message, 'boom in a timer');
    assert.equal(thrown?.err.code, 'EBOOM');
    assert.equal(thrown?.err.cause?.message, 'the cause');
    assert.match(thrown?.err.stack ?? '', /child\.ts/);
    assert.equal(rejected?.kind, 'unhandled_rejection');
    assert.equal(rejected?.err.message, 'nobody awaits me');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
