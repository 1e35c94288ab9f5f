/**
 * Fastify plugin: `GET /l3af/events?iface=&program=&queue=` as Server-Sent Events. Each event
 * is `id: <seq>`, `event: <type>` and `data: <one JSON object>` (program, iface, direction, seq
 * and the decoded record under `data`). Every `statsMs` (and when the stream ends) an
 * `event: stats` reports this stream's counters `{delivered, dropped, lost, pending}` (dropped:
 * from this client's full queue; lost: before delivery, by the producer or the kernel program,
 * since the client joined); comments keep idle
 * connections open. Writes follow the socket's back-pressure: while the socket is full, events
 * wait in the subscriber's bounded queue (oldest dropped and counted).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { EventHub, StreamEvent, Subscription } from '../events/event-hub.ts';
import type { EtwEvents, EtwSubscription } from '../events/etw-events.ts';

/** Options of {@link eventRoutes}. */
export interface EventRoutesOptions {
  readonly hub: EventHub;
  /** Interval of the stats event (default 5000 ms). */
  readonly statsMs?: number;
  /** Interval of keep-alive comments (default 15000 ms). */
  readonly heartbeatMs?: number;
  /** ETW events for `source=etw` (Windows); absent elsewhere. */
  readonly etw?: EtwEvents;
}

const NAME = /^[A-Za-z0-9_.:@-]{1,64}$/;

function frame(e: StreamEvent): string {
  // fields named one by one: `data` may be a getter (decoded on first read)
  const body = { program: e.program, iface: e.iface, direction: e.direction, seq: e.seq, data: e.data };
  return `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(body)}\n\n`;
}

/** `source=etw`: ETW events as SSE (`event: etw`), stats with this stream's delivered/lost. */
function etwStream(etw: EtwEvents, req: FastifyRequest, reply: FastifyReply, statsMs: number, heartbeatMs: number): FastifyReply | undefined {
  let seq = 0;
  let sub: EtwSubscription;
  let raw: FastifyReply['raw'] | null = null;
  const early: string[] = [];
  const write = (s: string): void => {
    if (raw) raw.write(s);
    else early.push(s);
  };
  try {
    sub = etw.subscribe(
      (e) => write(`id: ${++seq}\nevent: etw\ndata: ${JSON.stringify(e)}\n\n`),
      (err) => {
        write(err ? `event: error\ndata: ${JSON.stringify({ error: err.message, call: (err as { call?: string }).call ?? null })}\n\n` : '');
        finish();
      },
    );
  } catch (err) {
    // the system cannot run a real-time session (Wine: OpenTraceW): say which call, at once
    return reply.code(503).send({ error: `ETW real-time session unavailable: ${(err as Error).message}`, call: (err as { call?: string }).call ?? null });
  }
  reply.hijack();
  raw = reply.raw;
  raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  raw.write(`: subscribed ${JSON.stringify({ source: 'etw' })}\n\n${early.join('')}`);
  const stats = (): string => `event: stats\ndata: ${JSON.stringify({ delivered: sub.delivered, lost: sub.lost })}\n\n`;
  const statsTimer = setInterval(() => raw?.write(stats()), statsMs);
  const beat = setInterval(() => raw?.write(': keep-alive\n\n'), heartbeatMs);
  let done = false;
  function finish(): void {
    if (done) return;
    done = true;
    clearInterval(statsTimer);
    clearInterval(beat);
    sub?.close();
    if (raw && !raw.writableEnded && !raw.destroyed) raw.end(stats());
  }
  raw.on('close', finish);
  req.raw.on('close', finish);
  return undefined;
}

/** Serves the hub's events as SSE. */
export const eventRoutes: FastifyPluginAsync<EventRoutesOptions> = async (app, opts) => {
  const statsMs = opts.statsMs ?? 5000;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  app.get<{ Querystring: { iface?: string; program?: string; queue?: string; source?: string } }>('/l3af/events', async (req, reply) => {
    const { iface, program, queue, source } = req.query;
    if (source !== undefined && source !== 'maps' && source !== 'etw') return reply.code(400).send({ error: `query source: ${JSON.stringify(source)} is not one of maps, etw` });
    if (source === 'etw') {
      if (!opts.etw) return reply.code(404).send({ error: 'source=etw: ETW exists only on Windows' });
      return etwStream(opts.etw, req, reply, statsMs, heartbeatMs);
    }
    for (const [k, v] of Object.entries({ iface, program })) {
      if (v !== undefined && !NAME.test(v)) return reply.code(400).send({ error: `query ${k}: ${JSON.stringify(v)} is not a valid name` });
    }
    const limit = queue === undefined ? undefined : Number(queue);
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 1_000_000)) {
      return reply.code(400).send({ error: `query queue: ${JSON.stringify(queue)} is not an integer in 1..1000000` });
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const sub: Subscription = opts.hub.subscribe({ iface, program }, limit === undefined ? {} : { queueLimit: limit });
    let waiting = false;
    const stats = (): string => `event: stats\ndata: ${JSON.stringify({ delivered: sub.delivered, dropped: sub.dropped, lost: sub.lost, pending: sub.pending })}\n\n`;
    const pump = (): void => {
      while (!waiting && !sub.closed && sub.pending > 0) {
        const chunk = sub.take(256).map(frame).join('');
        if (!raw.write(chunk)) {
          waiting = true;
          raw.once('drain', () => {
            waiting = false;
            pump();
          });
        }
      }
    };
    sub.onReadable = pump;
    sub.onClose = () => {
      clearInterval(statsTimer);
      clearInterval(beat);
      if (!raw.writableEnded && !raw.destroyed) raw.end(stats());
    };
    const statsTimer = setInterval(() => {
      if (!waiting) raw.write(stats());
    }, statsMs);
    const beat = setInterval(() => {
      if (!waiting) raw.write(': keep-alive\n\n');
    }, heartbeatMs);
    raw.write(`: subscribed ${JSON.stringify({ iface: iface ?? null, program: program ?? null })}\n\n`);
    const end = (): void => sub.close();
    raw.on('close', end);
    req.raw.on('close', end);
  });
};
