/**
 * ETW as an event source of `GET /l3af/events?source=etw` (Windows): one real-time session
 * (bpf/win32/etw.ts) shared by every subscriber, started with the first and stopped with the last;
 * events decoded by etw-decoder.ts. Per subscriber: delivered and lost counters (lost: events the
 * session lost or that could not be decoded while the subscriber was there).
 */
import { EtwError, EtwSession, type EtwProvider, type EtwRawEvent } from '../bpf/win32/etw.ts';
import { decodeEtwEvent, type EtwEvent } from '../bpf/win32/etw-decoder.ts';

/** eBPF-for-Windows' TraceLogging providers (ebpfcore, netebpfext) and XDP-for-Windows' manifest provider. */
export const DEFAULT_ETW_PROVIDERS: readonly (EtwProvider & { readonly name: string })[] = [
  { name: 'EbpfForWindowsProvider', guid: '394f321c-5cf4-404c-aa34-4df1428a7f9c', level: 4 },
  { name: 'NetEbpfExtProvider', guid: 'f2f2ca01-ad02-4a07-9e90-95a2334f3692', level: 4 },
  { name: 'Microsoft-XDP', guid: '580bbdea-b364-4369-b291-d3539e35d20b', level: 4 },
];

/** One subscriber's view. */
export interface EtwSubscription {
  delivered: number;
  lost: number;
  close(): void;
}

type Session = Pick<EtwSession, 'counters' | 'stop' | 'done'>;
type Starter = (name: string, providers: readonly EtwProvider[], onEvent: (e: EtwRawEvent) => void) => Session;

/** ETW events for SSE subscribers. */
export class EtwEvents {
  readonly #providers: readonly EtwProvider[];
  readonly #sessionName: string;
  readonly #start: Starter;
  #session: Session | null = null;
  readonly #subs = new Set<{ sub: EtwSubscription; onEvent: (e: EtwEvent) => void; onEnd: (err: Error | null) => void }>();

  constructor(opts: { providers?: readonly EtwProvider[]; sessionName?: string; start?: Starter } = {}) {
    this.#providers = opts.providers ?? DEFAULT_ETW_PROVIDERS;
    this.#sessionName = opts.sessionName ?? 'l3af-agent';
    this.#start = opts.start ?? ((n, p, cb) => EtwSession.start(n, p, cb));
  }

  /**
   * Subscribes; the first subscriber starts the session. Throws {@link EtwError} (naming the
   * Win32 call) when the system cannot run a real-time session; `onEnd` hears a later failure.
   */
  subscribe(onEvent: (e: EtwEvent) => void, onEnd: (err: Error | null) => void): EtwSubscription {
    if (this.#session === null) {
      const session = this.#start(this.#sessionName, this.#providers, (raw) => this.#fanOut(raw));
      this.#session = session;
      session.done.then(() => this.#ended(session, null), (err: unknown) => this.#ended(session, err instanceof Error ? err : new Error(String(err))));
    }
    const entry = {
      sub: { delivered: 0, lost: 0, close: () => this.#leave(entry) },
      onEvent, onEnd,
    };
    this.#subs.add(entry);
    return entry.sub;
  }

  #fanOut(raw: EtwRawEvent): void {
    let event: EtwEvent | null = null;
    try {
      event = decodeEtwEvent(raw.record, raw.userData, raw.info);
    } catch {
      event = null;
    }
    for (const s of this.#subs) {
      if (event === null) s.sub.lost++;
      else {
        s.sub.delivered++;
        s.onEvent(event);
      }
    }
  }

  #ended(session: Session, err: Error | null): void {
    if (this.#session !== session) return;
    this.#session = null;
    for (const s of [...this.#subs]) {
      s.sub.lost += session.counters.lost;
      this.#subs.delete(s);
      s.onEnd(err);
    }
  }

  #leave(entry: { sub: EtwSubscription }): void {
    for (const s of this.#subs) if (s.sub === entry.sub) this.#subs.delete(s);
    if (this.#subs.size === 0 && this.#session) {
      const s = this.#session;
      this.#session = null;
      s.stop();
    }
  }

  /** Stops the session. */
  close(): void {
    const s = this.#session;
    this.#session = null;
    s?.stop();
    this.#subs.clear();
  }
}

export { EtwError };
