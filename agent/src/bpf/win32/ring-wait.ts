/**
 * eBPF-for-Windows' ring buffer, read the way its docs/RingBuffer.md documents for a mapped-memory
 * consumer: `ebpf_ring_buffer_map_map_buffer` maps the consumer page (read-write), the producer page
 * (read-only; each starts with its 64-bit offset) and the data (mapped twice, so a record that wraps
 * reads in one piece); `ebpf_map_set_wait_handle(fd, 0, event)` makes producers signal a Win32 event;
 * the consumer waits on it (`WaitForSingleObject`, on koffi's worker thread, never on the event loop)
 * and drains. Records: an 8-byte header whose first u32 is the length (bit 31 locked, bit 30
 * discarded), the data, padding to 8 bytes; the consumer stops at a locked record.
 *
 * NOT RUN against real eBPF-for-Windows (no Windows host here): the consumer algorithm and the wait
 * loop are tested with fakes at the FFI boundary (test/bpf/win32/ring-wait.test.ts); the koffi
 * binding ({@link ebpfRingFfi}) follows the header signatures and has never been called.
 */
import koffi from 'koffi';

export const RINGBUF_LOCK_BIT = 0x8000_0000;
export const RINGBUF_DISCARD_BIT = 0x4000_0000;
const HEADER = 8;
const WAIT_OBJECT_0 = 0;
const WAIT_TIMEOUT = 0x102;

/** The mapped ring as the consumer sees it (offsets grow without bound; positions are modulo size). */
export interface RingMemory {
  readonly size: number;
  /** The producer offset (read-acquire). */
  producer(): bigint;
  consumer(): bigint;
  setConsumer(offset: bigint): void;
  /** The first u32 of the record header at data position `pos` (read-acquire). */
  header(pos: number): number;
  /** A copy of `len` bytes at data position `pos` (the double mapping makes wrapping records contiguous). */
  copy(pos: number, len: number): Buffer;
}

/** Reads the records between the consumer and the producer offsets (at most `max`), advancing the consumer. */
export function drainRing(mem: RingMemory, max: number): { records: Buffer[]; discarded: number } {
  const records: Buffer[] = [];
  let discarded = 0;
  let cons = mem.consumer();
  const size = BigInt(mem.size);
  while (records.length < max) {
    const prod = mem.producer();
    if (cons >= prod) break;
    const pos = Number(cons % size);
    const h = mem.header(pos);
    if ((h & RINGBUF_LOCK_BIT) !== 0) break; // not submitted yet: records are read in order
    const len = h & ~(RINGBUF_LOCK_BIT | RINGBUF_DISCARD_BIT) & 0x3fff_ffff;
    if ((h & RINGBUF_DISCARD_BIT) !== 0) discarded++;
    else records.push(mem.copy((pos + HEADER) % mem.size, len));
    cons += BigInt((HEADER + len + 7) & ~7);
    mem.setConsumer(cons);
  }
  return { records, discarded };
}

/** What the reader needs from eBPF-for-Windows and kernel32 (faked in the tests). */
export interface RingFfi {
  /** ebpf_ring_buffer_map_map_buffer; throws with the ebpf_result_t on failure. */
  map(mapFd: number): RingMemory & { unmap(): void };
  /** CreateEventW(NULL, FALSE, FALSE, NULL): an auto-reset event. */
  createEvent(): bigint;
  /** ebpf_map_set_wait_handle(fd, 0, handle): the ebpf_result_t (0 = success). */
  setWaitHandle(mapFd: number, handle: bigint): number;
  /** WaitForSingleObject(handle, timeoutMs) off the event loop; `done` gets its result. */
  wait(handle: bigint, timeoutMs: number, done: (result: number) => void): void;
  closeHandle(handle: bigint): void;
}

export interface RingWaitOptions {
  readonly onBatch: (records: Buffer[]) => void;
  readonly onError?: (err: Error) => void;
  /** Records per drain round. Default 4096. */
  readonly maxBatch?: number;
  /** Longest single wait, so that stop() is noticed. Default 500 ms. */
  readonly waitMs?: number;
}

/** A ring buffer map of eBPF-for-Windows read through its wait handle. */
export class WindowsRingBufferReader {
  readonly #ffi: RingFfi;
  readonly #opts: RingWaitOptions;
  readonly #mem: RingMemory & { unmap(): void };
  readonly #event: bigint;
  #running = false;
  #closed = false;
  /** Records delivered, and discarded records skipped. */
  received = 0;
  discarded = 0;

  constructor(mapFd: number, opts: RingWaitOptions, ffi: RingFfi) {
    this.#ffi = ffi;
    this.#opts = opts;
    this.#mem = ffi.map(mapFd);
    this.#event = ffi.createEvent();
    const r = ffi.setWaitHandle(mapFd, this.#event);
    if (r !== 0) {
      ffi.closeHandle(this.#event);
      this.#mem.unmap();
      throw new Error(`ebpf_map_set_wait_handle failed (ebpf_result_t ${r})`);
    }
  }

  /** Drains what is there, then waits on the event and drains each time it is signalled. */
  start(): this {
    if (this.#running || this.#closed) return this;
    this.#running = true;
    this.#drain();
    this.#wait();
    return this;
  }

  #drain(): void {
    for (;;) {
      const { records, discarded } = drainRing(this.#mem, this.#opts.maxBatch ?? 4096);
      this.discarded += discarded;
      if (records.length === 0) return;
      this.received += records.length;
      this.#opts.onBatch(records);
    }
  }

  #wait(): void {
    this.#ffi.wait(this.#event, this.#opts.waitMs ?? 500, (result) => {
      if (!this.#running) return this.#release();
      if (result !== WAIT_OBJECT_0 && result !== WAIT_TIMEOUT) {
        this.#running = false;
        this.#opts.onError?.(new Error(`WaitForSingleObject failed (result ${result})`));
        return this.#release();
      }
      this.#drain();
      this.#wait();
    });
  }

  /** Stops; the event and the mapping are released when the pending wait returns. */
  stop(): void {
    if (!this.#running) return this.#release();
    this.#running = false;
  }

  #release(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ffi.closeHandle(this.#event);
    this.#mem.unmap();
  }
}

/** The real binding: ebpfapi.dll and kernel32.dll through koffi (Windows only; never run here). */
export function ebpfRingFfi(): RingFfi {
  const ebpf = koffi.load('ebpfapi.dll');
  const k32 = koffi.load('kernel32.dll');
  const mapBuffer = ebpf.func('int ebpf_ring_buffer_map_map_buffer(int map_fd, _Out_ void **consumer, _Out_ void **producer, _Out_ void **data, _Out_ uint64_t *size)');
  const unmapBuffer = ebpf.func('int ebpf_ring_buffer_map_unmap_buffer(int map_fd, void *consumer, void *producer, void *data)');
  const setWait = ebpf.func('int ebpf_map_set_wait_handle(int map_fd, uint64_t index, intptr_t handle)');
  const createEvent = k32.func('intptr_t __stdcall CreateEventW(void *attrs, int manual, int initial, void *name)');
  const waitFor = k32.func('uint32_t __stdcall WaitForSingleObject(intptr_t handle, uint32_t ms)');
  const closeHandle = k32.func('int __stdcall CloseHandle(intptr_t handle)');
  return {
    map(mapFd) {
      const c = [null], p = [null], d = [null], s = [0n];
      const r = mapBuffer(mapFd, c, p, d, s) as number;
      if (r !== 0) throw new Error(`ebpf_ring_buffer_map_map_buffer failed (ebpf_result_t ${r})`);
      const size = Number(s[0]);
      const cons = new BigUint64Array(koffi.view(c[0], 8));
      const prod = new BigUint64Array(koffi.view(p[0], 8));
      const data = Buffer.from(koffi.view(d[0], size * 2)); // mapped twice
      return {
        size,
        producer: () => Atomics.load(prod, 0),
        consumer: () => cons[0] as bigint,
        setConsumer: (v) => { Atomics.store(cons, 0, v); },
        header: (pos) => Atomics.load(new Uint32Array(data.buffer, data.byteOffset + pos, 1), 0),
        copy: (pos, len) => Buffer.from(data.subarray(pos, pos + len)),
        unmap: () => { unmapBuffer(mapFd, c[0], p[0], d[0]); },
      };
    },
    createEvent: () => BigInt(createEvent(null, 0, 0, null) as number | bigint),
    setWaitHandle: (fd, h) => setWait(fd, 0n, h) as number,
    wait: (h, ms, done) => {
      waitFor.async(h, ms, (err: unknown, res: number) => done(err ? -1 : res));
    },
    closeHandle: (h) => { closeHandle(h); },
  };
}
