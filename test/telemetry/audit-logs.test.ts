// Audit entries as OpenTelemetry logs and the audit counter across re-created observability: an
// AuditLog wired into Observability (as app/agent.ts does) exports each recorded change to a real
// OTLP/HTTP receiver started here; when observability is closed and started again (what a failed
// hand-over does), `l3af_audit_entries_total` is registered in the new registry with the counts so far.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditLog } from '../../agent/src/audit/audit-log.ts';
import { Observability } from '../../agent/src/app/observability.ts';

type AnyValue = { stringValue?: string; intValue?: string | number; kvlistValue?: { values?: Array<{ key: string; value: AnyValue }> }; arrayValue?: { values?: AnyValue[] } };
type OtlpLog = { eventName?: string; body?: AnyValue; attributes?: Array<{ key: string; value: AnyValue }>; severityText?: string };
function plain(v: AnyValue | undefined): unknown {
  if (!v) return null;
  if (v.kvlistValue) return Object.fromEntries((v.kvlistValue.values ?? []).map((kv) => [kv.key, plain(kv.value)]));
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(plain);
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.stringValue ?? null;
}
const attrs = (l: OtlpLog): Record<string, unknown> => Object.fromEntries((l.attributes ?? []).map((a) => [a.key, plain(a.value)]));

const entry = (route: 'add' | 'update' | 'delete' | 'revert', outcome: 'ok' | 'failed', iface = 'veth0') => ({
  identity: 'CN=operator', route, body_sha256: 'ab'.repeat(32), plan: [], outcome,
  ...(outcome === 'failed' ? { error: 'verifier rejected' } : {}),
  etag_before: '"a"', etag_after: '"b"', ifaces: [iface], before: [],
});

async function counterValues(o: Observability): Promise<Record<string, number>> {
  const m = await o.registry.getSingleMetric('l3af_audit_entries_total')?.get();
  return Object.fromEntries((m?.values ?? []).map((v) => [`${String(v.labels.route)}/${String(v.labels.outcome)}`, v.value]));
}

test('audit entries become OTel log records at a real OTLP receiver; the audit counter survives re-created observability', async (t) => {
  const logs: OtlpLog[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      if (req.url === '/v1/logs') {
        const doc = JSON.parse(body.toString()) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: OtlpLog[] }> }> };
        for (const r of doc.resourceLogs) for (const s of r.scopeLogs) logs.push(...s.logRecords);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), `l3af-audit-otel-${process.pid}-`));
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_METRICS_EXPORTER: 'none', OTEL_TRACES_EXPORTER: 'none' };
  const audit = new AuditLog({ dir });
  let obs = await Observability.start({ audit, env });
  audit.useRegistry(obs.registry);
  t.after(async () => {
    await obs.close();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });
  assert.ok(obs.auditLogs, 'OTLP logs configured: the audit exporter runs');

  const a = audit.append(entry('add', 'ok'));
  const b = audit.append(entry('update', 'failed', 'veth1'));
  await obs.telemetry.flush();
  for (let i = 0; i < 250 && logs.length < 2; i++) await sleep(20);
  const audits = logs.filter((l) => l.eventName === 'l3af.audit');
  assert.equal(audits.length, 2);
  assert.deepEqual(audits.map((l) => attrs(l)['l3af.audit.id']), [a.id, b.id]);
  assert.deepEqual(attrs(audits[0]!), { 'l3af.audit.id': a.id, 'l3af.audit.route': 'add', 'l3af.audit.outcome': 'ok', 'l3af.audit.identity': 'CN=operator', 'l3af.audit.ifaces': ['veth0'] });
  assert.deepEqual(audits.map((l) => l.severityText), ['INFO', 'WARN']);
  const body = plain(audits[1]!.body) as Record<string, unknown>;
  assert.equal(body.id, b.id);
  assert.equal(body.error, 'verifier rejected');
  assert.equal(body.etag_before, '"a"');
  assert.equal('before' in body, false, 'the stored state before the change is not exported (as GET /l3af/audit)');
  assert.deepEqual(await counterValues(obs), { 'add/ok': 1, 'update/failed': 1 });

  // a failed hand-over closes observability and starts it again: a new registry
  await obs.close();
  assert.equal(obs.auditLogs?.exported, 2);
  const exportedBefore = logs.length;
  audit.append(entry('delete', 'ok')); // while closed: counted, not exported
  obs = await Observability.start({ audit, env });
  audit.useRegistry(obs.registry);
  assert.deepEqual(await counterValues(obs), { 'add/ok': 1, 'update/failed': 1, 'delete/ok': 1 }, 'counter re-registered with the counts so far');
  const c = audit.append(entry('revert', 'ok'));
  assert.deepEqual(await counterValues(obs), { 'add/ok': 1, 'update/failed': 1, 'delete/ok': 1, 'revert/ok': 1 });
  assert.match(await obs.registry.metrics(), /l3af_audit_entries_total\{route="revert",outcome="ok"\} 1/);
  await obs.telemetry.flush();
  for (let i = 0; i < 250 && logs.length < exportedBefore + 1; i++) await sleep(20);
  assert.deepEqual(logs.slice(exportedBefore).map((l) => attrs(l)['l3af.audit.id']), [c.id], 'the new exporter exports, the closed one does not');
});

test('an audit log without a registry or exporter still records; a throwing subscriber never fails the append', () => {
  const dir = mkdtempSync(join(tmpdir(), `l3af-audit-sub-${process.pid}-`));
  try {
    const audit = new AuditLog({ dir });
    const seen: string[] = [];
    const off = audit.subscribe(() => { throw new Error('exporter down'); });
    audit.subscribe((e) => seen.push(e.id));
    const e = audit.append(entry('add', 'ok'));
    assert.deepEqual(seen, [e.id]);
    off();
    assert.equal(audit.list().entries.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
