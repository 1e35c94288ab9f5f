// Audit entries as OpenTelemetry logs: the agent (a process, OTEL_* pointing at an OTLP/HTTP receiver started
// here) records an add and a refused update in its audit log; each reaches the receiver as an `l3af.audit` log
// record with the entry as its body (route, outcome, identity, plan, ETags) and its id, route and outcome as
// attributes — the same entries GET /l3af/audit lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineLab, skipUnless, startAgent, type AgentProcess } from '../harness/index.ts';
import { countAndPass, xdpBody } from '../engine/helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; kvlistValue?: { values?: Array<{ key: string; value: AnyValue }> }; arrayValue?: { values?: AnyValue[] } };
function plain(v: AnyValue | undefined): unknown {
  if (!v) return null;
  if (v.kvlistValue) return Object.fromEntries((v.kvlistValue.values ?? []).map((kv) => [kv.key, plain(kv.value)]));
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(plain);
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.stringValue ?? v.boolValue ?? null;
}
type OtlpLog = { eventName?: string; body?: AnyValue; attributes?: Array<{ key: string; value: AnyValue }>; severityText?: string };

test('audit entries reach an OTLP/HTTP receiver as l3af.audit log records, equal to GET /l3af/audit', { skip, timeout: 120_000 }, async () => {
  const logs: OtlpLog[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/logs') {
        const doc = JSON.parse(Buffer.concat(chunks).toString()) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: OtlpLog[] }> }> };
        for (const r of doc.resourceLogs) for (const s of r.scopeLogs) logs.push(...s.logRecords);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  await using bed = await EngineLab.create();
  const { fs, state, iface, host } = bed;
  let agent: AgentProcess | undefined;
  try {
    agent = await startAgent({
      stateDir: state.path, pinRoot: fs.path,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_SERVICE_NAME: 'l3af-audit-test', OTEL_BLRP_SCHEDULE_DELAY: '200', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none',
      },
    });
    const add = await agent.post('add', xdpBody(host, iface, [countAndPass('count-and-pass', 1)]));
    assert.equal(add.status, 200, add.text);
    // an update whose program fails (422) is recorded as partial
    const bad = await agent.post('update', xdpBody(host, iface, [countAndPass('cap', 1, { object_file: 'absent.bpf.o' })]));
    assert.equal(bad.status, 422, bad.text);
    const end = Date.now() + 20_000;
    while (logs.filter((l) => l.eventName === 'l3af.audit').length < 2 && Date.now() < end) await sleep(100);
    const audit = logs.filter((l) => l.eventName === 'l3af.audit');
    assert.equal(audit.length, 2, `two audit log records (got ${logs.map((l) => l.eventName).join(', ')})`);
    const listed = JSON.parse((await (await fetch(agent.base.replace('/configs/v1', '/audit'))).text())) as { entries: Record<string, unknown>[] };
    const attrs = (l: OtlpLog) => Object.fromEntries((l.attributes ?? []).map((a) => [a.key, plain(a.value)]));
    const bodies = audit.map((l) => plain(l.body) as Record<string, unknown>);
    assert.deepEqual(bodies.map((b) => [b.route, b.outcome, b.identity]), [['add', 'ok', 'anonymous'], ['update', 'partial', 'anonymous']]);
    assert.deepEqual(audit.map((l) => l.severityText), ['INFO', 'WARN']);
    assert.deepEqual(audit.map((l) => [attrs(l)['l3af.audit.route'], attrs(l)['l3af.audit.outcome'], attrs(l)['l3af.audit.ifaces']]), [['add', 'ok', iface], ['update', 'partial', iface]]);
    // the same entries GET /l3af/audit lists (newest first there)
    assert.deepEqual(bodies.map((b) => b.id), listed.entries.map((e) => e.id).reverse());
    for (const b of bodies) {
      const e = listed.entries.find((x) => x.id === b.id)!;
      assert.deepEqual([b.etag_before, b.etag_after, b.body_sha256], [e.etag_before, e.etag_after, e.body_sha256]);
    }
    assert.ok(Array.isArray(bodies[0]?.plan) && (bodies[0]?.plan as unknown[]).length === 1, 'the plan is in the record');
  } finally {
    await agent?.stop();
    receiver.close();
  }
});
