/**
 * Ring buffer and perf buffer consumption that never blocks the event loop: libbpf's epoll fd
 * is watched by libuv (koffi.node.poll), and when it is readable the buffer is drained with
 * the non-blocking *__consume call. Samples are copied out during the callback and delivered
 * in batches; a round stops after `maxBatch` samples and resumes on the next loop turn, so a
 * flood cannot starve other work.
 */
import {
  C, koffi, lastErrno, perf_buffer_lost_fn, perf_buffer_sample_fn, registerCallback, ring_buffer_sample_fn,
  unregisterCallback, copyOut, type Ptr,
} from './ffi.ts';
import { BpfError } from './errors.ts';
import type { BpfMap } from './map.ts';

export interface ReaderOptions {
  /** Called once per drained batch with the samples in arrival order. */
  readonly onBatch: (samples: Buffer[]) => void;
  /** Samples per round before yielding to the event loop. Default 4096. */
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
        this.#opts.onBatch(batch);
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

/** Reads a BPF_MAP_TYPE_RINGBUF map. */
export class RingBufferReader extends BufferReader {
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
