/**
 * Which programs stream events, from which map, decoded how: a small registry the EventHub
 * reads. A source's producer is pluggable (a ring buffer today; perf event arrays or, on
 * Windows, ETW later) through {@link ProducerFactory}.
 */
import { join } from 'node:path';
import { BpfMap, LibbpfRingBufferReader, PerfBufferReader, RingBufferReader, WindowsRingBufferReader, ebpfRingFfi, platform, type RecordBatch } from '../bpf/index.ts';
import type { RunningProgram } from '../observer/program.ts';
import type { EventMap } from '../payload/index.ts';
import { BtfTypes, btfDecoder, rawRecord } from '../bpf/btf-decoder.ts';
import { decodeRatelimitingDrop, ratelimitingEventsLost, setRatelimitingEvents } from './ratelimiting-events.ts';

/** A program's event stream. */
export interface EventSource {
  /** Program name (payload `name`) this source applies to. */
  readonly program: string;
  /** The ring buffer (or perf event array) map, as pinned under the program's mapPinDir. */
  readonly map: string;
  /** SSE event name. */
  readonly eventType: string;
  /** Record → JSON object; raw records are sent as `{ raw: <hex>, size }` when absent. */
  readonly decode?: (record: Buffer) => object;
  /**
   * Builds the decoder for one program when its stream opens (e.g. from the program's BTF);
   * preferred over `decode`. When it throws, records are sent raw and the reason is logged.
   */
  readonly decoderFor?: (program: RunningProgram) => (record: Buffer) => object;
  /** Makes the kernel program produce events (on) or stop (off); called when listeners come and go. */
  readonly activate?: (program: RunningProgram, on: boolean) => void;
  /** Records the kernel program counted as lost (e.g. its ring buffer was full), a running total. */
  readonly kernelLost?: (program: RunningProgram) => number;
}

/** Something that delivers a program's raw records in batches until closed. */
export interface EventProducer {
  /** Records the producer knows were lost before delivery (e.g. perf ring overflow). */
  readonly lost: () => number;
  close(): void;
}

/**
 * Records a producer delivers at once: Buffers, or one copy of the batch's bytes with each record's
 * place in it (the ring buffer read from its mapped memory; no object per record until one is decoded).
 */
export type RecordBatchOrBuffers = readonly Buffer[] | RecordBatch;

/** Opens a producer for a program's source, delivering batches to `onBatch`. */
export type ProducerFactory = (program: RunningProgram, source: EventSource, onBatch: (records: RecordBatchOrBuffers) => void) => EventProducer;

/** ratelimiting: drop events, at most `perWindow` per rate window while someone listens. */
export function ratelimitingDrops(perWindow = 512): EventSource {
  return {
    program: 'ratelimiting',
    map: 'rl_events',
    eventType: 'ratelimiting.drop',
    decode: decodeRatelimitingDrop,
    activate: (p, on) => setRatelimitingEvents(p.mapPinDir, on ? perWindow : 0),
    kernelLost: (p) => ratelimitingEventsLost(p.mapPinDir),
  };
}

/**
 * A decoder from the program's BTF: the named struct, or else the map's declared BTF value
 * type. Without either, `strict` refuses; otherwise records are sent raw.
 */
function btfFor(map: string, struct: string | undefined, strict: boolean): (p: RunningProgram) => (record: Buffer) => object {
  return (p) => {
    const types = BtfTypes.ofProgram(p.progId);
    const t = struct ? types.struct(struct) : types.mapValueType(map);
    if (t) return btfDecoder(types, t);
    if (strict) throw new RangeError(`${map} declares no BTF value type (ring buffers and perf event arrays carry none): name the record's struct in event_maps[].struct`);
    return rawRecord;
  };
}

/**
 * The event sources of one program: its payload's `event_maps` when set (each with the decoder
 * its format names; the registry's production switch and decoder still apply to a map the
 * registry knows), else the registry's sources for its name. Without a format: a `struct`
 * means BTF, a map the registry knows keeps its decoder, any other map is decoded from its BTF
 * value type when it declares one and sent raw otherwise.
 */
export function sourcesFor(p: RunningProgram, registry: readonly EventSource[]): EventSource[] {
  const defaults = registry.filter((s) => s.program === p.name);
  if (p.eventMaps === undefined || p.eventMaps === null) return defaults;
  const out: EventSource[] = [];
  for (const em of p.eventMaps) {
    if (out.some((s) => s.map === em.name)) continue; // the first entry for a map wins
    out.push(sourceOf(p.name, em, defaults.find((s) => s.map === em.name)));
  }
  return out;
}

function sourceOf(program: string, em: EventMap, base: EventSource | undefined): EventSource {
  const struct = em.struct === undefined || em.struct === '' ? undefined : em.struct;
  const format = em.format ?? (struct ? 'btf' : undefined);
  const common = {
    program, map: em.name, eventType: base?.eventType ?? `${program}.${em.name}`,
    ...(base?.activate ? { activate: base.activate } : {}), ...(base?.kernelLost ? { kernelLost: base.kernelLost } : {}),
  };
  if (struct && format !== 'btf') {
    return { ...common, decoderFor: () => { throw new RangeError(`event_maps ${em.name}: struct ${struct} applies to format btf, not ${format}`); } };
  }
  switch (format) {
    case 'raw': return { ...common, decode: rawRecord };
    case 'ratelimiting': return { ...common, decode: decodeRatelimitingDrop };
    case 'btf': return { ...common, decoderFor: btfFor(em.name, struct, true) };
    default: return base?.decode || base?.decoderFor ? { ...common, ...(base.decode ? { decode: base.decode } : {}), ...(base.decoderFor ? { decoderFor: base.decoderFor } : {}) } : { ...common, decoderFor: btfFor(em.name, undefined, false) };
  }
}

/** The sources the agent starts with. */
export function defaultEventSources(): EventSource[] {
  return [ratelimitingDrops()];
}

/** Opens the pinned map and reads it with libbpf's ring buffer (or perf buffer) from the event loop. */
export const pinnedBufferProducer: ProducerFactory = (program, source, onBatch) => {
  const map = BpfMap.openPinned(join(program.mapPinDir, source.map));
  try {
    if (map.type === 'ringbuf' && platform.name === 'windows') {
      // eBPF-for-Windows: its wait-handle model (no epoll there); not run against real eBPF-for-Windows
      const w = new WindowsRingBufferReader(map.fd, { onBatch }, ebpfRingFfi()).start();
      return { lost: () => 0, close: () => { w.stop(); map.close(); } };
    }
    if (map.type === 'ringbuf') {
      // read from its mapped memory where the platform maps ring buffers (Linux); through libbpf's callbacks elsewhere
      const r = platform.name === 'linux' ? new RingBufferReader(map, { onRecords: onBatch }).start() : new LibbpfRingBufferReader(map, { onBatch }).start();
      return { lost: () => 0, close: () => { r.close(); map.close(); } };
    }
    if (map.type === 'perf_event_array') {
      const r = new PerfBufferReader(map, { onBatch }).start();
      return { lost: () => Number(r.lost), close: () => { r.close(); map.close(); } };
    }
    throw new RangeError(`${source.map} is a ${map.type} map, not a ring buffer or perf event array`);
  } catch (err) {
    map.close();
    throw err;
  }
};
