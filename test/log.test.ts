import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { prettyLogs } from '../agent/src/log.ts';
import { defaultConfig } from '../agent/src/config/index.ts';

test('log-format: pretty always, json never, auto only on a terminal', () => {
  assert.equal(prettyLogs('pretty', false), true);
  assert.equal(prettyLogs('json', true), false);
  assert.equal(prettyLogs('auto', true), true);
  assert.equal(prettyLogs('auto', false), false);
});

test('the embedded default: Swagger UI on, log format auto', () => {
  const c = defaultConfig({ projectRoot: '/tmp/l3af-x' });
  assert.equal(c.l3afd.swaggerApiEnabled, true);
  assert.equal(c.l3af.logFormat, 'auto');
});

const logModule = fileURLToPath(new URL('../agent/src/log.ts', import.meta.url));
function logLine(format: string): string {
  const code = `import { createLogger } from ${JSON.stringify(logModule)}; createLogger({ format: ${JSON.stringify(format)}, env: {} }).info({ iface: 'l3af0' }, 'hello');`;
  const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(res.status, 0, res.stderr);
  return res.stdout;
}

test('stdout not a terminal: auto and json write one JSON object per line; pretty writes readable text', () => {
  for (const f of ['auto', 'json']) {
    const obj = JSON.parse(logLine(f)) as { msg: string; iface: string; level: number };
    assert.deepEqual([obj.msg, obj.iface, obj.level], ['hello', 'l3af0', 30]);
  }
  const pretty = logLine('pretty');
  assert.throws(() => JSON.parse(pretty));
  assert.match(pretty, /INFO.*hello/);
  assert.match(pretty, /iface.*"l3af0"/);
});
