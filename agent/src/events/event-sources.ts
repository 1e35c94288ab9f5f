/**
 * Which programs stream events, from which map, decoded how: a small registry the EventHub
 * reads. A source's producer is pluggable (a ring buffer today; perf event arrays or, on
 * Windows, ETW later) through {@link ProducerFactory}.
 */
import { join } from 'node:path';
import { BpfMap, PerfBufferReader, RingBufferReader } from '../bpf/index.ts';
import type { RunningProgram } from '../engine/types.ts';
import { decodeRatelimitingDrop, setRatelimitingEvents } from './ratelimiting-events.ts';

/** A program's event stream. */
export interface EventSource {
  /** Program name (payload `name`) this source applies to. */
  readonly program: string;
  /** The ring buffer (or perf event array) map, as pinned under the program's mapPinDir. */
  readonly map: string;
  /** SSE event name. */
  readonly eventType: string;
  /** Record → JSON object; raw records are sent as `{ raw: <hex> }` when absent. */
  readonly decode?: (record: Buffer) => object;
  /** Makes the kernel program produce events (on) or stop (off); called when listeners come and go. */
  readonly activate?: (program: RunningProgram, on: boolean) => void;
}

/** Something that delivers a program's raw records in batches until closed. */
export interface EventProducer {
  /** Records the producer knows were lost before delivery (e.g. perf ring overflow). */
  readonly lost: () => number;
  close(): void;
}

/** Opens a producer for a program's source, delivering batches to `onBatch`. */
export type ProducerFactory = (program: RunningProgram, source: EventSource, onBatch: (records: Buffer[]) => void) => EventProducer;

/** ratelimiting: drop events, at most `perWindow` per rate window while someone listens. */
export function ratelimitingDrops(perWindow = 512): EventSource {
  return {
    program: 'ratelimiting',
    map: 'rl_events',
    eventType: 'ratelimiting.drop',
    decode: decodeRatelimitingDrop,
    activate: (p, on) => setRatelimitingEvents(p.mapPinDir, on ? perWindow : 0),
  };
}

/** The sources the agent starts with. */
export function defaultEventSources(): EventSource[] {
  return [ratelimitingDrops()];
}

/** Opens the pinned map and reads it with libbpf's ring buffer (or perf buffer) from the event loop. */
export const pinnedBufferProducer: ProducerFactory = (program, source, onBatch) => {
  const map = BpfMap.openPinned(join(program.mapPinDir, source.map));
  try {
    if (map.type === 'ringbuf') {
      const r = new RingBufferReader(map, { onBatch }).start();
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
