// Ring and perf buffers: N events delivered in order, none lost, without blocking the event loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BpfObject, RingBufferReader, PerfBufferReader } from '../../agent/src/bpf/index.ts';
import { requireRoot } from '../harness/index.ts';
import { eventually, testObject } from './fixtures.ts';

function seqs(samples: Buffer[]): bigint[] {
  return samples.map((s) => s.readBigUInt64LE(0));
}

test('ring buffer: a backlog drains in bounded batches, in order, none lost', async (t) => {
  if (requireRoot(t)) return;
  using obj = BpfObject.open(testObject('kl_basic'));
  obj.load();
  const got: Buffer[] = [];
  const batches: number[] = [];
  using reader = new RingBufferReader(obj.map('kl_events'), { maxBatch: 1000, onBatch: (b) => { batches.push(b.length); got.push(...b); } });
  const emit = obj.program('xdp_emit');
  // a 256 KiB ring holds ~10k of these 24-byte records: produce 8000 before anyone reads
  const r = emit.testRun({ data: Buffer.alloc(64), repeat: 8000 });
  assert.equal(r.retval, 2, 'no reservation failed');
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 0);
  reader.start();
  await eventually('8000 events', () => got.length >= 8000);
  clearInterval(ticker);
  assert.equal(got.length, 8000);
  assert.deepEqual(seqs(got), Array.from({ length: 8000 }, (_, i) => BigInt(i)), 'in order, none lost or repeated');
  assert.ok(batches.every((n) => n <= 1000), `batches bounded: ${batches.join(',')}`);
  assert.ok(batches.length >= 8, 'the backlog was split across event-loop turns');
  assert.ok(ticks > 0, 'timers ran while draining');
  assert.ok(got.every((s) => s.readUInt32LE(8) === 64), 'payload decoded: packet length');

  // live: events produced while the reader is attached to the event loop arrive too
  for (let i = 0; i < 20; i++) {
    emit.testRun({ data: Buffer.alloc(64), repeat: 500 });
    await new Promise((res) => setImmediate(res));
  }
  await eventually('18000 events', () => got.length >= 18_000);
  assert.deepEqual(seqs(got.slice(8000)), Array.from({ length: 10_000 }, (_, i) => BigInt(8000 + i)));
  reader.close();
  assert.equal(reader.drain(), 0, 'closed reader delivers nothing');
});

test('perf buffer: events from the per-CPU rings arrive, none lost', async (t) => {
  if (requireRoot(t)) return;
  using obj = BpfObject.open(testObject('kl_basic'));
  obj.load();
  const got: Buffer[] = [];
  using reader = new PerfBufferReader(obj.map('kl_perf'), { pagesPerCpu: 64, onBatch: (b) => got.push(...b) }).start();
  const prog = obj.program('xdp_perf');
  for (let i = 0; i < 10; i++) {
    prog.testRun({ data: Buffer.alloc(64), repeat: 300 });
    await new Promise((res) => setImmediate(res));
  }
  await eventually('3000 perf events', () => got.length >= 3000);
  assert.equal(reader.lost, 0n);
  // every number exactly once; within one CPU's ring, in order (the rings are read one after another)
  assert.equal(got.length, 3000);
  assert.deepEqual(seqs(got).sort((a, b) => (a < b ? -1 : 1)), Array.from({ length: 3000 }, (_, i) => BigInt(i)));
  const byCpu = new Map<number, bigint[]>();
  for (const s of got) byCpu.set(s.readUInt32LE(12), [...(byCpu.get(s.readUInt32LE(12)) ?? []), s.readBigUInt64LE(0)]);
  for (const v of byCpu.values()) assert.ok(v.every((x, i) => i === 0 || x > v[i - 1]!), 'ordered within a CPU');
});

test('a reader refuses a map of the wrong type', (t) => {
  if (requireRoot(t)) return;
  using obj = BpfObject.open(testObject('kl_basic'));
  obj.load();
  assert.throws(() => new RingBufferReader(obj.map('kl_hash'), { onBatch: () => {} }), /not a ring buffer/);
  assert.throws(() => new PerfBufferReader(obj.map('kl_events'), { onBatch: () => {} }), /not a perf event array/);
});
