/**
 * OpenTelemetry spans of the engine's per-program steps — fetch, verify, load, link — as children
 * of the active span (the API request's, see ../telemetry/tracing.ts). `load` and `link` happen in
 * one ChainManager call (load, then the one-write switch), so they are split at the ChainProgram's
 * `loaded` hook: {@link LoadLinkSpans} opens `load` when the call starts, ends it and opens `link`
 * when the hook runs, and ends `link` when the call settles. With telemetry off every span is
 * non-recording and costs a few function calls.
 */
import { SpanStatusCode, context, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { ChainDirection } from '../chain/index.ts';
import { messageOf } from '../error-message.ts';

const TRACER = 'l3af-agent';

/** The attributes every step span of a program carries. */
export function programAttributes(p: { readonly name: string; readonly version: string }, iface?: string, direction?: ChainDirection | 'probes'): Attributes {
  return {
    'l3af.program': p.name, 'l3af.version': p.version,
    ...(iface === undefined ? {} : { 'l3af.iface': iface }), ...(direction === undefined ? {} : { 'l3af.direction': direction }),
  };
}

function fail(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(err) });
}

/** The `load` span, then the `link` span, of one ChainManager insert / replace. */
export class LoadLinkSpans {
  readonly #attrs: Attributes;
  readonly #parent = context.active();
  #load: Span | undefined;
  #link: Span | undefined;

  /** Opens `load` now (a child of the span active at construction). */
  constructor(attrs: Attributes) {
    this.#attrs = attrs;
    this.#load = trace.getTracer(TRACER).startSpan('load', { attributes: attrs }, this.#parent);
  }

  /** The object is loaded (and its probes attached): ends `load`, opens `link` (the switch). */
  loaded(progId?: number): void {
    if (!this.#load) return;
    if (progId !== undefined) this.#load.setAttribute('l3af.prog_id', progId);
    this.#load.end();
    this.#load = undefined;
    this.#link = trace.getTracer(TRACER).startSpan('link', { attributes: this.#attrs }, this.#parent);
  }

  /** The call settled: ends whichever span is open, with the error when there is one. */
  end(err?: unknown): void {
    const open = this.#load ?? this.#link;
    if (open && err !== undefined) fail(open, err);
    open?.end();
    this.#load = undefined;
    this.#link = undefined;
  }
}
