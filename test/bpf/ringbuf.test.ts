// Ring and perf buffers: N events delivered in order, none lost, without blocking the event loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BpfObject, LibbpfRingBufferReader, RingBufferReader, PerfBufferReader, recordAt, u32, u64, type RecordBatch } from '../../agent/src/bpf/index.ts';
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

test('ring buffer read from its mapped memory: records of varying size across the wraparound, discarded ones skipped, losses counted exactly', async (t) => {
  if (requireRoot(t)) return;
  using obj = BpfObject.open(testObject('kl_ringbuf'));
  obj.load();
  const ctr = obj.map('klr_ctr').typed(u32, u64);
  const batches: RecordBatch[] = [];
  const ring = obj.map('klr_events');
  assert.equal(ring.maxEntries, 16 * 1024);
  using reader = new RingBufferReader(ring, { maxBatch: 100, onRecords: (b) => batches.push(b) });
  const emit = obj.program('xdp_rb_mixed');
  // backlog: 300 runs (100 discarded, 200 written, ~6.4 KiB) before anyone reads
  emit.testRun({ data: Buffer.alloc(64), repeat: 300 });
  reader.start();
  // live: 40 rounds of 300 runs, each waiting for the reader; 16 KiB wraps around many times (~260 KiB in all)
  for (let i = 0; i < 40; i++) {
    const want = (i + 1) * 200;
    await eventually(`${want} records`, () => reader.received >= want);
    emit.testRun({ data: Buffer.alloc(64), repeat: 300 });
  }
  await eventually('8200 records', () => reader.received >= 8200);
  // a flood the ring cannot hold: 3000 runs at once; what does not fit is counted by the program
  emit.testRun({ data: Buffer.alloc(64), repeat: 3000 });
  const runs = 41 * 300 + 3000;
  await eventually('the flood drained', () => {
    const lost = Number(ctr.get(1));
    return reader.received + reader.discarded + lost === runs;
  });
  reader.close();
  const lost = Number(ctr.get(1));
  const discarded = Number(ctr.get(2));
  assert.equal(Number(ctr.get(0)), runs);
  assert.ok(lost > 0, 'the flood overflowed the 16 KiB ring');
  assert.equal(reader.discarded, discarded, 'every discarded record was skipped');
  assert.equal(reader.received + reader.discarded + lost, runs, 'written + discarded + lost = runs: nothing lost unseen');
  const seq: number[] = [];
  for (const b of batches) {
    assert.ok(b.count <= 100, 'batches bounded');
    for (let i = 0; i < b.count; i++) {
      const r = recordAt(b, i);
      const s = Number(r.readBigUInt64LE(0));
      assert.notEqual(s % 3, 2, 'no discarded record delivered');
      assert.equal(r.length, 16 + (s % 4) * 8, `record ${s}: its size`);
      assert.equal(r.readUInt32LE(8), r.length);
      assert.equal(r.readUInt32LE(12), (0xabcd0000 | (s & 0xffff)) >>> 0, `record ${s}: its payload`);
      seq.push(s);
    }
  }
  assert.equal(seq.length, reader.received);
  assert.ok(seq.every((s, i) => i === 0 || s > seq[i - 1]!), 'in order, none repeated');
  // before the flood every run's record arrived (no gap but the discarded ones)
  const early = seq.filter((s) => s < 41 * 300);
  assert.deepEqual(early, Array.from({ length: 41 * 300 }, (_, i) => i).filter((s) => s % 3 !== 2));
  assert.equal(reader.drain(), 0, 'closed reader delivers nothing');
});

test('ring buffer through libbpf callbacks (the path for platforms that cannot map it): backlog in order, none lost', async (t) => {
  if (requireRoot(t)) return;
  using obj = BpfObject.open(testObject('kl_basic'));
  obj.load();
  const got: Buffer[] = [];
  using reader = new LibbpfRingBufferReader(obj.map('kl_events'), { maxBatch: 500, onBatch: (b) => got.push(...b) });
  obj.program('xdp_emit').testRun({ data: Buffer.alloc(64), repeat: 2000 });
  reader.start();
  await eventually('2000 events', () => got.length >= 2000);
  assert.deepEqual(seqs(got), Array.from({ length: 2000 }, (_, i) => BigInt(i)));
});
