/**
 * Ring buffer and perf buffer consumption that never blocks the event loop. A ring buffer is read
 * from its mapped memory by JavaScript (no libbpf call per record); a perf buffer through libbpf:
 * its epoll fd is watched by libuv (koffi.node.poll), and when it is readable the buffer is
 * drained with the non-blocking perf_buffer__consume. Records are delivered in batches; a ring
 * round stops after `maxBatch` records and resumes on the next loop turn, so a flood cannot starve
 * other work.
 */
import {
  C, koffi, lastErrno, libcCalls, memoryView, perf_buffer_lost_fn, perf_buffer_sample_fn, registerCallback,
  ring_buffer_sample_fn, unregisterCallback, copyOut, type Ptr,
} from './ffi.ts';
import { BpfError } from './errors.ts';
import type { BpfMap } from './map.ts';

export interface ReaderOptions {
  /** Called once per drained batch with the samples in arrival order (ring buffer: views into one copy of the batch). */
  readonly onBatch?: (samples: Buffer[]) => void;
  /** Samples per round before yielding to the event loop. Default 4096 (RingBufferReader: 128). */
  readonly maxBatch?: number;
  /** Called when a callback threw (the sample is still counted). */
  readonly onError?: (err: unknown) => void;
}

type PollHandle = ReturnType<typeof koffi.node.poll>;

const STOP = -11; // returned by our sample callback to end a round early (-EAGAIN)

abstract class BufferReader implements Disposable {
  protected handle: Ptr | null = null;
  protected callbacks: Ptr[] = [];
  #poll: PollHandle | undefined;
  #batch: Buffer[] = [];
  #immediate: NodeJS.Immediate | undefined;
  readonly #opts: ReaderOptions;
  readonly maxBatch: number;
  /** Samples delivered so far. */
  received = 0;

  protected constructor(opts: ReaderOptions) {
    this.#opts = opts;
    this.maxBatch = opts.maxBatch ?? 4096;
  }

  protected abstract consume(): number;
  protected abstract epollFd(): number;
  protected abstract free(): void;

  /** @returns false to stop the round */
  protected push(sample: Buffer): boolean {
    this.#batch.push(sample);
    return this.#batch.length < this.maxBatch;
  }

  /** Starts watching the buffer from the event loop. */
  start(): this {
    if (this.#poll || !this.handle) return this;
    this.#poll = koffi.node.poll(this.epollFd(), { readable: true, writable: false, disconnect: false }, () => this.drain());
    return this;
  }

  /** Drains what is there now (one round, at most maxBatch samples); returns how many were delivered. */
  drain(): number {
    if (!this.handle) return 0;
    const ret = this.consume();
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length > 0) {
      this.received += batch.length;
      try {
        this.#opts.onBatch?.(batch);
      } catch (err) {
        this.#opts.onError?.(err);
      }
    }
    if (ret === STOP && this.handle && !this.#immediate) {
      this.#immediate = setImmediate(() => {
        this.#immediate = undefined;
        this.drain();
      });
    }
    return batch.length;
  }

  /** Stops watching, frees libbpf's side, then releases the callbacks. */
  close(): void {
    this.#poll?.close();
    this.#poll = undefined;
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    if (this.handle) {
      this.free();
      this.handle = null;
    }
    for (const cb of this.callbacks) unregisterCallback(cb);
    this.callbacks = [];
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * A batch of ring-buffer records: one copy of the batch's bytes and where each record lies in it.
 * Owned by whoever receives it (nothing is reused), so records can be decoded later.
 */
export interface RecordBatch {
  readonly count: number;
  readonly bytes: Buffer;
  /** Start of record i in `bytes`. */
  readonly offsets: Uint32Array;
  /** Length of record i. */
  readonly lengths: Uint32Array;
}

/** Record i of a batch as a Buffer (a view into the batch's bytes, no copy). */
export function recordAt(b: RecordBatch, i: number): Buffer {
  const o = b.offsets[i]!;
  return b.bytes.subarray(o, o + b.lengths[i]!);
}

// include/uapi/linux/bpf.h: the 8-byte record header is { u32 len; u32 pg_off }; len's top two bits
// say the record is still being written (busy) or was discarded by the producer.
const BPF_RINGBUF_BUSY_BIT = 0x80000000;
const BPF_RINGBUF_DISCARD_BIT = 0x40000000;
const BPF_RINGBUF_HDR_SZ = 8;
const PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;
const MAP_FAILED = (1n << 64n) - 1n;

/**
 * Reads a BPF_MAP_TYPE_RINGBUF map from its mapped memory, in JavaScript: the consumer page
 * (consumer position, read-write), the producer page (producer position) and the data area, which
 * the kernel maps twice in a row so that a record crossing the end reads as contiguous bytes. Each
 * round reads both positions once, walks the record headers up to a busy record or `maxBatch`
 * records, copies the walked bytes once, advances the consumer position once, then delivers: no
 * call into C and no allocation per record. The map fd itself is what the event loop polls
 * (readable while data is available).
 */
export class RingBufferReader implements Disposable {
  readonly maxBatch: number;
  /** Records delivered so far. */
  received = 0;
  /** Records the producer discarded (skipped). */
  discarded = 0;
  readonly #fd: number;
  readonly #size: number;
  readonly #mask: number;
  readonly #page: number;
  readonly #onBatch: ((samples: Buffer[]) => void) | undefined;
  readonly #onRecords: ((batch: RecordBatch) => void) | undefined;
  readonly #onError: ((err: unknown) => void) | undefined;
  #consPtr: Ptr | null = null;
  #prodPtr: Ptr | null = null;
  #cons: BigUint64Array | undefined;
  #prod: BigUint64Array | undefined;
  #hdr: Uint32Array | undefined;
  #data: Uint8Array | undefined;
  #poll: ReturnType<typeof koffi.node.poll> | undefined;
  #immediate: NodeJS.Immediate | undefined;

  constructor(map: BpfMap, opts: ReaderOptions & { readonly onRecords?: (batch: RecordBatch) => void }) {
    if (map.type !== 'ringbuf') throw new BpfError({ op: 'ring_buffer__new', subject: { map: map.name }, errno: 22, hint: `${map.type} is not a ring buffer` });
    // 128 records a round: a round's events are made, delivered and mostly dropped again before the next
    // one, so they die in the young generation (1 MiB semi-spaces in the agent: bench/lib/agent-flags.ts);
    // rounds of 4096 outlived it and were copied and promoted, and decoding ran at a third of the rate
    this.maxBatch = opts.maxBatch ?? 128;
    this.#onBatch = opts.onBatch;
    this.#onRecords = opts.onRecords;
    this.#onError = opts.onError;
    this.#fd = map.fd;
    this.#size = map.maxEntries;
    this.#mask = this.#size - 1;
    this.#page = libcCalls.getpagesize() as number;
    const cons = libcCalls.mmap(null, this.#page, PROT_READ | PROT_WRITE, MAP_SHARED, this.#fd, 0) as Ptr;
    if (cons === MAP_FAILED || cons === null) throw new BpfError({ op: 'mmap', subject: { map: map.name }, errno: lastErrno() || 22, hint: 'ring buffer consumer page' });
    this.#consPtr = cons;
    const prodLen = this.#page + 2 * this.#size;
    const prod = libcCalls.mmap(null, prodLen, PROT_READ, MAP_SHARED, this.#fd, this.#page) as Ptr;
    if (prod === MAP_FAILED || prod === null) {
      const errno = lastErrno() || 22;
      this.close();
      throw new BpfError({ op: 'mmap', subject: { map: map.name }, errno, hint: 'ring buffer producer page and data' });
    }
    this.#prodPtr = prod;
    this.#cons = new BigUint64Array(memoryView(cons, this.#page), 0, 1);
    const p = memoryView(prod, prodLen);
    this.#prod = new BigUint64Array(p, 0, 1);
    this.#hdr = new Uint32Array(p, this.#page, (2 * this.#size) / 4);
    this.#data = new Uint8Array(p, this.#page, 2 * this.#size);
  }

  /** Starts watching the ring from the event loop. */
  start(): this {
    if (this.#poll || !this.#data) return this;
    this.#poll = koffi.node.poll(this.#fd, { readable: true, writable: false, disconnect: false }, () => this.drain());
    return this;
  }

  /** Drains what is there now (one round, at most maxBatch records); returns how many were delivered. */
  drain(): number {
    const hdr = this.#hdr, data = this.#data, consArr = this.#cons, prodArr = this.#prod;
    if (!hdr || !data || !consArr || !prodArr) return 0;
    const cons = Atomics.load(consArr, 0);
    const avail = Number(Atomics.load(prodArr, 0) - cons);
    if (avail <= 0) return 0;
    const start = Number(cons & BigInt(this.#mask));
    const max = this.maxBatch;
    const offsets = new Uint32Array(Math.min(max, avail >>> 3));
    const lengths = new Uint32Array(offsets.length);
    let pos = 0;
    let n = 0;
    let more = false;
    while (pos < avail) {
      if (n === max) {
        more = true;
        break;
      }
      // the header is written last by the producer (release): an atomic load orders the reads after it
      const len = Atomics.load(hdr, (start + pos) >>> 2);
      if (len & BPF_RINGBUF_BUSY_BIT) break;
      const size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
      if (len & BPF_RINGBUF_DISCARD_BIT) {
        this.discarded++;
      } else {
        offsets[n] = pos + BPF_RINGBUF_HDR_SZ;
        lengths[n] = size;
        n++;
      }
      pos += (size + BPF_RINGBUF_HDR_SZ + 7) & ~7;
    }
    if (pos === 0) return 0;
    // one copy of the walked bytes (contiguous thanks to the double mapping), then hand the space back
    const bytes = Buffer.allocUnsafe(pos);
    bytes.set(data.subarray(start, start + pos));
    Atomics.store(consArr, 0, cons + BigInt(pos));
    if (n > 0) {
      this.received += n;
      const batch: RecordBatch = { count: n, bytes, offsets: offsets.subarray(0, n), lengths: lengths.subarray(0, n) };
      try {
        if (this.#onRecords) this.#onRecords(batch);
        else if (this.#onBatch) {
          const samples = new Array<Buffer>(n);
          for (let i = 0; i < n; i++) samples[i] = recordAt(batch, i);
          this.#onBatch(samples);
        }
      } catch (err) {
        this.#onError?.(err);
      }
    }
    if (more && this.#poll && !this.#immediate) {
      // a full round: yield to the event loop, then continue
      this.#immediate = setImmediate(() => {
        this.#immediate = undefined;
        this.drain();
      });
    }
    return n;
  }

  /** Stops watching and unmaps the ring (the map fd stays its owner's). */
  close(): void {
    this.#poll?.close();
    this.#poll = undefined;
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    this.#cons = this.#prod = this.#hdr = this.#data = undefined;
    if (this.#consPtr !== null) libcCalls.munmap(this.#consPtr, this.#page);
    if (this.#prodPtr !== null) libcCalls.munmap(this.#prodPtr, this.#page + 2 * this.#size);
    this.#consPtr = this.#prodPtr = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Reads a BPF_MAP_TYPE_RINGBUF map through libbpf's ring_buffer (one callback per record): for platforms whose
 * ring buffers cannot be mapped from JavaScript (eBPF-for-Windows). {@link RingBufferReader} is the fast path.
 */
export class LibbpfRingBufferReader extends BufferReader {
  constructor(map: BpfMap, opts: ReaderOptions) {
    super(opts);
    if (map.type !== 'ringbuf') throw new BpfError({ op: 'ring_buffer__new', subject: { map: map.name }, errno: 22, hint: `${map.type} is not a ring buffer` });
    const cb = registerCallback(((_ctx: Ptr, data: Ptr, size: number | bigint) => (this.push(copyOut(data, Number(size))) ? 0 : STOP)) as never, ring_buffer_sample_fn);
    this.callbacks.push(cb);
    const h = C.ring_buffer__new(map.fd, cb, null, null) as Ptr | null;
    if (!h) {
      const errno = lastErrno() || 22;
      this.close();
      throw new BpfError({ op: 'ring_buffer__new', subject: { map: map.name }, errno });
    }
    this.handle = h;
  }
  protected consume(): number {
    return C.ring_buffer__consume(this.handle) as number;
  }
  protected epollFd(): number {
    return C.ring_buffer__epoll_fd(this.handle) as number;
  }
  protected free(): void {
    C.ring_buffer__free(this.handle);
  }
}

/** Reads a BPF_MAP_TYPE_PERF_EVENT_ARRAY map (one ring per CPU). */
export class PerfBufferReader extends BufferReader {
  /** Samples the kernel reported lost (ring full). */
  lost = 0n;

  constructor(map: BpfMap, opts: ReaderOptions & { readonly pagesPerCpu?: number }) {
    super(opts);
    if (map.type !== 'perf_event_array') throw new BpfError({ op: 'perf_buffer__new', subject: { map: map.name }, errno: 22, hint: `${map.type} is not a perf event array` });
    // perf_buffer__consume has no early stop, so a round is as large as what is buffered.
    const sample = registerCallback(((_ctx: Ptr, _cpu: number, data: Ptr, size: number) => {
      this.push(copyOut(data, size));
    }) as never, perf_buffer_sample_fn);
    const lost = registerCallback(((_ctx: Ptr, _cpu: number, cnt: number | bigint) => {
      this.lost += BigInt(cnt);
    }) as never, perf_buffer_lost_fn);
    this.callbacks.push(sample, lost);
    const h = C.perf_buffer__new(map.fd, opts.pagesPerCpu ?? 8, sample, lost, null, null) as Ptr | null;
    if (!h) {
      const errno = lastErrno() || 22;
      this.close();
      throw new BpfError({ op: 'perf_buffer__new', subject: { map: map.name }, errno });
    }
    this.handle = h;
  }
  protected override push(sample: Buffer): boolean {
    super.push(sample);
    return true;
  }
  protected consume(): number {
    return C.perf_buffer__consume(this.handle) as number;
  }
  protected epollFd(): number {
    return C.perf_buffer__epoll_fd(this.handle) as number;
  }
  protected free(): void {
    C.perf_buffer__free(this.handle);
  }
}
