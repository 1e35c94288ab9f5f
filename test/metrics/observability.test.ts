// The assembled observability side as main would start it: one observer fanned out to every part,
// /metrics on a real listener with l3afd names on, a live ratelimiting program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { u32, u64 } from '../../agent/src/bpf/index.ts';
import { Observability } from '../../agent/src/app/observability.ts';
import { PrivateBpffs, requireRoot } from '../harness/index.ts';
import { tcp4 } from '../programs/frames.ts';
import { loadRatelimiting } from './fixtures.ts';
import { parseExposition, samplesOf, valueOf } from './exposition.ts';

const IFACE = `ob${process.pid}`;

test('Observability: one observer, /metrics with our and l3afd names, events, clean close', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using rl = loadRatelimiting(bpffs, IFACE);
  rl.obj.map('rl_ports_map').update(Buffer.from([80, 0]), Buffer.from([1]));
  const cfg = rl.obj.map('rl_config_map').typed(u32, u64);
  cfg.set(0, 1n);
  cfg.set(1, 3_600_000_000_000n);
  const obs = await Observability.start({ metricsAddr: '127.0.0.1:0', sampleIntervalMs: 100, l3afdCompat: true, kernelStatsEnabled: true, host: 'h', env: {} });
  t.after(() => obs.close());
  assert.equal(obs.telemetry.enabled, false);
  const p = rl.running({ iface: IFACE, name: 'ratelimiting', ipv4: '10.9.9.9', monitorMaps: [
    { name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' },
    { name: 'rl_recv_count_map', key: 0, aggregator: 'max-rate' },
  ] });
  obs.programStarted(p);
  const sub = obs.events.subscribe({ program: 'ratelimiting' });
  rl.prog.testRun({ data: tcp4(80), repeat: 21 });
  await sleep(350);
  const e = parseExposition(await (await fetch(obs.server!.url)).text());
  assert.deepEqual(e.errors, []);
  assert.equal(valueOf(e, 'l3af_map_value', { map: 'rl_drop_count_map' }), 20);
  assert.equal(valueOf(e, 'l3afd_BPFMonitorMap', { map_name: 'rl_drop_count_map_0_scalar', ebpf_program: 'ratelimiting', ipv4_address: '10.9.9.9' }), 20);
  assert.ok(valueOf(e, 'l3afd_BPFMonitorMap', { map_name: 'rl_recv_count_map_0_max-rate' }) > 0);
  assert.equal(valueOf(e, 'l3afd_BPFRunning', { ebpf_program: 'ratelimiting', direction: 'xdpingress', interface_name: IFACE }), 1);
  assert.equal(valueOf(e, 'l3af_program_runs_total', { program: 'ratelimiting' }), 21);
  assert.equal(sub.pending, 20);
  assert.equal(cfg.get(2), 512n);
  obs.setRunning(p, false);
  obs.programStopped(p);
  const e2 = parseExposition(await (await fetch(obs.server!.url)).text());
  for (const n of ['l3af_map_value', 'l3afd_BPFMonitorMap', 'l3afd_BPFRunning', 'l3af_program_runs_total']) assert.equal(samplesOf(e2, n).length, 0, n);
  assert.equal(valueOf(e2, 'l3afd_BPFStopCount', { ebpf_program: 'ratelimiting' }), 1);
});
