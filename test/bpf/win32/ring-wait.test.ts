// eBPF-for-Windows' ring buffer wait model with fakes at the FFI boundary: a fake mapped ring
// (producer/consumer offsets, 8-byte record headers with lock/discard bits, double-mapped data) and a
// fake event/wait. Never run against real eBPF-for-Windows (no Windows host here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RINGBUF_DISCARD_BIT, RINGBUF_LOCK_BIT, WindowsRingBufferReader, drainRing, type RingFfi, type RingMemory } from '../../../agent/src/bpf/win32/ring-wait.ts';

/** A ring of `size` bytes, mapped twice, written the way the docs' producer does. */
class FakeRing implements RingMemory {
  readonly size: number;
  readonly data: Buffer;
  prod = 0n;
  cons = 0n;
  unmapped = false;
  constructor(size: number) {
    this.size = size;
    this.data = Buffer.alloc(size * 2);
  }
  #write(pos: number, b: Buffer): void {
    for (let i = 0; i < b.length; i++) {
      const p = (pos + i) % this.size;
      this.data[p] = b[i] as number;
      this.data[p + this.size] = b[i] as number; // the second mapping
    }
  }
  /** Reserves and (unless `locked`) submits one record; returns its header position. */
  put(payload: string, flags = 0): number {
    const body = Buffer.from(payload);
    const pos = Number(this.prod % BigInt(this.size));
    const h = Buffer.alloc(8);
    h.writeUInt32LE((body.length | flags) >>> 0, 0);
    this.#write(pos, Buffer.concat([h, body]));
    this.prod += BigInt((8 + body.length + 7) & ~7);
    return pos;
  }
  unlock(pos: number): void {
    const h = this.data.readUInt32LE(pos) & ~RINGBUF_LOCK_BIT;
    const b = Buffer.alloc(4);
    b.writeUInt32LE(h >>> 0, 0);
    this.#write(pos, b);
  }
  producer(): bigint { return this.prod; }
  consumer(): bigint { return this.cons; }
  setConsumer(v: bigint): void { this.cons = v; }
  header(pos: number): number { return this.data.readUInt32LE(pos); }
  copy(pos: number, len: number): Buffer { return Buffer.from(this.data.subarray(pos, pos + len)); }
}

test('drainRing: records in order, padding to 8 bytes, discarded skipped, stops at a locked record, wraps', () => {
  const ring = new FakeRing(64);
  ring.put('abc');
  ring.put('gone', RINGBUF_DISCARD_BIT);
  const locked = ring.put('later', RINGBUF_LOCK_BIT);
  let r = drainRing(ring, 100);
  assert.deepEqual(r.records.map(String), ['abc']);
  assert.equal(r.discarded, 1);
  assert.equal(ring.cons, 16n + 16n, 'consumer advanced past the two records (header + padded data)');
  ring.unlock(locked);
  ring.put('wraps-around!'); // 8 + 13 -> 24 bytes at position 48: crosses the end of the 64-byte ring
  r = drainRing(ring, 100);
  assert.deepEqual(r.records.map(String), ['later', 'wraps-around!']);
  assert.equal(ring.cons, ring.prod);
  assert.deepEqual(drainRing(ring, 100).records, []);
  for (let i = 0; i < 3; i++) ring.put(`n${i}`);
  assert.deepEqual(drainRing(ring, 2).records.map(String), ['n0', 'n1'], 'at most max per round');
});

function fakeFfi(ring: FakeRing, setResult = 0): RingFfi & { waits: ((r: number) => void)[]; closed: bigint[]; waitHandle?: bigint } {
  const f = {
    waits: [] as ((r: number) => void)[],
    closed: [] as bigint[],
    waitHandle: undefined as bigint | undefined,
    map: () => Object.assign(ring, { unmap: () => { ring.unmapped = true; } }),
    createEvent: () => 0x44n,
    setWaitHandle: (_fd: number, h: bigint) => { f.waitHandle = h; return setResult; },
    wait: (_h: bigint, _ms: number, done: (r: number) => void) => { f.waits.push(done); },
    closeHandle: (h: bigint) => { f.closed.push(h); },
  };
  return f;
}

test('WindowsRingBufferReader: sets the wait handle, drains at start and on each signal, releases on stop', () => {
  const ring = new FakeRing(256);
  const ffi = fakeFfi(ring);
  const got: string[] = [];
  ring.put('before');
  const r = new WindowsRingBufferReader(7, { onBatch: (b) => got.push(...b.map(String)) }, ffi).start();
  assert.equal(ffi.waitHandle, 0x44n);
  assert.deepEqual(got, ['before']);
  assert.equal(ffi.waits.length, 1, 'waiting on the event');
  ring.put('one');
  ring.put('two');
  ffi.waits.shift()?.(0); // WAIT_OBJECT_0
  assert.deepEqual(got, ['before', 'one', 'two']);
  ffi.waits.shift()?.(0x102); // WAIT_TIMEOUT: nothing new, waits again
  assert.equal(r.received, 3);
  r.stop();
  assert.deepEqual(ffi.closed, [], 'released only when the pending wait returns');
  ffi.waits.shift()?.(0);
  assert.deepEqual(ffi.closed, [0x44n]);
  assert.equal(ring.unmapped, true);
  assert.equal(ffi.waits.length, 0);
});

test('WindowsRingBufferReader: a failed wait is reported and ends the reader; a refused wait handle throws and releases', () => {
  const ring = new FakeRing(64);
  const ffi = fakeFfi(ring);
  const errors: string[] = [];
  new WindowsRingBufferReader(3, { onBatch: () => undefined, onError: (e) => errors.push(e.message) }, ffi).start();
  ffi.waits.shift()?.(0xffffffff); // WAIT_FAILED
  assert.deepEqual(errors, ['WaitForSingleObject failed (result 4294967295)']);
  assert.deepEqual(ffi.closed, [0x44n]);
  const ring2 = new FakeRing(64);
  const refused = fakeFfi(ring2, -5);
  assert.throws(() => new WindowsRingBufferReader(3, { onBatch: () => undefined }, refused), /ebpf_map_set_wait_handle failed \(ebpf_result_t -5\)/);
  assert.deepEqual(refused.closed, [0x44n]);
  assert.equal(ring2.unmapped, true);
});
