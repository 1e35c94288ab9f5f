/**
 * Live event streams of running programs. For each running program with a registered
 * {@link EventSource}, the hub opens the producer (the pinned ring buffer) and turns event
 * production on in the kernel only while at least one subscriber's filter matches it; when the
 * last one leaves, production is turned off and the producer closed. Which maps a program streams
 * and how they are decoded follow its payload's `event_maps` (see {@link sourcesFor}); the
 * decoder is built once when a stream opens (from BTF for format btf). Records arrive in batches
 * (one copy of the bytes per batch); each becomes one event, fanned out to every matching subscriber
 * through a bounded queue per subscriber (when a queue is full the oldest event is dropped and
 * counted), and is decoded once, when its `data` is first read.
 */
import { hostname } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { EngineObserver, RunningProgram } from '../observer/program.ts';
import { ScrapeMetric } from '../metrics/scrape-metric.ts';
import { programKey } from '../metrics/labels.ts';
import { recordAt } from '../bpf/index.ts';
import { rawRecord, type RecordDecoder } from '../bpf/btf-decoder.ts';
import { defaultEventSources, pinnedBufferProducer, sourcesFor, type EventProducer, type EventSource, type ProducerFactory, type RecordBatchOrBuffers } from './event-sources.ts';
import { messageOf } from '../error-message.ts';

/** One delivered event. */
export interface StreamEvent {
  readonly type: string;
  readonly program: string;
  readonly iface: string;
  readonly direction: string;
  /** Position in this program's stream since it was opened (1, 2, ...). */
  readonly seq: number;
  readonly data: object;
}

/**
 * An event whose record is decoded when `data` is first read (and then kept): a flood that overflows
 * a subscriber's queue, or a consumer that only counts, costs no decoding. It holds the batch's one
 * copy of the bytes until then.
 */
class LazyEvent implements StreamEvent {
  readonly type: string;
  readonly program: string;
  readonly iface: string;
  readonly direction: string;
  readonly seq: number;
  #stream: Stream | undefined;
  #records: RecordBatchOrBuffers | undefined;
  #index: number;
  #data: object | undefined;

  constructor(st: Stream, records: RecordBatchOrBuffers, index: number, seq: number) {
    this.type = st.source.eventType;
    this.program = st.program.name;
    this.iface = st.program.iface;
    this.direction = st.program.direction;
    this.seq = seq;
    this.#stream = st;
    this.#records = records;
    this.#index = index;
  }

  get data(): object {
    if (this.#data !== undefined) return this.#data;
    const records = this.#records!;
    const st = this.#stream!;
    const i = this.#index;
    try {
      // a decoder that reads in place skips the Buffer view of the record (one object less per event)
      const at = (st.decode as Partial<RecordDecoder>).at;
      if ('count' in records) this.#data = at ? at(records.bytes, records.offsets[i]!, records.lengths[i]!) : st.decode(recordAt(records, i));
      else this.#data = st.decode(records[i]!);
    } catch (err) {
      st.decodeErrors++;
      this.#data = { ...rawRecord('count' in records ? recordAt(records, i) : records[i]!), error: messageOf(err) };
    }
    this.#records = undefined;
    this.#stream = undefined;
    return this.#data;
  }

  /** The event as JSON shows it (data decoded). */
  toJSON(): object {
    return { type: this.type, program: this.program, iface: this.iface, direction: this.direction, seq: this.seq, data: this.data };
  }
}

/** Which programs a subscriber wants (absent = any). */
export interface EventFilter {
  readonly iface?: string;
  readonly program?: string;
}

/** Options of {@link EventHub}. */
export interface EventHubOptions {
  readonly sources?: readonly EventSource[];
  readonly producer?: ProducerFactory;
  /** Default queue bound per subscriber (events). Default 1024. */
  readonly queueLimit?: number;
  readonly registry?: Registry;
  readonly host?: string;
  readonly logger?: Logger;
}

/** A subscriber: a bounded queue of events and its counters. */
export class Subscription {
  readonly #queue: StreamEvent[] = [];
  /** Events taken out of the queue. */
  delivered = 0;
  /** Events dropped (oldest first) because the queue was full. */
  dropped = 0;
  closed = false;
  /** Called (synchronously, once per batch) when events were queued. */
  onReadable: (() => void) | undefined;
  /** Called once when the subscription closes (by its owner or by the hub shutting down). */
  onClose: (() => void) | undefined;

  constructor(
    readonly filter: EventFilter,
    readonly limit: number,
    private readonly unsubscribe: (s: Subscription) => void,
    private readonly lostOf: (s: Subscription) => number = () => 0,
  ) {}

  /** Records of the streams it listens to that were lost before delivery since it joined them (ring full, perf overflow). */
  get lost(): number {
    return this.lostOf(this);
  }

  /** @internal */
  push(e: StreamEvent): void {
    this.#queue.push(e);
    if (this.#queue.length > this.limit) {
      this.#queue.shift();
      this.dropped++;
    }
  }

  /** Events waiting. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Takes up to `max` events, oldest first. */
  take(max = Infinity): StreamEvent[] {
    const out = this.#queue.splice(0, Math.min(max, this.#queue.length));
    this.delivered += out.length;
    return out;
  }

  /** Leaves the hub (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe(this);
    this.onClose?.();
  }

  matches(p: RunningProgram): boolean {
    return (this.filter.iface === undefined || this.filter.iface === p.iface) && (this.filter.program === undefined || this.filter.program === p.name);
  }
}

interface Stream {
  program: RunningProgram;
  readonly source: EventSource;
  producer?: EventProducer;
  decode: (record: Buffer) => object;
  /** Why records go out raw although a decoder was asked for. */
  problem?: string;
  /** kernelLost() when the producer opened. */
  lostBase: number;
  /** Each subscriber's lost() when it joined. */
  readonly joined: Map<Subscription, number>;
  readonly subscribers: Set<Subscription>;
  seq: number;
  events: number;
  decodeErrors: number;
  dropped: number;
}

/** Fans program events out to subscribers; an {@link EngineObserver}. */
export class EventHub implements EngineObserver {
  readonly #sources: readonly EventSource[];
  readonly #producer: ProducerFactory;
  readonly #queueLimit: number;
  readonly #logger: Logger | undefined;
  readonly #streams = new Map<string, Stream>();
  readonly #subs = new Set<Subscription>();

  constructor(opts: EventHubOptions = {}) {
    this.#sources = opts.sources ?? defaultEventSources();
    this.#producer = opts.producer ?? pinnedBufferProducer;
    this.#queueLimit = opts.queueLimit ?? 1024;
    this.#logger = opts.logger;
    if (opts.registry) this.#registerMetrics(opts.registry, opts.host ?? hostname());
  }

  /** Subscribes to the events of running (and later started) programs matching `filter`. */
  subscribe(filter: EventFilter = {}, opts: { queueLimit?: number } = {}): Subscription {
    const limit = opts.queueLimit ?? this.#queueLimit;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`queue limit must be a positive integer, got ${limit}`);
    const sub = new Subscription(filter, limit, (s) => this.#unsubscribe(s), (s) => this.#lostFor(s));
    this.#subs.add(sub);
    for (const st of this.#streams.values()) {
      if (sub.matches(st.program)) this.#join(st, sub);
    }
    return sub;
  }

  #join(st: Stream, sub: Subscription): void {
    st.subscribers.add(sub);
    this.#reconcile(st);
    st.joined.set(sub, this.#lost(st));
  }

  /** Records a stream's producer or kernel program lost since the producer opened. */
  #lost(st: Stream): number {
    if (!st.producer) return 0;
    let kernel = 0;
    try {
      kernel = st.source.kernelLost ? st.source.kernelLost(st.program) - st.lostBase : 0;
    } catch {
      kernel = 0; // the program's maps are going away
    }
    return st.producer.lost() + kernel;
  }

  #lostFor(sub: Subscription): number {
    let n = 0;
    for (const st of this.#streams.values()) {
      if (st.subscribers.has(sub)) n += Math.max(0, this.#lost(st) - (st.joined.get(sub) ?? 0));
    }
    return n;
  }

  /** Streams (program + source) that exist now and how many listen to each. */
  streams(): Array<{ program: string; iface: string; map: string; eventType: string; subscribers: number; active: boolean; events: number; lost: number; problem?: string }> {
    return [...this.#streams.values()].map((s) => ({
      program: s.program.name, iface: s.program.iface, map: s.source.map, eventType: s.source.eventType, subscribers: s.subscribers.size,
      active: s.producer !== undefined, events: s.events, lost: this.#lost(s), ...(s.problem === undefined ? {} : { problem: s.problem }),
    }));
  }

  #unsubscribe(sub: Subscription): void {
    this.#subs.delete(sub);
    for (const st of this.#streams.values()) {
      st.joined.delete(sub);
      if (st.subscribers.delete(sub)) this.#reconcile(st);
    }
  }

  /** Opens or closes a stream's producer to match whether anyone listens. */
  #reconcile(st: Stream): void {
    const wanted = st.subscribers.size > 0;
    if (wanted && !st.producer) {
      st.problem = undefined;
      try {
        st.decode = st.source.decoderFor ? st.source.decoderFor(st.program) : st.source.decode ?? rawRecord;
      } catch (err) {
        st.decode = rawRecord;
        st.problem = messageOf(err);
        this.#logger?.warn({ program: st.program.name, iface: st.program.iface, map: st.source.map, err: st.problem }, 'event records are sent raw');
      }
      try {
        try {
          st.lostBase = st.source.kernelLost?.(st.program) ?? 0;
        } catch {
          st.lostBase = 0;
        }
        st.producer = this.#producer(st.program, st.source, (records) => this.#deliver(st, records));
        st.source.activate?.(st.program, true);
        this.#logger?.info({ program: st.program.name, iface: st.program.iface, map: st.source.map }, 'event stream on');
      } catch (err) {
        st.producer?.close();
        st.producer = undefined;
        this.#logger?.warn({ program: st.program.name, iface: st.program.iface, map: st.source.map, err: messageOf(err) }, 'cannot open event stream');
      }
    } else if (!wanted && st.producer) {
      this.#stop(st, true);
    }
  }

  #stop(st: Stream, deactivate: boolean): void {
    if (deactivate) {
      try {
        st.source.activate?.(st.program, false);
      } catch (err) {
        this.#logger?.warn({ program: st.program.name, err: messageOf(err) }, 'cannot turn event production off');
      }
    }
    st.producer?.close();
    st.producer = undefined;
    this.#logger?.info({ program: st.program.name, iface: st.program.iface, map: st.source.map }, 'event stream off');
  }

  #deliver(st: Stream, records: RecordBatchOrBuffers): void {
    const n = 'count' in records ? records.count : records.length;
    if (n === 0 || st.subscribers.size === 0) return;
    const subs = [...st.subscribers];
    for (let i = 0; i < n; i++) {
      st.seq++;
      const e = new LazyEvent(st, records, i, st.seq);
      for (const s of subs) {
        const before = s.dropped;
        s.push(e);
        st.dropped += s.dropped - before;
      }
    }
    st.events += n;
    for (const s of subs) s.onReadable?.();
  }

  programStarted(p: RunningProgram): void {
    this.#remove(p, false);
    let sources: EventSource[];
    try {
      sources = sourcesFor(p, this.#sources);
    } catch (err) {
      this.#logger?.warn({ program: p.name, iface: p.iface, err: messageOf(err) }, 'no event streams');
      return;
    }
    for (const source of sources) {
      const st: Stream = { program: p, source, subscribers: new Set(), seq: 0, events: 0, decodeErrors: 0, dropped: 0, decode: rawRecord, lostBase: 0, joined: new Map() };
      this.#streams.set(`${programKey(p)}\u0000${source.map}`, st);
      for (const s of this.#subs) if (s.matches(p)) this.#join(st, s);
    }
  }

  programUpdated(p: RunningProgram): void {
    const key = programKey(p);
    const same = [...this.#streams.entries()].filter(([k]) => k.startsWith(`${key}\u0000`)).map(([, st]) => st);
    const kept = (st: Stream): boolean => st.program.progId === p.progId && st.program.mapPinDir === p.mapPinDir;
    if (same.length > 0 && same.every(kept) && same.every((st) => isDeepStrictEqual(st.program.eventMaps ?? null, p.eventMaps ?? null))) {
      for (const st of same) st.program = p;
      return;
    }
    // the same kernel program with other event maps: switch the old streams' production off first
    if (same.length > 0 && same.every(kept)) this.#remove(p, true);
    this.programStarted(p);
  }

  programStopped(p: RunningProgram): void {
    // the program's maps go with it: no need (and maybe no way) to switch production off
    this.#remove(p, false);
  }

  #remove(p: RunningProgram, deactivate: boolean): void {
    const key = programKey(p);
    for (const [k, st] of this.#streams) {
      if (!k.startsWith(`${key}\u0000`)) continue;
      if (st.producer) this.#stop(st, deactivate);
      this.#streams.delete(k);
    }
  }

  /** Closes every stream (turning production off) and every subscription. */
  close(): void {
    for (const st of this.#streams.values()) if (st.producer) this.#stop(st, true);
    this.#streams.clear();
    for (const s of [...this.#subs]) s.close();
  }

  #registerMetrics(registry: Registry, host: string): void {
    const labels = (st: Stream): Record<string, string> => ({ host, program: st.program.name, interface: st.program.iface, map: st.source.map });
    new ScrapeMetric({ name: 'l3af_events_total', type: 'counter', help: 'Events read from a program\'s event map since its stream was opened.', collect: () => [...this.#streams.values()].map((st) => ({ labels: labels(st), value: st.events })) }).register(registry);
    new ScrapeMetric({ name: 'l3af_events_dropped_total', type: 'counter', help: 'Events dropped from full subscriber queues (drop-oldest).', collect: () => [...this.#streams.values()].map((st) => ({ labels: labels(st), value: st.dropped })) }).register(registry);
    new ScrapeMetric({ name: 'l3af_events_lost_total', type: 'counter', help: 'Events lost before delivery since the stream was opened (perf ring overflow, or counted by the program when its ring buffer was full).', collect: () => [...this.#streams.values()].map((st) => ({ labels: labels(st), value: this.#lost(st) })) }).register(registry);
    new ScrapeMetric({ name: 'l3af_event_subscribers', type: 'gauge', help: 'Subscribers listening to a program\'s event stream.', collect: () => [...this.#streams.values()].map((st) => ({ labels: labels(st), value: st.subscribers.size })) }).register(registry);
  }
}
