// l3afd's logging keys: console lines (json-format-logs = false), and file-log-location with size rotation,
// a bounded number of backups and an age limit (file-log-max-size / -max-backups / -max-age).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RotatingFile, consoleLine } from '../agent/src/log-output.ts';
import { createLogger, logOutputOptions } from '../agent/src/log.ts';
import { defaultConfig } from '../agent/src/config/index.ts';

test('console lines: time, level, message, then the fields (pid/name hidden)', () => {
  const line = consoleLine(JSON.stringify({ level: 40, time: '2026-12-04T10:00:00.000Z', pid: 1, name: 'l3af', msg: 'stale PID file taken over', file: '/run/l3afd.pid', n: 3, why: 'not running' }));
  assert.equal(line, '2026-12-04T10:00:00.000Z WRN stale PID file taken over file=/run/l3afd.pid n=3 why="not running"\n');
  assert.equal(consoleLine('not json'), 'not json\n');
});

test('file-log-location: every line in the file, rotated by size, backups bounded, old ones removed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'l3af-log-'));
  try {
    const path = join(dir, 'sub', 'l3afd.log');
    const f = new RotatingFile({ path, maxBytes: 100, maxBackups: 2, maxAgeDays: 0 });
    for (let i = 0; i < 10; i++) f.write(`${String(i).padStart(2, '0')} ${'x'.repeat(36)}\n`); // 40 bytes a line: 2 per file
    f.close();
    assert.equal(readFileSync(path, 'utf8').split('\n')[0]?.slice(0, 2), '08');
    assert.deepEqual(f.backups(), [`${path}.1`, `${path}.2`], 'two backups kept');
    assert.equal(readFileSync(`${path}.1`, 'utf8').slice(0, 2), '06');
    assert.equal(existsSync(`${path}.3`), false);
    // age: a backup older than max-age days goes at the next open
    const old = new Date(Date.now() - 3 * 86_400_000);
    utimesSync(`${path}.2`, old, old);
    const g = new RotatingFile({ path, maxBytes: 100, maxBackups: 0, maxAgeDays: 2 });
    g.close();
    assert.deepEqual(g.backups(), [`${path}.1`]);
    assert.throws(() => new RotatingFile({ path, maxBytes: 0, maxBackups: 1, maxAgeDays: 1 }), /file-log-max-size/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('logOutputOptions maps the [l3afd] keys; the logger writes console lines to the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'l3af-log-'));
  try {
    const c = structuredClone(defaultConfig({ stateDir: dir }));
    assert.deepEqual(logOutputOptions(c), { console: false }, 'embedded default: JSON, no file');
    c.l3afd.jsonFormatLogs = false;
    c.l3afd.fileLogLocation = join(dir, 'agent.log');
    c.l3afd.fileLogMaxSize = 2;
    const o = logOutputOptions(c);
    assert.deepEqual(o, { console: true, file: { path: join(dir, 'agent.log'), maxBytes: 2 * 1024 * 1024, maxBackups: 10, maxAgeDays: 60 } });
    const logger = createLogger({ ...o, env: {} });
    logger.info({ iface: 'eth0' }, 'hello file');
    const text = readFileSync(join(dir, 'agent.log'), 'utf8');
    assert.match(text, /^\S+ INF hello file iface=eth0\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
