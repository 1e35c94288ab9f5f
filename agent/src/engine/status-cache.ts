/**
 * The engine's GET answer, kept ready: the desired state with each program's live status, computed
 * from the kernel (chain descriptions, attach queries, probe and supervisor state) once per change and
 * once per refresh interval (the sampling tick), never per request. A request reads the last snapshot.
 *
 * Two views of the same snapshot: with `status` (l3afd's GET shape) and without (the desired state
 * alone, for answers that ask for no status). Both are deeply frozen: callers share them.
 */
import type { NormalizedL3afBpfPrograms } from '../payload/index.ts';

/** Options of {@link StatusCache}. */
export interface StatusCacheOptions {
  /** Computes every interface's element with live status (the kernel calls happen here). */
  readonly compute: () => NormalizedL3afBpfPrograms[];
  /** Refresh interval of the status (default 1000 ms, as the map sampler); 0 = only on change. */
  readonly refreshMs?: number;
  /** Told when a computation throws (the previous snapshot is kept). */
  readonly onError?: (err: unknown) => void;
}

type Elements = readonly NormalizedL3afBpfPrograms[];

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** `els` with the `status` of every program left out (new objects; `els` is untouched). */
function withoutStatus(els: Elements): NormalizedL3afBpfPrograms[] {
  return els.map((e) => {
    const lists = Object.fromEntries(Object.entries(e.bpf_programs).map(([k, list]) => [
      k, list === null || list === undefined ? list : (list as Array<Record<string, unknown>>).map(({ status: _s, ...p }) => p),
    ]));
    return { ...e, bpf_programs: lists as NormalizedL3afBpfPrograms['bpf_programs'] };
  });
}

/** The GET snapshot and its refresh. */
export class StatusCache {
  readonly #compute: () => NormalizedL3afBpfPrograms[];
  readonly #refreshMs: number;
  readonly #onError: ((err: unknown) => void) | undefined;
  #withStatus: Elements | undefined;
  #desired: Elements | undefined;
  #timer: NodeJS.Timeout | undefined;
  #refreshes = 0;
  /** Values derived from the current snapshot (its serialized text, its ETag): dropped with it. */
  readonly #derived = new Map<string, unknown>();

  constructor(opts: StatusCacheOptions) {
    this.#compute = opts.compute;
    this.#refreshMs = opts.refreshMs ?? 1000;
    this.#onError = opts.onError;
  }

  /** Recomputes now (after a change; also on the refresh tick). */
  refresh(): void {
    try {
      const els = deepFreeze(this.#compute());
      this.#withStatus = els;
      this.#desired = deepFreeze(withoutStatus(els));
      this.#derived.clear();
      this.#refreshes++;
    } catch (err) {
      this.#onError?.(err);
    }
  }

  /** Starts the periodic refresh (idempotent; the timer does not keep the process alive). */
  start(): void {
    if (this.#timer || this.#refreshMs <= 0) return;
    this.#timer = setInterval(() => this.refresh(), this.#refreshMs);
    this.#timer.unref();
  }

  /** Stops the periodic refresh; the last snapshot stays readable. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Computations so far (for tests: a read must not compute). */
  get refreshes(): number {
    return this.#refreshes;
  }

  /** A value derived from the current snapshot, computed once per snapshot (GET's text, its ETag). */
  derived<T>(key: string, derive: () => T): T {
    this.#view('status');
    if (!this.#derived.has(key)) this.#derived.set(key, derive());
    return this.#derived.get(key) as T;
  }

  #view(which: 'status' | 'desired'): Elements {
    if (this.#withStatus === undefined) this.refresh();
    return (which === 'status' ? this.#withStatus : this.#desired) ?? [];
  }

  /** Every interface (or the one named), each program with its `status`. Shared and frozen. */
  withStatus(iface?: string): NormalizedL3afBpfPrograms[] {
    const all = this.#view('status');
    return iface === undefined ? [...all] : all.filter((e) => e.iface === iface);
  }

  /** The same without `status`. Shared and frozen. */
  desired(iface?: string): NormalizedL3afBpfPrograms[] {
    const all = this.#view('desired');
    return iface === undefined ? [...all] : all.filter((e) => e.iface === iface);
  }
}
