// OpenTelemetry: off without configuration (nothing installed, spans non-recording); on, one
// span per API request with withSpan children (in-memory exporter), and a real OTLP/HTTP receiver
// started here gets the spans and the bridged prom-client metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { otlpConfigured, otlpProtocol, startTelemetry } from '../../agent/src/telemetry/otel.ts';
import { tracingPlugin, withSpan } from '../../agent/src/telemetry/tracing.ts';
import { AgentMetrics } from '../../agent/src/metrics/agent-metrics.ts';
import type { RunningProgram } from '../../agent/src/observer/program.ts';

const P: RunningProgram = { iface: 'eth0', direction: 'xdp_ingress', name: 'ratelimiting', version: '1', ipv4: '', progId: 1, mapPinDir: '/x', monitorMaps: [] };

async function app(): Promise<ReturnType<typeof Fastify>> {
  const a = Fastify();
  await a.register(tracingPlugin);
  a.post('/l3af/configs/v1/add', async () => {
    await withSpan('fetch', async () => undefined, { 'l3af.program': 'ratelimiting' });
    await withSpan('load', async () => withSpan('link', () => 'ok'));
    return { ok: true };
  });
  a.get('/boom', async () => withSpan('verify', () => { throw new Error('bad signature'); }));
  return a;
}

test('off by default: nothing configured, nothing installed, withSpan still runs', async () => {
  assert.equal(otlpConfigured({}), false);
  assert.equal(otlpConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }), false);
  assert.equal(otlpConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }), true);
  const t = startTelemetry({ env: {} });
  assert.equal(t.enabled, false);
  assert.equal(await withSpan('x', (s) => s.isRecording()), false);
  const a = await app();
  const res = await a.inject({ method: 'POST', url: '/l3af/configs/v1/add', payload: {} });
  assert.equal(res.statusCode, 200);
  await a.close();
  assert.throws(() => startTelemetry({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://x' } }), /http/);
  assert.throws(() => startTelemetry({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } }), /OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not supported: use http\/protobuf \(the default\) or http\/json/);
  assert.equal(otlpProtocol({}, 'traces'), 'http/protobuf', 'the specification\'s default');
  assert.equal(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, 'metrics'), 'http/json');
  assert.equal(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }, 'traces'), 'http/protobuf', 'per-signal wins');
});

test('on: request spans with children; OTLP/HTTP receiver gets spans and the bridged metrics', async (t) => {
  const received: Record<string, unknown[]> = {};
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      assert.match(String(req.headers['content-type']), /application\/json/);
      (received[req.url!] ??= []).push(JSON.parse(body.toString()));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const memory = new InMemorySpanExporter();
  const registry = new Registry();
  const agent = new AgentMetrics({ registry, host: 'h1' });
  agent.programStarted(P);
  agent.programUpdated(P);
  const tel = startTelemetry({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, registry, metricIntervalMs: 60_000, extraSpanProcessors: [new SimpleSpanProcessor(memory)] });
  t.after(async () => {
    await tel.shutdown();
    receiver.close();
  });
  assert.equal(tel.enabled, true);
  assert.equal(tel.tracesUrl, `${endpoint}/v1/traces`);
  assert.equal(tel.tracesProtocol, 'http/json');

  const a = await app();
  const res = await a.inject({ method: 'POST', url: '/l3af/configs/v1/add', payload: {} });
  assert.equal(res.statusCode, 200);
  const boom = await a.inject({ method: 'GET', url: '/boom' });
  assert.equal(boom.statusCode, 500);
  await a.close();
  await withSpan('engine.reconcile', () => undefined); // outside a request: a root span
  assert.equal(trace.getActiveSpan(), undefined);
  await tel.flush(); // spans wait for the SDK's resource detection before export

  const spans = memory.getFinishedSpans();
  const byName = new Map(spans.map((s) => [s.name, s]));
  const server = byName.get('POST /l3af/configs/v1/add');
  assert.ok(server, `request span among ${[...byName.keys()]}`);
  const id = server.spanContext().spanId;
  assert.equal(byName.get('fetch')!.parentSpanContext?.spanId, id);
  assert.equal(byName.get('load')!.parentSpanContext?.spanId, id);
  assert.equal(byName.get('link')!.parentSpanContext?.spanId, byName.get('load')!.spanContext().spanId);
  assert.equal(byName.get('fetch')!.attributes['l3af.program'], 'ratelimiting');
  assert.equal(server.attributes['http.response.status_code'], 200);
  const verify = byName.get('verify')!;
  assert.equal(verify.status.code, 2);
  assert.equal(verify.parentSpanContext?.spanId, byName.get('GET /boom')!.spanContext().spanId);
  assert.equal(byName.get('GET /boom')!.attributes['http.response.status_code'], 500);
  assert.equal(byName.get('engine.reconcile')!.parentSpanContext, undefined);
  type OtlpSpan = { name: string; spanId: string; parentSpanId?: string };
  const otlpSpans = (received['/v1/traces'] ?? []).flatMap((b) => (b as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }).resourceSpans
    .flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
  assert.deepEqual(new Set(otlpSpans.map((s) => s.name)), new Set(['POST /l3af/configs/v1/add', 'fetch', 'load', 'link', 'GET /boom', 'verify', 'engine.reconcile']));
  type Point = { asInt?: string | number; asDouble?: number; attributes: Array<{ key: string; value: { stringValue?: string } }> };
  type OtlpMetric = { name: string; sum?: { dataPoints: Point[]; isMonotonic?: boolean }; gauge?: { dataPoints: Point[] } };
  const otlpMetrics = (received['/v1/metrics'] ?? []).flatMap((b) => (b as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: OtlpMetric[] }> }> }).resourceMetrics
    .flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics)));
  const starts = otlpMetrics.find((m) => m.name === 'l3af_program_starts');
  assert.ok(starts?.sum, `l3af_program_starts among ${otlpMetrics.map((m) => m.name)}`);
  assert.equal(starts.sum.isMonotonic, true);
  const pt = starts.sum.dataPoints.find((d) => d.attributes.some((a) => a.key === 'program' && a.value.stringValue === 'ratelimiting'))!;
  assert.equal(Number(pt.asDouble ?? pt.asInt), 1);
  const running = otlpMetrics.find((m) => m.name === 'l3af_program_running');
  assert.equal(Number(running?.gauge?.dataPoints[0]?.asDouble ?? running?.gauge?.dataPoints[0]?.asInt), 1);
});
