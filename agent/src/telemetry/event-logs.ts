/**
 * Program events as OpenTelemetry log records: one always-on subscriber of the {@link EventHub}
 * (every program's ring buffer and perf event maps, whatever their decoder) and, on Windows, of
 * the ETW source, whose events become log records with the same decoded fields the SSE stream
 * carries: the body is the event's `data` (BTF-decoded record, ratelimiting record, raw hex, or
 * the decoded ETW event), attributes say where it came from (`l3af.program`, `l3af.interface`,
 * `l3af.direction`, `l3af.seq`) and `eventName` is the SSE event type.
 *
 * Started by observability when OTLP logs are configured (telemetry/otel.ts); the subscription
 * keeps event production on in the kernel for every program with event maps while it lasts. Its
 * queue is bounded like any subscriber's (drop-oldest, counted in `l3af_events_dropped_total`).
 */
import type { Logger as OtelLogger, AnyValue, LogAttributes } from '@opentelemetry/api-logs';
import type { EventHub, StreamEvent, Subscription } from '../events/event-hub.ts';
import type { EtwEvent } from '../bpf/win32/etw-decoder.ts';

/** What a log exporter subscribes to on Windows (events/etw-events.ts). */
export interface EtwSource {
  subscribe(onEvent: (e: EtwEvent) => void, onEnd: (err: Error | null) => void): { close(): void };
}

const SEVERITY_INFO = 9;

/** Exports events as log records until closed. */
export class EventLogExport {
  /** Log records emitted. */
  exported = 0;
  readonly #sub: Subscription;
  #etw: { close(): void } | undefined;

  constructor(hub: EventHub, readonly logger: OtelLogger, opts: { etw?: EtwSource; queueLimit?: number; onEtwError?: (err: Error) => void } = {}) {
    this.#sub = hub.subscribe({}, { queueLimit: opts.queueLimit ?? 4096 });
    this.#sub.onReadable = () => {
      for (const e of this.#sub.take()) this.#emit(e);
    };
    if (opts.etw) {
      let seq = 0;
      try {
        this.#etw = opts.etw.subscribe(
          (e) => this.#emitRecord('etw', toAnyValue(e), { 'l3af.source': 'etw', 'l3af.seq': ++seq }),
          (err) => {
            if (err) opts.onEtwError?.(err);
          },
        );
      } catch (err) {
        opts.onEtwError?.(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  #emit(e: StreamEvent): void {
    this.#emitRecord(e.type, toAnyValue(e.data), {
      'l3af.program': e.program, 'l3af.interface': e.iface, 'l3af.direction': e.direction, 'l3af.seq': e.seq,
    });
  }

  #emitRecord(eventName: string, body: AnyValue, attributes: LogAttributes): void {
    this.logger.emit({ eventName, body, attributes, severityNumber: SEVERITY_INFO, severityText: 'INFO', timestamp: Date.now() });
    this.exported++;
  }

  close(): void {
    this.#sub.close();
    this.#etw?.close();
    this.#etw = undefined;
  }
}

/** JSON-like data as an OTel AnyValue (bigints as decimal strings, Buffers as hex). */
export function toAnyValue(v: unknown, depth = 0): AnyValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (depth > 16) return JSON.stringify(v);
  if (Array.isArray(v)) return v.map((x) => toAnyValue(x, depth + 1));
  if (typeof v === 'object') {
    const out: Record<string, AnyValue> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = toAnyValue(x, depth + 1);
    return out;
  }
  return String(v);
}
