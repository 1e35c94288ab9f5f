// /metrics on a real listener: agent metrics, map monitors, kernel run statistics and host info in
// one registry, scraped over HTTP while ratelimiting runs (BPF_PROG_TEST_RUN), then checked with
// promtool (or the fallback checker when promtool is not installed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { u32, u64 } from '../../agent/src/bpf/index.ts';
import { AgentMetrics } from '../../agent/src/metrics/agent-metrics.ts';
import { MapMonitors } from '../../agent/src/metrics/map-monitor.ts';
import { KernelStats } from '../../agent/src/metrics/kernel-stats.ts';
import { parseListenAddr, startMetricsServer } from '../../agent/src/metrics/metrics-server.ts';
import { HostFactsCache } from '../../agent/src/platform/host-facts.ts';
import { registerHostMetrics } from '../../agent/src/metrics/host-metrics.ts';
import { PrivateBpffs, requireRoot } from '../harness/index.ts';
import { tcp4 } from '../programs/frames.ts';
import { loadRatelimiting } from './fixtures.ts';
import { parseExposition, promtoolCheck, promtoolPath, samplesOf, valueOf } from './exposition.ts';

const IFACE = `ms${process.pid}`;

test('listen address parsing', () => {
  assert.deepEqual(parseListenAddr('localhost:8898'), { host: 'localhost', port: 8898 });
  assert.deepEqual(parseListenAddr(':9100'), { host: undefined, port: 9100 });
  assert.deepEqual(parseListenAddr('[::1]:0'), { host: '::1', port: 0 });
  assert.throws(() => parseListenAddr('localhost'), /host:port/);
  assert.throws(() => parseListenAddr('h:70000'), /out of range/);
});

test('live /metrics: kernel counters, run statistics, lifecycle; series gone after stop; promtool clean', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using rl = loadRatelimiting(bpffs, IFACE);
  const cfg = rl.obj.map('rl_config_map').typed(u32, u64);
  rl.obj.map('rl_ports_map').update(Buffer.from([80, 0]), Buffer.from([1]));
  cfg.set(0, 100n);
  cfg.set(1, 3_600_000_000_000n);

  const registry = new Registry();
  const agent = new AgentMetrics({ registry, host: 'h' });
  const maps = new MapMonitors({ registry, host: 'h', intervalMs: 100 });
  const kstats = new KernelStats({ registry, host: 'h', intervalMs: 100, enable: true }).start();
  const cache = new HostFactsCache();
  registerHostMetrics(registry, cache);
  await cache.get();
  const srv = await startMetricsServer({ registry, addr: '127.0.0.1:0' });
  t.after(async () => {
    maps.close();
    kstats.close();
    agent.close();
    await srv.close();
  });
  assert.equal(kstats.enabled, true);
  const p = rl.running({ iface: IFACE, name: 'ratelimiting', monitorMaps: [
    { name: 'rl_recv_count_map', key: 0, aggregator: 'scalar' },
    { name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' },
  ] });
  for (const o of [agent, maps, kstats]) o.programStarted(p);
  const before = rl.prog.info().runCount;
  rl.prog.testRun({ data: tcp4(80), repeat: 5000 });
  maps.sampleNow();
  kstats.sampleNow();

  const res = await fetch(srv.url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  const e = parseExposition(text);
  assert.deepEqual(e.errors, []);
  const promtool = promtoolPath();
  if (promtool) {
    const r = promtoolCheck(promtool, text);
    assert.equal(r.status, 0, r.output);
    t.diagnostic('promtool check metrics: clean');
  } else {
    t.diagnostic('promtool is not installed (Debian package prometheus): fallback checker only');
  }
  assert.deepEqual(e.lint, []);
  const info = rl.prog.info();
  const L = { program: 'ratelimiting', interface: IFACE };
  assert.equal(valueOf(e, 'l3af_map_value', { ...L, map: 'rl_recv_count_map' }), 5000);
  assert.equal(valueOf(e, 'l3af_map_value', { ...L, map: 'rl_drop_count_map' }), 4900);
  assert.equal(info.runCount - before, 5000n, 'kernel counted every test run');
  assert.equal(valueOf(e, 'l3af_program_runs_total', L), Number(info.runCount));
  assert.equal(valueOf(e, 'l3af_program_run_time_seconds_total', L), Number(info.runTimeNs) / 1e9);
  const avg = valueOf(e, 'l3af_program_run_average_seconds', L);
  assert.ok(avg > 0 && avg < 1e-5, `average ${avg * 1e9} ns per run`);
  t.diagnostic(`ratelimiting: ${info.runCount} runs, ${(avg * 1e9).toFixed(1)} ns per run (bpf_prog_info)`);
  assert.equal(valueOf(e, 'l3af_kernel_stats_enabled'), 1);
  assert.equal(valueOf(e, 'l3af_program_running', L), 1);
  assert.equal(valueOf(e, 'l3af_host_bpf_feature', { feature: 'kernel_stats' }), 1);

  for (const o of [agent, maps, kstats]) o.programStopped(p);
  const e2 = parseExposition(await (await fetch(srv.url)).text());
  for (const n of ['l3af_map_value', 'l3af_program_runs_total', 'l3af_program_running', 'l3af_program_start_time_seconds']) {
    assert.equal(samplesOf(e2, n).length, 0, n);
  }
  assert.equal(valueOf(e2, 'l3af_program_stops_total', L), 1);
  assert.equal((await fetch(srv.url.replace('/metrics', '/other'))).status, 404);
});
