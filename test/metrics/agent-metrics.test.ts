// Agent lifecycle metrics: counters, running/start-time gauges, series removal, l3afd names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { AgentMetrics } from '../../agent/src/metrics/agent-metrics.ts';
import type { RunningProgram } from '../../agent/src/observer/program.ts';
import { parseExposition, samplesOf, valueOf } from './exposition.ts';

const P: RunningProgram = {
  iface: 'eth9', direction: 'xdp_ingress', name: 'ratelimiting', version: '1.0', ipv4: '10.1.2.3', progId: 42,
  mapPinDir: '/sys/fs/bpf/eth9/ratelimiting/1_0', monitorMaps: [],
};
const OURS = { host: 'h1', program: 'ratelimiting', direction: 'xdp_ingress', interface: 'eth9', ipv4_address: '10.1.2.3' };
const THEIRS = { host: 'h1', ebpf_program: 'ratelimiting', direction: 'xdpingress', interface_name: 'eth9', ipv4_address: '10.1.2.3' };

async function scrape(r: Registry): Promise<ReturnType<typeof parseExposition>> {
  const e = parseExposition(await r.metrics());
  assert.deepEqual(e.errors, []);
  return e;
}

test('lifecycle counters and gauges, our names pass the promlint rules', async () => {
  const registry = new Registry();
  const m = new AgentMetrics({ registry, host: 'h1', now: () => 1_700_000_000_000 });
  m.programStarted(P);
  m.programUpdated(P);
  m.updateFailed(P, 'bad map_args');
  let e = await scrape(registry);
  assert.deepEqual(e.lint, []);
  assert.equal(valueOf(e, 'l3af_program_starts_total', OURS), 1);
  assert.equal(valueOf(e, 'l3af_program_updates_total', OURS), 1);
  assert.equal(valueOf(e, 'l3af_program_update_failures_total', OURS), 1);
  assert.equal(valueOf(e, 'l3af_program_stops_total', OURS), 0);
  assert.equal(valueOf(e, 'l3af_program_running', { ...OURS, version: '1.0' }), 1);
  assert.equal(valueOf(e, 'l3af_program_start_time_seconds', OURS), 1_700_000_000);
  m.setRunning(P, false);
  e = await scrape(registry);
  assert.equal(valueOf(e, 'l3af_program_running', OURS), 0);
  m.setRunning(P, true);
  // a new version replaces the running series (no stale version label)
  m.programUpdated({ ...P, version: '2.0' });
  e = await scrape(registry);
  assert.equal(samplesOf(e, 'l3af_program_running').length, 1);
  assert.equal(valueOf(e, 'l3af_program_running', { version: '2.0' }), 1);
  m.programStopped({ ...P, version: '2.0' });
  e = await scrape(registry);
  assert.equal(samplesOf(e, 'l3af_program_running').length, 0);
  assert.equal(samplesOf(e, 'l3af_program_start_time_seconds').length, 0);
  assert.equal(valueOf(e, 'l3af_program_stops_total', OURS), 1);
  // setRunning after the stop does not resurrect the series
  m.setRunning(P, true);
  e = await scrape(registry);
  assert.equal(samplesOf(e, 'l3af_program_running').length, 0);
  m.close();
});

test('counter series of a stopped program are removed after the retention time', async () => {
  const registry = new Registry();
  const m = new AgentMetrics({ registry, host: 'h1', counterRetentionMs: 30 });
  m.programStarted(P);
  m.programStopped(P);
  assert.equal(samplesOf(await scrape(registry), 'l3af_program_stops_total').length, 1);
  await sleep(60);
  const e = await scrape(registry);
  for (const n of ['l3af_program_starts_total', 'l3af_program_stops_total', 'l3af_program_updates_total']) assert.equal(samplesOf(e, n).length, 0, n);
  // a deploy failure of a program that never ran: counted, then removed the same way
  m.deployFailed({ iface: 'eth9', direction: 'tc_egress', name: 'x', version: '1', ipv4: '' }, 'no such interface');
  assert.equal(valueOf(await scrape(registry), 'l3af_program_deploy_failures_total', { program: 'x', direction: 'tc_egress' }), 1);
  await sleep(60);
  assert.equal(samplesOf(await scrape(registry), 'l3af_program_deploy_failures_total').length, 0);
});

test('l3afd compat: its names, labels and direction spelling', async () => {
  const registry = new Registry();
  const m = new AgentMetrics({ registry, host: 'h1', l3afdCompat: true, now: () => 5000 });
  m.programStarted(P);
  m.programUpdated(P);
  m.updateFailed(P, 'x');
  m.deployFailed({ ...P, direction: 'tc_ingress', name: 'other' }, 'y');
  const e = await scrape(registry);
  assert.equal(valueOf(e, 'l3afd_BPFStartCount', THEIRS), 1);
  assert.equal(valueOf(e, 'l3afd_BPFUpdateCount', THEIRS), 1);
  assert.equal(valueOf(e, 'l3afd_BPFUpdateFailedCount', THEIRS), 1);
  assert.equal(valueOf(e, 'l3afd_BPFStopCount', THEIRS), 0);
  assert.equal(valueOf(e, 'l3afd_BPFDeployFailedCount', { ebpf_program: 'other', direction: 'ingress' }), 1);
  assert.equal(valueOf(e, 'l3afd_BPFRunning', { ...THEIRS, version: '1.0' }), 1);
  assert.equal(valueOf(e, 'l3afd_BPFStartTime', THEIRS), 5);
  assert.equal(e.types.get('l3afd_BPFStartCount'), 'counter');
  // promlint flags only l3afd's own spelling (camelCase, counters without _total)
  assert.ok(e.lint.length > 0);
  for (const l of e.lint) assert.match(l, /^l3afd_BPF/);
  m.programStopped(P);
  const e2 = await scrape(registry);
  assert.equal(samplesOf(e2, 'l3afd_BPFRunning', { ebpf_program: 'ratelimiting' }).length, 0);
  assert.equal(valueOf(e2, 'l3afd_BPFStopCount', THEIRS), 1);
  m.close();
});
