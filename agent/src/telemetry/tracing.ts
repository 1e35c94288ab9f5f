/**
 * Traces of API operations: {@link tracingPlugin} makes one SERVER span per request (named
 * `<METHOD> <route>`), and the handler runs inside it, so spans opened with {@link withSpan}
 * during the request (the engine's fetch, verify, load, link steps) become its children. With
 * no SDK started (telemetry off) spans are non-recording and nearly free.
 */
import { SpanKind, SpanStatusCode, context, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { messageOf } from '../error-message.ts';

const TRACER = 'l3af-agent';

/** Runs `fn` in a child span of the active span (ended when `fn` settles; errors recorded and rethrown). */
export async function withSpan<T>(name: string, fn: (span: Span) => Promise<T> | T, attributes?: Attributes): Promise<T> {
  return trace.getTracer(TRACER).startActiveSpan(name, attributes ? { attributes } : {}, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Fastify plugin (applies to the whole app): one span per request, the handler inside it. */
export const tracingPlugin: FastifyPluginAsync = async (app) => {
  const spans = new WeakMap<FastifyRequest, { span: Span; ended: boolean }>();
  const finish = (req: FastifyRequest, status: number): void => {
    const s = spans.get(req);
    if (!s || s.ended) return;
    s.ended = true;
    s.span.setAttribute('http.response.status_code', status);
    if (status >= 500) s.span.setStatus({ code: SpanStatusCode.ERROR });
    s.span.end();
  };
  app.addHook('onRequest', (req, reply, done) => {
    const route = req.routeOptions.url ?? req.url.split('?')[0]!;
    const span = trace.getTracer(TRACER).startSpan(`${req.method} ${route}`, {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': req.method, 'http.route': route, 'url.path': req.url.split('?')[0]!, 'l3af.request_id': req.id },
    });
    spans.set(req, { span, ended: false });
    // hijacked replies (SSE) never reach onResponse: the span ends with the connection
    req.raw.once('close', () => finish(req, reply.raw.statusCode));
    done();
  });
  app.addHook('preHandler', (req, _reply, done) => {
    const s = spans.get(req);
    if (!s) return done();
    context.with(trace.setSpan(context.active(), s.span), done);
  });
  app.addHook('onError', (req, _reply, err, done) => {
    spans.get(req)?.span.recordException(err);
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    finish(req, reply.statusCode);
    done();
  });
};
// hooks apply to the routes of the app that registers the plugin (what fastify-plugin does)
(tracingPlugin as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')] = true;
(tracingPlugin as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')] = 'l3af-tracing';
