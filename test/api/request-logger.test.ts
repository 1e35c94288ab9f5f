// req.log: a pino child with the request id, made only when the request writes a line at an enabled level.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { RequestLogger } from '../../agent/src/api/request-logger.ts';

test('no child until a line is written at an enabled level; the lines carry the request id', () => {
  const lines: Array<Record<string, unknown>> = [];
  const out = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
  const parent = pino({ level: 'info' }, out);
  let children = 0;
  const child = parent.child.bind(parent);
  parent.child = ((b: pino.Bindings, o?: pino.ChildLoggerOptions) => { children++; return child(b, o); }) as unknown as typeof parent.child;
  const log = new RequestLogger(parent, { reqId: 'r-1' }, {});
  assert.equal(log.level, 'info');
  log.debug('not written');
  log.trace({ a: 1 }, 'not written');
  assert.equal(children, 0, 'a line below the level makes no child');
  assert.equal(log.isLevelEnabled('debug'), false);
  log.info({ status: 200 }, 'written');
  log.warn('again');
  assert.equal(children, 1, 'one child, made by the first line written');
  assert.deepEqual(lines.map((l) => [l.reqId, l.msg, l.level]), [['r-1', 'written', 30], ['r-1', 'again', 40]]);
  assert.equal(lines[0]!.status, 200);
  // pino's children inherit from their parent: drop the counting wrapper before making a grandchild
  delete (parent as { child?: unknown }).child;
  const sub = log.child({ component: 'x' });
  sub.error('from a child');
  assert.deepEqual([lines[2]!.reqId, lines[2]!.component, lines[2]!.msg], ['r-1', 'x', 'from a child']);
});
