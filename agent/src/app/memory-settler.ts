/**
 * Gives memory back once one-off work is over. Start-up and every change (fetching and unpacking a
 * package, loading and verifying an object) leave garbage in V8's heap and freed blocks in the C
 * heap; an idle agent allocates too little for V8 to collect on its own soon, so the process would
 * stay at its peak. A short while after the last change, the settler runs full collections (enough
 * of them for V8 to flush the bytecode of code that ran once) and trims the C heap. The data plane
 * is not involved: this is the agent's own main thread (about 90 ms), once per burst of changes,
 * never inside a request.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { trimNativeHeap } from '../bpf/index.ts';
import type { Logger } from '../logger.ts';

/** V8's full collection: `gc` when node runs with --expose-gc, otherwise exposed for a fresh context only. */
function fullCollection(): (() => void) | undefined {
  const given = (globalThis as { gc?: unknown }).gc;
  if (typeof given === 'function') return given as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    setFlagsFromString('--no-expose-gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** Full collections per settling: one more than V8's bytecode age limit, so code that ran once is flushed. */
const BYTECODE_AGE_COLLECTIONS = 6;

const rssMiB = (): number => Math.round((process.memoryUsage.rss() / 1048576) * 10) / 10;

/** Settles memory `delayMs` after the last {@link soon} (debounced). */
export class MemorySettler {
  readonly #gc = fullCollection();
  #timer: NodeJS.Timeout | undefined;
  /** How many times it settled; the resident size before and after the last time (MiB) and how long it took. */
  settled = 0;
  last: { beforeMiB: number; afterMiB: number; ms: number } | undefined;

  constructor(private readonly logger: Logger, private readonly delayMs = 2_000) {}

  /** Something one-off just ended: settle once things are quiet. */
  soon(): void {
    if (this.#timer) this.#timer.refresh();
    else this.#timer = setTimeout(() => this.settle(), this.delayMs).unref();
  }

  /** Collects now: full V8 collections, then the C heap. */
  settle(): void {
    this.#timer = undefined;
    const beforeMiB = rssMiB();
    const t0 = performance.now();
    // V8 drops the bytecode of a function only after it went unused through several full collections
    // (--bytecode-old-age, 5): start-up code (configuration, schemas, routes) runs once
    for (let i = 0; i < BYTECODE_AGE_COLLECTIONS; i++) this.#gc?.();
    trimNativeHeap();
    this.settled++;
    this.last = { beforeMiB, afterMiB: rssMiB(), ms: Math.round(performance.now() - t0) };
    this.logger.debug({ ...this.last, gc: this.#gc !== undefined }, 'memory settled after a change');
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
