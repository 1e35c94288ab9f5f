// OpenTelemetry child spans of the engine's per-program steps through the real REST API and kernel: with telemetry
// on (an OTLP/HTTP endpoint configured, spans also kept by an in-memory exporter), one POST add of a program makes
// a request span `POST /l3af/configs/:version/add` whose children are the program's fetch, verify, load and link
// steps (in that order, with program / interface attributes and the artifact's sha256); the root programs' fetches
// of start() are outside any request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { buildServer } from '../../agent/src/api/server.ts';
import { createLogger } from '../../agent/src/log.ts';
import { EventHub } from '../../agent/src/events/event-hub.ts';
import { HostFactsCache } from '../../agent/src/platform/host-facts.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { startTelemetry } from '../../agent/src/telemetry/otel.ts';
import { skipUnless, EngineLab } from '../harness/index.ts';
import { countAndPass, engineWithChains, testConfig, xdpBody } from '../engine/helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

test('one POST add → a request span with fetch, verify, load, link children of the program', { skip, timeout: 120_000 }, async (t) => {
  await using bed = await EngineLab.create();
  const { fs, state, iface } = bed;
  // an OTLP/HTTP endpoint that accepts everything (the in-memory exporter is what the test reads)
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const memory = new InMemorySpanExporter();
  const tel = startTelemetry({ env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces` }, extraSpanProcessors: [new SimpleSpanProcessor(memory)] });
  t.after(async () => {
    await tel.shutdown();
    receiver.close();
  });
  assert.equal(tel.enabled, true);
  const config = testConfig(fs.path, state.path);
  const { engine, chains } = engineWithChains(config);
  const app = await buildServer({
    engine, config, logger: createLogger({ level: 'silent', env: {} }),
    observability: { hostFacts: new HostFactsCache(), events: new EventHub(), tracing: true },
  });
  try {
    await engine.start();
    const atStart = memory.getFinishedSpans();
    assert.ok(atStart.every((s) => s.parentSpanContext === undefined || atStart.some((p) => p.spanContext().spanId === s.parentSpanContext?.spanId)), 'start() spans are not children of a request');
    memory.reset();

    const res = await app.inject({ method: 'POST', url: '/l3af/configs/v1/add', payload: xdpBody(hostName(), iface, [countAndPass('count-and-pass', 1)]) });
    assert.equal(res.statusCode, 200, res.body);
    const progId = chains().describe(iface, 'xdp_ingress').programs[0]?.id;
    await tel.flush();

    const spans = memory.getFinishedSpans();
    const request = spans.find((s) => s.name === 'POST /l3af/configs/:version/add');
    assert.ok(request, `request span among ${spans.map((s) => s.name).join(', ')}`);
    const children = spans.filter((s) => s.parentSpanContext?.spanId === request.spanContext().spanId)
      .sort((a, b) => (a.startTime[0] - b.startTime[0]) || (a.startTime[1] - b.startTime[1]));
    t.diagnostic(children.map((s) => `${s.name} ${((s.duration[0] * 1e9 + s.duration[1]) / 1e6).toFixed(2)} ms`).join(', '));
    assert.deepEqual(children.map((s) => s.name), ['fetch', 'verify', 'load', 'link'], 'the program\'s steps, in order, as children of the request');
    for (const s of children) {
      assert.equal(s.attributes['l3af.program'], 'count-and-pass', `${s.name}: program attribute`);
      assert.equal(s.spanContext().traceId, request.spanContext().traceId);
      assert.equal(s.status.code, 0, `${s.name}: not an error`);
    }
    const [fetch, verify, load, link] = children;
    assert.equal(load?.attributes['l3af.iface'], iface);
    assert.equal(link?.attributes['l3af.direction'], 'xdp_ingress');
    assert.match(String(fetch?.attributes['l3af.artifact.sha256']), /^[0-9a-f]{64}$/, 'fetch carries the archive sha256');
    assert.equal(verify?.attributes['l3af.artifact.sha256'], fetch?.attributes['l3af.artifact.sha256']);
    assert.ok(progId !== undefined && progId > 0);
    // link (the switch) ends after load ends, and both inside the request
    const end = (s: typeof request): number => s.endTime[0] * 1e9 + s.endTime[1];
    const start = (s: typeof request): number => s.startTime[0] * 1e9 + s.startTime[1];
    // each span anchors its clock (Date.now() vs performance.now()) when it starts, so times of two spans can
    // disagree by up to about a millisecond: compare with that tolerance
    assert.ok(start(link!) >= end(load!) - 2e6, 'link starts when load ends');
    assert.ok(end(link!) <= end(request) + 2e6, 'inside the request');
  } finally {
    await app.close();
    await engine.stop({ unload: true });
  }
});
