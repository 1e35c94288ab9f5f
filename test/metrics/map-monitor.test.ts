// Map monitors on the real kernel: ratelimiting and test/bpf/obs_maps.bpf.c loaded into a private
// bpffs, driven with BPF_PROG_TEST_RUN, read back through /metrics (the registry's exposition).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { possibleCpuCount, u32, u64 } from '../../agent/src/bpf/index.ts';
import { MapMonitors } from '../../agent/src/metrics/map-monitor.ts';
import { PrivateBpffs, requireRoot } from '../harness/index.ts';
import { tcp4 } from '../programs/frames.ts';
import { loadObsMaps, loadRatelimiting, memoryLogger } from './fixtures.ts';
import { parseExposition, promtoolCheck, promtoolPath, samplesOf, valueOf } from './exposition.ts';

const IFACE = `obs${process.pid}`;
const HOST = 'testhost';

async function scrape(registry: Registry): Promise<ReturnType<typeof parseExposition>> {
  const e = parseExposition(await registry.metrics());
  assert.deepEqual(e.errors, [], 'exposition format errors');
  return e;
}

test('ratelimiting: scalar equals the kernel counters; max-rate and avg follow the driven rate over real time', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using rl = loadRatelimiting(bpffs, IFACE);
  const cfg = rl.obj.map('rl_config_map').typed(u32, u64);
  rl.obj.map('rl_ports_map').update(Buffer.from([80, 0]), Buffer.from([1]));
  cfg.set(0, 10n); // 10 per window
  cfg.set(1, 3_600_000_000_000n); // one hour: the first 10 pass, the rest drop
  const recv = rl.obj.map('rl_recv_count_map').typed(u32, u64);
  const drop = rl.obj.map('rl_drop_count_map').typed(u32, u64);
  const frame = tcp4(80);
  rl.prog.testRun({ data: frame, repeat: 1000 });

  const registry = new Registry();
  const mon = new MapMonitors({ registry, host: HOST, intervalMs: 200, samples: 20, l3afdCompat: true });
  t.after(() => mon.close());
  const p = rl.running({
    iface: IFACE, name: 'ratelimiting', ipv4: '10.0.0.1', monitorMaps: [
      { name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' },
      { name: 'rl_recv_count_map', key: 0, aggregator: 'scalar' },
      { name: 'rl_recv_count_map', key: 0, aggregator: 'max-rate' },
      { name: 'rl_recv_count_map', key: 0, aggregator: 'avg' },
    ],
  });
  mon.programStarted(p); // first sample: primes
  let e = await scrape(registry);
  const base = { program: 'ratelimiting', interface: IFACE, ipv4_address: '10.0.0.1', host: HOST, direction: 'xdp_ingress' };
  assert.equal(valueOf(e, 'l3af_map_value', { ...base, map: 'rl_drop_count_map', key: '0' }), Number(drop.get(0)));
  assert.equal(valueOf(e, 'l3af_map_value', { ...base, map: 'rl_recv_count_map', key: '0' }), Number(recv.get(0)));
  assert.equal(Number(recv.get(0)), 1000);
  assert.equal(Number(drop.get(0)), 990);
  // no spike at start: the first sample only primes the rate window
  assert.equal(samplesOf(e, 'l3af_map_rate_max_per_second').length, 0);
  assert.equal(samplesOf(e, 'l3af_map_rate_avg_per_second').length, 0);
  assert.equal(valueOf(e, 'l3afd_BPFMonitorMap', { map_name: 'rl_drop_count_map_0_scalar', ebpf_program: 'ratelimiting', interface_name: IFACE }), 990);

  // drive SYNs at RATE per second for 3 s (kept on schedule against the clock in 5 ms steps)
  const RATE = 4000;
  cfg.set(0, 0n); // no limit: every candidate is counted and passed
  mon.start();
  const t0 = performance.now();
  let done = 0;
  while (performance.now() - t0 < 3000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * RATE);
    if (due > done) {
      rl.prog.testRun({ data: frame, repeat: due - done });
      done = due;
    }
    await sleep(5);
  }
  const driveMs = performance.now() - t0;
  mon.sampleNow();
  e = await scrape(registry);
  const maxRate = valueOf(e, 'l3af_map_rate_max_per_second', { ...base, map: 'rl_recv_count_map', key: '0' });
  const avg = valueOf(e, 'l3af_map_rate_avg_per_second', { ...base, map: 'rl_recv_count_map', key: '0' });
  const scrapedRecv = valueOf(e, 'l3af_map_value', { ...base, map: 'rl_recv_count_map', key: '0' });
  t.diagnostic(`driven ${done} SYNs in ${driveMs.toFixed(0)} ms (${(done / driveMs * 1000).toFixed(0)}/s): max-rate ${maxRate.toFixed(0)}/s, avg ${avg.toFixed(0)}/s`);
  assert.equal(scrapedRecv, Number(recv.get(0)));
  assert.equal(scrapedRecv, 1000 + done);
  assert.ok(avg > RATE * 0.93 && avg < RATE * 1.07, `avg ${avg} ≈ ${RATE}`);
  assert.ok(maxRate >= avg && maxRate < RATE * 1.3, `max-rate ${maxRate} ≈ ${RATE}`);
  // l3afd's max-rate: the largest increase of one sample interval (200 ms here), an integer
  const l3afdMax = valueOf(e, 'l3afd_BPFMonitorMap', { map_name: 'rl_recv_count_map_0_max-rate' });
  assert.ok(Number.isInteger(l3afdMax), `l3afd max-rate ${l3afdMax} is an integer`);
  assert.ok(l3afdMax >= RATE * 0.2 * 0.8 && l3afdMax <= maxRate * 0.6, `l3afd max-rate ${l3afdMax} ≈ one 200 ms interval at ${RATE}/s`);
  assert.equal(valueOf(e, 'l3afd_BPFMonitorMap', { map_name: 'rl_recv_count_map_0_avg' }), avg);

  // idle: the rate of new intervals is 0, the window still remembers the peak
  await sleep(450);
  e = await scrape(registry);
  assert.equal(valueOf(e, 'l3af_map_rate_max_per_second', { map: 'rl_recv_count_map' }), maxRate);
  assert.ok(valueOf(e, 'l3af_map_rate_avg_per_second', { map: 'rl_recv_count_map' }) < avg);

  // stopped: every series of the program is gone
  mon.programStopped(p);
  e = await scrape(registry);
  for (const n of ['l3af_map_value', 'l3af_map_rate_max_per_second', 'l3af_map_rate_avg_per_second', 'l3afd_BPFMonitorMap']) {
    assert.equal(samplesOf(e, n).length, 0, n);
  }
});

test('obs_maps: per-CPU sums, 1/2/8-byte keys and a 4-byte value, key ranges under a reported series bound, a log2 histogram', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using obs = loadObsMaps(bpffs, IFACE);
  // per-CPU: every CPU gets its own value from user space, then the program adds on the CPU it runs on
  const ncpu = possibleCpuCount();
  const all = Buffer.alloc(8 * ncpu);
  for (let c = 0; c < ncpu; c++) all.writeBigUInt64LE(BigInt(1000 * (c + 1)), 8 * c);
  obs.obj.map('obs_pcpu').update(Buffer.alloc(4), all);
  const lengths: number[] = [];
  for (let i = 0; i < 10; i++) lengths.push(64);
  for (let i = 0; i < 5; i++) lengths.push(200);
  for (let i = 0; i < 3; i++) lengths.push(1000);
  for (let l = 20; l < 40; l++) lengths.push(l); // 20 more distinct lengths (slot 4: 16..31, slot 5: 32..63)
  for (const [i, l] of lengths.entries()) obs.prog.testRun({ data: Buffer.alloc(l, i % 3) });
  const n = lengths.length;

  const registry = new Registry();
  const { logger, lines } = memoryLogger();
  const mon = new MapMonitors({
    registry, host: HOST, maxKeysPerSpec: 10, logger,
    extraSpecs: () => [
      { name: 'obs_pcpu', key: 0, aggregator: 'scalar' },
      { name: 'obs_u32', key: 0, aggregator: 'scalar' },
      { name: 'obs_by_byte', key: 'all', aggregator: 'scalar' },
      { name: 'obs_by_len', key: 'all', aggregator: 'scalar' },
      { name: 'obs_by_len64', key: { from: 25, to: 29 }, aggregator: 'scalar' },
      { name: 'obs_len_hist', key: { from: 0, to: 31 }, aggregator: 'histogram', sumSlot: 32 },
    ],
  });
  t.after(() => mon.close());
  const p = obs.running({ iface: IFACE, name: 'obs' });
  mon.programStarted(p);
  const e = await scrape(registry);
  const perCpuExpected = Array.from({ length: ncpu }, (_, c) => 1000 * (c + 1)).reduce((a, b) => a + b, 0) + n;
  assert.equal(valueOf(e, 'l3af_map_value', { map: 'obs_pcpu', key: '0' }), perCpuExpected);
  assert.equal(valueOf(e, 'l3af_map_value', { map: 'obs_u32', key: '0' }), n);
  // u8 keys: first byte i % 3
  for (const b of [0, 1, 2]) {
    assert.equal(valueOf(e, 'l3af_map_value', { map: 'obs_by_byte', key: String(b) }), lengths.filter((_, i) => i % 3 === b).length);
  }
  // u16 keys: 23 distinct lengths, bound 10 → 10 series, 13 omitted, one log line
  const byLen = samplesOf(e, 'l3af_map_value', { map: 'obs_by_len' });
  assert.equal(byLen.length, 10);
  for (const s of byLen) assert.equal(s.value, lengths.filter((l) => l === Number(s.labels.key)).length);
  assert.equal(valueOf(e, 'l3af_map_keys_omitted', { map: 'obs_by_len' }), 13);
  assert.equal(valueOf(e, 'l3af_map_keys_omitted', { map: 'obs_by_byte' }), 0);
  const warn = lines.filter((l) => l.map === 'obs_by_len' && l.limit === 10);
  assert.equal(warn.length, 1);
  assert.equal(warn[0]!.omitted, 13);
  // u64 keys, range 25..29
  const range = samplesOf(e, 'l3af_map_value', { map: 'obs_by_len64' }).map((s) => Number(s.labels.key)).sort((a, b) => a - b);
  assert.deepEqual(range, [25, 26, 27, 28, 29]);
  // histogram: cumulative, le = 2^(i+1)-1
  const bucket = (le: string): number => valueOf(e, 'l3af_map_log2_distribution_bucket', { map: 'obs_len_hist', le });
  assert.equal(bucket('31'), 12); // 20..31
  assert.equal(bucket('63'), 20); // + 32..39
  assert.equal(bucket('127'), 30); // + 10 × 64
  assert.equal(bucket('255'), 35); // + 5 × 200
  assert.equal(bucket('1023'), 38); // + 3 × 1000
  assert.equal(bucket('+Inf'), n);
  assert.equal(valueOf(e, 'l3af_map_log2_distribution_count', { map: 'obs_len_hist' }), n);
  assert.equal(valueOf(e, 'l3af_map_log2_distribution_sum', { map: 'obs_len_hist' }), lengths.reduce((a, b) => a + b, 0));
  // the log line is not repeated on later samples
  mon.sampleNow();
  assert.equal(lines.filter((l) => l.map === 'obs_by_len' && l.limit === 10).length, 1);

  // a replaced program (new kernel program, new pins) is re-opened: values come from the new maps
  using obs2 = loadObsMaps(bpffs, IFACE, '2.0');
  obs2.prog.testRun({ data: Buffer.alloc(64) });
  mon.programUpdated(obs2.running({ iface: IFACE, name: 'obs', version: '2.0' }));
  const e2 = await scrape(registry);
  assert.equal(valueOf(e2, 'l3af_map_value', { map: 'obs_u32', key: '0' }), 1);
  assert.equal(samplesOf(e2, 'l3af_map_value', { map: 'obs_by_len' }).length, 1);

  // a map that is not pinned: counted as an error, logged once, the others still sampled
  const bad = { ...obs2.running({ iface: IFACE, name: 'obs', version: '2.0' }), progId: 0, monitorMaps: [{ name: 'no_such_map', key: 0, aggregator: 'scalar' as const }] };
  mon.programUpdated(bad);
  mon.sampleNow();
  const e3 = await scrape(registry);
  assert.equal(valueOf(e3, 'l3af_map_sample_errors_total', { map: 'no_such_map' }), 2);
  assert.equal(lines.filter((l) => l.map === 'no_such_map').length, 1);
  assert.equal(valueOf(e3, 'l3af_map_value', { map: 'obs_u32', key: '0' }), 1);
});

test('promtool check metrics on the map series (fallback checker when promtool is absent)', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using obs = loadObsMaps(bpffs, IFACE);
  obs.prog.testRun({ data: Buffer.alloc(100), repeat: 3 });
  const registry = new Registry();
  const mon = new MapMonitors({ registry, host: HOST, extraSpecs: () => [
    { name: 'obs_len_hist', key: 'all', aggregator: 'histogram', sumSlot: 32 },
    { name: 'obs_by_len', key: 'all', aggregator: 'max-rate' },
  ] });
  t.after(() => mon.close());
  mon.programStarted(obs.running({ iface: IFACE, name: 'obs', monitorMaps: [{ name: 'obs_u32', key: 0, aggregator: 'scalar' }] }));
  await sleep(20);
  mon.sampleNow();
  const text = await registry.metrics();
  const promtool = promtoolPath();
  if (promtool) {
    const r = promtoolCheck(promtool, text);
    assert.equal(r.status, 0, r.output);
  } else {
    t.diagnostic('promtool is not installed (Debian package prometheus): fallback checker only');
  }
  const e = parseExposition(text);
  assert.deepEqual(e.errors, []);
  assert.deepEqual(e.lint, []);
  assert.ok(samplesOf(e, 'l3af_map_log2_distribution_bucket').length > 0);
});
