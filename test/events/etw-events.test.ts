// ETW event source behind GET /l3af/events?source=etw, with the session start injected (the real
// koffi session runs under Wine in test/windows/wine.test.ts): one session for all subscribers,
// per-subscriber delivered/lost, stop with the last, a failing start or ProcessTrace surfaced by call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { EtwEvents } from '../../agent/src/events/etw-events.ts';
import { EtwError, type EtwRawEvent } from '../../agent/src/bpf/win32/etw.ts';
import { EVENT_RECORD, guidBytes } from '../../agent/src/bpf/win32/etw-decoder.ts';
import { eventRoutes } from '../../agent/src/api/events-routes.ts';
import type { EventHub } from '../../agent/src/events/event-hub.ts';

function raw(id: number): EtwRawEvent {
  const record = Buffer.alloc(EVENT_RECORD.size);
  guidBytes('394f321c-5cf4-404c-aa34-4df1428a7f9c').copy(record, EVENT_RECORD.ProviderId);
  record.writeUInt16LE(id, EVENT_RECORD.Id);
  return { record, userData: Buffer.from([id]), info: null };
}

function fakeStart() {
  const calls = { started: 0, stopped: 0, emit: (_e: EtwRawEvent): void => undefined, fail: (_e: Error): void => undefined };
  const start = (_name: string, _p: unknown, onEvent: (e: EtwRawEvent) => void) => {
    calls.started++;
    calls.emit = onEvent;
    let reject: (e: Error) => void = () => undefined;
    let resolve: () => void = () => undefined;
    const done = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    calls.fail = reject;
    return { counters: { delivered: 0, lost: 2 }, done, stop: () => { calls.stopped++; resolve(); } };
  };
  return { calls, start };
}

test('one session for every subscriber; delivered and lost per subscriber; the last leaving stops it', () => {
  const { calls, start } = fakeStart();
  const etw = new EtwEvents({ start });
  const seenA: number[] = [];
  const seenB: number[] = [];
  const a = etw.subscribe((e) => seenA.push(e.id), () => undefined);
  calls.emit(raw(1));
  const b = etw.subscribe((e) => seenB.push(e.id), () => undefined);
  calls.emit(raw(2));
  calls.emit({ record: Buffer.alloc(10), userData: Buffer.alloc(0), info: null }); // undecodable: lost
  assert.equal(calls.started, 1);
  assert.deepEqual([seenA, seenB], [[1, 2], [2]]);
  assert.deepEqual([a.delivered, a.lost, b.delivered, b.lost], [2, 1, 1, 1]);
  a.close();
  assert.equal(calls.stopped, 0);
  b.close();
  assert.equal(calls.stopped, 1);
});

test('GET /l3af/events?source=etw: 503 naming the Win32 call that failed; 404 off Windows; 400 for another source', async () => {
  const hub = { subscribe: () => { throw new Error('not used'); } } as unknown as EventHub;
  const failing = new EtwEvents({ start: () => { throw new EtwError('OpenTraceW', 0, 'returned INVALID_PROCESSTRACE_HANDLE: this system cannot consume a real-time session'); } });
  const app = Fastify();
  await app.register(eventRoutes, { hub, etw: failing });
  const r = await app.inject({ url: '/l3af/events?source=etw' });
  assert.equal(r.statusCode, 503);
  assert.equal(r.json().call, 'OpenTraceW');
  assert.match(r.json().error, /^ETW real-time session unavailable: OpenTraceW failed: .*INVALID_PROCESSTRACE_HANDLE/);
  assert.equal((await app.inject({ url: '/l3af/events?source=perf' })).statusCode, 400);
  await app.close();
  const linux = Fastify();
  await linux.register(eventRoutes, { hub });
  assert.equal((await linux.inject({ url: '/l3af/events?source=etw' })).statusCode, 404);
  await linux.close();
});

test('a ProcessTrace failure after the start ends every subscriber with the call named', async () => {
  const { calls, start } = fakeStart();
  const etw = new EtwEvents({ start });
  const ended: (Error | null)[] = [];
  etw.subscribe(() => undefined, (err) => ended.push(err));
  calls.fail(new EtwError('ProcessTrace', 120));
  await new Promise((r) => setImmediate(r));
  assert.equal(ended.length, 1);
  assert.match(String(ended[0]?.message), /ProcessTrace failed: ERROR_CALL_NOT_IMPLEMENTED \(120\)/);
});
