// Program events as OpenTelemetry logs on the real kernel: ratelimiting's drop events (ring
// buffer, decoded) go through the EventHub to an OTLP/HTTP receiver started here, with the same
// decoded fields the SSE stream carries; production is on in the kernel while the exporter listens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { u32, u64 } from '../../agent/src/bpf/index.ts';
import { EventHub } from '../../agent/src/events/event-hub.ts';
import type { EtwEvent } from '../../agent/src/bpf/win32/etw-decoder.ts';
import { startTelemetry } from '../../agent/src/telemetry/otel.ts';
import { EventLogExport, type EtwSource } from '../../agent/src/telemetry/event-logs.ts';
import { PrivateBpffs, requireRoot } from '../harness/index.ts';
import { tcp4 } from '../programs/frames.ts';
import { loadRatelimiting } from '../metrics/fixtures.ts';

const IFACE = `otl${process.pid}`;

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean; kvlistValue?: { values?: Array<{ key: string; value: AnyValue }> }; arrayValue?: { values?: AnyValue[] } };
/** OTLP/JSON AnyValue → plain JSON. */
function plain(v: AnyValue | undefined): unknown {
  if (!v) return null;
  if (v.kvlistValue) return Object.fromEntries((v.kvlistValue.values ?? []).map((kv) => [kv.key, plain(kv.value)]));
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(plain);
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.stringValue ?? v.doubleValue ?? v.boolValue ?? null;
}
type OtlpLog = { eventName?: string; body?: AnyValue; attributes?: Array<{ key: string; value: AnyValue }>; severityText?: string };

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('events as OTel logs: ratelimiting drop events (ring buffer) reach a real OTLP/HTTP receiver with the decoded fields; ETW events through the same exporter', async (t) => {
  if (requireRoot(t)) return;
  const logs: OtlpLog[] = [];
  const resources: unknown[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      if (req.url === '/v1/logs') {
        const doc = JSON.parse(body.toString()) as { resourceLogs: Array<{ resource: unknown; scopeLogs: Array<{ logRecords: OtlpLog[] }> }> };
        for (const r of doc.resourceLogs) {
          resources.push(r.resource);
          for (const s of r.scopeLogs) logs.push(...s.logRecords);
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const tel = startTelemetry({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'l3af-test' }, metricIntervalMs: 60_000 });
  assert.equal(tel.logsUrl, `${endpoint}/v1/logs`);
  assert.ok(tel.eventLogger);

  await using bpffs = await PrivateBpffs.create();
  using rl = loadRatelimiting(bpffs, IFACE);
  const cfg = rl.obj.map('rl_config_map').typed(u32, u64);
  rl.obj.map('rl_ports_map').update(Buffer.from([80, 0]), Buffer.from([1]));
  cfg.set(0, 5n);
  cfg.set(1, 3_600_000_000_000n);
  const hub = new EventHub({ registry: new Registry(), host: 'h' });
  // a fake ETW source (the real one needs Windows): its events go through the same exporter
  let etwEmit: ((e: EtwEvent) => void) | undefined;
  const etw: EtwSource = { subscribe: (onEvent) => { etwEmit = onEvent; return { close: () => { etwEmit = undefined; } }; } };
  const exporter = new EventLogExport(hub, tel.eventLogger, { etw });
  t.after(async () => {
    exporter.close();
    hub.close();
    await tel.shutdown();
    receiver.close();
  });
  hub.programStarted(rl.running({ iface: IFACE, name: 'ratelimiting', direction: 'xdp_ingress' }));
  assert.equal(cfg.get(2), 512n, 'the exporter is a listener: production on');
  rl.prog.testRun({ data: tcp4(80, 0x02, [], 41000), repeat: 12 }); // 5 pass, 7 drop
  await until(() => exporter.exported === 7, 3000, '7 events exported');
  etwEmit?.({ provider: '{p}', providerName: 'Microsoft-Windows-Test', eventName: 'Hello', id: 1 } as unknown as EtwEvent);
  await tel.flush();
  await until(() => logs.length === 8, 5000, '8 log records at the receiver');

  const drops = logs.filter((l) => l.eventName === 'ratelimiting.drop');
  assert.equal(drops.length, 7);
  const attrs = (l: OtlpLog) => Object.fromEntries((l.attributes ?? []).map((a) => [a.key, plain(a.value)]));
  assert.deepEqual(drops.map((l) => attrs(l)['l3af.seq']), [1, 2, 3, 4, 5, 6, 7]);
  for (const l of drops) {
    assert.deepEqual({ ...attrs(l), 'l3af.seq': 0 }, { 'l3af.program': 'ratelimiting', 'l3af.interface': IFACE, 'l3af.direction': 'xdp_ingress', 'l3af.seq': 0 });
    assert.equal(l.severityText, 'INFO');
  }
  const bodies = drops.map((l) => plain(l.body) as Record<string, unknown>);
  // the fields the SSE stream carries for these records (ratelimiting-events.ts)
  assert.deepEqual(bodies.map((b) => b.drops), [1, 2, 3, 4, 5, 6, 7]);
  for (const b of bodies) {
    assert.equal(b.saddr, '192.0.2.1');
    assert.equal(b.daddr, '198.51.100.7');
    assert.equal(b.sport, 41000);
    assert.equal(b.dport, 80);
    assert.equal(b.family, 4);
    assert.equal(b.rate, 5); // the configured rate
  }
  assert.equal(Number(rl.obj.map('rl_drop_count_map').typed(u32, u64).get(0)), 7);
  const etwLog = logs.find((l) => l.eventName === 'etw')!;
  assert.deepEqual(plain(etwLog.body), { provider: '{p}', providerName: 'Microsoft-Windows-Test', eventName: 'Hello', id: 1 });
  assert.equal(attrs(etwLog)['l3af.source'], 'etw');
  assert.ok(JSON.stringify(resources[0]).includes('l3af-test'), 'service.name on the resource');

  // closed: the hub has no listener left, production off again
  exporter.close();
  assert.equal(cfg.get(2), 0n);
});
