// OTLP over HTTP with the default encoding (http/protobuf): a real receiver started here gets the agent's
// request spans (with their child spans) and the bridged prom-client metrics as protobuf, decoded field by
// field (otlp-wire.ts); the reader itself is checked against @opentelemetry/otlp-transformer's own protobuf
// encoding of the same spans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { startTelemetry } from '../../agent/src/telemetry/otel.ts';
import { tracingPlugin, withSpan } from '../../agent/src/telemetry/tracing.ts';
import { AgentMetrics } from '../../agent/src/metrics/agent-metrics.ts';
import type { RunningProgram } from '../../agent/src/engine/types.ts';
import { decodeMetrics, decodeTraces } from './otlp-wire.ts';

const P: RunningProgram = { iface: 'eth0', direction: 'xdp_ingress', name: 'ratelimiting', version: '1', ipv4: '', progId: 1, mapPinDir: '/x', monitorMaps: [] };

test('http/protobuf (the default): the receiver decodes spans with their parents and the bridged metrics', async (t) => {
  const bodies: Array<{ url: string; type: string; body: Buffer }> = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      bodies.push({ url: req.url!, type: String(req.headers['content-type']), body });
      // an empty Export*ServiceResponse: full success
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const memory = new InMemorySpanExporter();
  const registry = new Registry();
  const agent = new AgentMetrics({ registry, host: 'h1' });
  agent.programStarted(P);
  const tel = startTelemetry({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'l3af-test' }, registry, metricIntervalMs: 60_000, extraSpanProcessors: [new SimpleSpanProcessor(memory)] });
  t.after(async () => {
    await tel.shutdown();
    receiver.close();
  });
  assert.equal(tel.tracesProtocol, 'http/protobuf');
  assert.equal(tel.metricsProtocol, 'http/protobuf');

  const app = Fastify();
  await app.register(tracingPlugin);
  app.post('/l3af/configs/v1/add', async () => {
    await withSpan('fetch', async () => undefined, { 'l3af.program': 'ratelimiting' });
    await withSpan('load', async () => withSpan('link', () => 'ok'));
    return { ok: true };
  });
  assert.equal((await app.inject({ method: 'POST', url: '/l3af/configs/v1/add', payload: {} })).statusCode, 200);
  await app.close();
  await tel.flush();

  const traces = bodies.filter((b) => b.url === '/v1/traces');
  assert.ok(traces.length > 0, 'traces were exported');
  for (const b of bodies) assert.equal(b.type, 'application/x-protobuf', `${b.url} is protobuf`);
  const spans = traces.flatMap((b) => decodeTraces(b.body));
  const byName = new Map(spans.map((s) => [s.name, s]));
  assert.deepEqual(new Set(byName.keys()), new Set(['POST /l3af/configs/v1/add', 'fetch', 'load', 'link']));
  const req = byName.get('POST /l3af/configs/v1/add')!;
  assert.equal(req.kind, 2, 'SPAN_KIND_SERVER');
  assert.equal(req.parentSpanId, '');
  assert.equal(req.attributes['http.response.status_code'], 200);
  assert.equal(req.resource['service.name'], 'l3af-test');
  assert.equal(byName.get('fetch')!.parentSpanId, req.spanId);
  assert.equal(byName.get('fetch')!.attributes['l3af.program'], 'ratelimiting');
  assert.equal(byName.get('load')!.parentSpanId, req.spanId);
  assert.equal(byName.get('link')!.parentSpanId, byName.get('load')!.spanId);
  assert.ok(spans.every((s) => s.traceId === req.traceId && /^[0-9a-f]{32}$/.test(s.traceId)));
  // the same spans as the in-memory exporter saw (ids included)
  const mem = memory.getFinishedSpans();
  assert.deepEqual(new Set(spans.map((s) => s.spanId)), new Set(mem.map((s) => s.spanContext().spanId)));

  // the reader agrees with the OTel transformer's own protobuf encoding of those spans
  const reference = decodeTraces(Buffer.from(ProtobufTraceSerializer.serializeRequest(mem)!));
  const key = (s: { name: string; spanId: string; parentSpanId: string; attributes: object }) => JSON.stringify([s.name, s.spanId, s.parentSpanId, s.attributes]);
  assert.deepEqual(new Set(spans.map(key)), new Set(reference.map(key)));

  const metrics = bodies.filter((b) => b.url === '/v1/metrics').flatMap((b) => decodeMetrics(b.body));
  const starts = metrics.find((m) => m.name === 'l3af_program_starts');
  assert.ok(starts, `l3af_program_starts among ${metrics.map((m) => m.name).join(', ')}`);
  assert.equal(starts.kind, 'sum');
  assert.equal(starts.monotonic, true);
  const pt = starts.points.find((p) => p.attributes.program === 'ratelimiting');
  assert.equal(pt?.value, 1);
  assert.equal(pt?.attributes.interface, 'eth0');
  const running = metrics.find((m) => m.name === 'l3af_program_running');
  assert.equal(running?.kind, 'gauge');
  assert.equal(running?.points[0]?.value, 1);
});
