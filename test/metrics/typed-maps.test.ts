// Typed monitor_maps on the real kernel: test/bpf/obs_typed.bpf.c's struct-keyed maps (IPv4 and
// IPv6 flows, ports in network order, struct values) and test/bpf/obs_maps.bpf.c (log2
// histogram, integer ranges) loaded into a private bpffs, filled with BPF_PROG_TEST_RUN, and
// read back through /metrics. The monitor_maps entries go through the payload schema and its
// normalisation exactly as a REST payload would (L3AF's open shapes included).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { possibleCpuCount } from '../../agent/src/bpf/index.ts';
import { MapMonitors } from '../../agent/src/metrics/map-monitor.ts';
import { createRequire } from 'node:module';
import { BpfProgram, normalizeProgram, type MonitorMap, type MonitorMapRequest } from '../../agent/src/payload/index.ts';
import { PrivateBpffs, requireRoot } from '../harness/index.ts';
import { ethernet, ipv4, ipv6, tcp, udp } from '../programs/frames.ts';
import { loadObsMaps, loadObsTyped, memoryLogger } from './fixtures.ts';
import { parseExposition, promtoolCheck, promtoolPath, samplesOf, valueOf } from './exposition.ts';

const IFACE = `typ${process.pid}`;
const HOST = 'testhost';

// fastify's ajv 8 (resolved through ajv-formats, as the API does)
const requireFromFormats = createRequire(import.meta.resolve('ajv-formats'));
type Validate = ((data: unknown) => boolean) & { errors?: unknown };
const AjvClass = (requireFromFormats('ajv') as { default: new (o: object) => { compile(s: unknown): Validate } }).default;
const validateProgram = new AjvClass({ allErrors: true, coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false }).compile(BpfProgram);

/** The entries as a payload carries them, validated against the wire schema and normalised as the API does. */
function payloadEntries(entries: MonitorMapRequest[]): MonitorMap[] {
  const program = {
    name: 'obs_typed', seq_id: 1, artifact: 'obs_typed.tar.gz', version: '1.0', admin_status: 'enabled', prog_type: 'xdp',
    monitor_maps: structuredClone(entries),
  };
  assert.ok(validateProgram(program), JSON.stringify(validateProgram.errors));
  return normalizeProgram(program as never).monitor_maps ?? [];
}

async function scrape(registry: Registry) {
  const text = await registry.metrics();
  const e = parseExposition(text);
  assert.deepEqual(e.errors, [], 'exposition format errors');
  return { e, text };
}

test('struct-keyed maps: IPv4/IPv6 flows become labelled series (addresses, ports in network order), struct values by path with their own aggregators, per-CPU by CPU, the series bound reported', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using obs = loadObsTyped(bpffs, IFACE);
  // IPv4: 3 TCP flows (sport 1000, 1001, 1002 → dport 80), one with 2 packets; 1 UDP flow to 53
  const f4 = (sport: number, dport: number, proto: 'tcp' | 'udp') => ethernet(0x0800, ipv4(proto === 'tcp' ? tcp(sport, dport, 2) : udp(sport, dport), { proto: proto === 'tcp' ? 6 : 17 }));
  for (const s of [1000, 1001, 1002, 1002]) obs.prog.testRun({ data: f4(s, 80, 'tcp') });
  obs.prog.testRun({ data: f4(5353, 53, 'udp') });
  // IPv6: 2 packets to port 443
  const f6 = ethernet(0x86dd, ipv6(tcp(4000, 443, 2)));
  obs.prog.testRun({ data: f6 });
  obs.prog.testRun({ data: f6 });
  const len4 = f4(1000, 80, 'tcp').length;

  const monitorMaps = payloadEntries([
    // every flow, default labels: every key field by its path; every value field (`field` label)
    { name: 'obs_flows4', key: '*', aggregator: 'scalar' },
    // chosen labels and one value field, with a key bound of 2 (4 flows: 2 left out, reported)
    { name: 'obs_flows4', key: '*', aggregator: 'max-rate', labels: [{ name: 'src', path: 'saddr' }, { name: 'src_port', path: 'sport' }], values: [{ path: 'packets' }], max_keys: 2 },
    // IPv6 key fields
    { name: 'obs_flows6', key: '*', aggregator: 'scalar', labels: [{ name: 'src', path: 'saddr6' }, { name: 'port', path: 'dport' }], values: [{ path: 'bytes' }, { path: 'packets', aggregator: 'avg' }] },
    // per-CPU: one series per CPU, and summed
    { name: 'obs_proto_pcpu', key: [6, 17], aggregator: 'scalar', per_cpu: 'cpu' },
    { name: 'obs_proto_pcpu', key: '6', key_type: 'int', aggregator: 'avg' },
  ]);
  const registry = new Registry();
  const { logger, lines } = memoryLogger();
  const mon = new MapMonitors({ registry, host: HOST, logger, intervalMs: 60_000 });
  t.after(() => mon.close());
  const p = obs.running({ iface: IFACE, name: 'obs_typed', ipv4: '10.9.9.9', monitorMaps });
  mon.programStarted(p);
  const { e, text } = await scrape(registry);

  const base = { host: HOST, program: 'obs_typed', direction: 'xdp_ingress', interface: IFACE, ipv4_address: '10.9.9.9' };
  const flow = (sport: number, dport: number, proto: number) => ({ ...base, map: 'obs_flows4', saddr: '192.0.2.1', daddr: '198.51.100.7', sport: String(sport), dport: String(dport), proto: String(proto), pad: '000000' });
  assert.equal(valueOf(e, 'l3af_map_value', { ...flow(1000, 80, 6), field: 'packets' }), 1);
  assert.equal(valueOf(e, 'l3af_map_value', { ...flow(1000, 80, 6), field: 'bytes' }), len4);
  assert.equal(valueOf(e, 'l3af_map_value', { ...flow(1002, 80, 6), field: 'packets' }), 2);
  assert.equal(valueOf(e, 'l3af_map_value', { ...flow(5353, 53, 17), field: 'packets' }), 1);
  assert.equal(samplesOf(e, 'l3af_map_value', { map: 'obs_flows4' }).length, 8, '4 flows x 2 value fields');
  t.diagnostic(`series of a struct-keyed map:\n${text.split('\n').filter((l) => l.startsWith('l3af_map_value{') && l.includes('obs_flows4')).join('\n')}`);

  // chosen labels, bound 2: two flows exported, 2 omitted and reported, logged once (a rate needs a second sample)
  assert.equal(samplesOf(e, 'l3af_map_rate_max_per_second', { map: 'obs_flows4' }).length, 0);
  mon.sampleNow();
  const rated = samplesOf((await scrape(registry)).e, 'l3af_map_rate_max_per_second', { map: 'obs_flows4' });
  assert.equal(rated.length, 2);
  for (const s of rated) assert.deepEqual(Object.keys(s.labels).sort(), [...Object.keys(base), 'map', 'src', 'src_port', 'field'].sort());
  assert.equal(valueOf(e, 'l3af_map_keys_omitted', { map: 'obs_flows4', aggregator: 'max-rate' }), 2);
  assert.equal(valueOf(e, 'l3af_map_keys_omitted', { map: 'obs_flows4', aggregator: 'scalar' }), 0);
  assert.equal(lines.filter((l) => String(l.msg).includes('more keys than max_keys')).length, 1);

  // IPv6 source and a network-order port
  const v6 = { ...base, map: 'obs_flows6', src: '2001:db8::1', port: '443' };
  assert.equal(valueOf(e, 'l3af_map_value', { ...v6, field: 'bytes' }), 2 * f6.length);
  assert.equal(samplesOf((await scrape(registry)).e, 'l3af_map_rate_avg_per_second', { ...v6, field: 'packets' }).length, 1);

  // per-CPU: by CPU the values add up to the packets; summed the same
  const byCpu = samplesOf(e, 'l3af_map_value', { map: 'obs_proto_pcpu', key: '6' });
  assert.equal(byCpu.length, possibleCpuCount());
  assert.equal(byCpu.reduce((a, s) => a + s.value, 0), 6); // 4 IPv4 TCP + 2 IPv6 TCP
  assert.equal(samplesOf(e, 'l3af_map_value', { map: 'obs_proto_pcpu', key: '17' }).reduce((a, s) => a + s.value, 0), 1);
  const again = (await scrape(registry)).e;
  const avg6 = samplesOf(again, 'l3af_map_rate_avg_per_second', { map: 'obs_proto_pcpu', key: '6' });
  assert.equal(avg6.length, 1);
  assert.equal(avg6[0]!.labels.cpu, undefined, 'summed over CPUs');

  const promtool = promtoolPath();
  assert.ok(promtool, 'promtool is installed');
  const r = promtoolCheck(promtool, text);
  assert.equal(r.status, 0, r.output);

  // new flows appear on the next sample; a stopped program leaves no series
  obs.prog.testRun({ data: f4(2000, 8080, 'tcp') });
  mon.sampleNow();
  assert.equal(valueOf((await scrape(registry)).e, 'l3af_map_value', { ...flow(2000, 8080, 6), field: 'packets' }), 1);
  mon.programStopped(p);
  assert.equal(samplesOf((await scrape(registry)).e, 'l3af_map_value').length, 0);
});

test("L3AF's open shapes: a string key with key_type (PR #556) and a typed struct key schema with label paths (PR #661) read one key; l3afd's {name, key, aggregator} is unchanged", async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using obs = loadObsTyped(bpffs, `${IFACE}b`);
  // the IPv4 flow map read through a PR #661 struct key schema; the per-CPU protocol map keyed
  // by a u32 written as a PR #556 string
  for (let i = 0; i < 3; i++) obs.prog.testRun({ data: ethernet(0x0800, ipv4(udp(7, 9), { proto: 17 })) });
  const flowKey = {
    name: 'flow', type: 'struct' as const, fields: [
      { name: 'saddr', type: 'ipv4', value: '192.0.2.1' },
      { name: 'daddr', type: 'ipv4', value: '198.51.100.7' },
      { name: 'sport', type: 'uint16', value: 0x0700 }, // port 7 in network order, as the map holds it
      { name: 'dport', type: 'uint16', value: 0x0900 },
      { name: 'proto', type: 'uint8', value: 17 },
      { name: 'pad', type: 'array', elem: { type: 'uint8' }, length: 3 },
    ],
  };
  const monitorMaps = payloadEntries([
    { name: 'obs_flows4', key: flowKey, aggregator: 'scalar', labels: [{ name: 'src', path: 'saddr' }, { name: 'proto', path: 'proto' }], values: [{ path: 'packets' }] },
    { name: 'obs_proto_pcpu', key: '17', key_type: 'int', aggregator: 'avg' },
    { name: 'obs_src4', key: '192.0.2.1', key_type: 'ipv4', aggregator: 'scalar' }, // PR #556: one IPv4 key
    { name: 'obs_src4', key: '*', key_type: 'ipv4', aggregator: 'max-rate' }, // PR #556: every key
    { name: 'obs_proto_pcpu', key: 17, aggregator: 'scalar' }, // l3afd's own shape: plain integer key, the l3af_map_value{key} series as before
  ]);
  assert.deepEqual(monitorMaps[4], { name: 'obs_proto_pcpu', key: 17, aggregator: 'scalar' }, 'l3afd entries normalise to exactly themselves');
  const registry = new Registry();
  const mon = new MapMonitors({ registry, host: HOST, intervalMs: 60_000, l3afdCompat: true });
  t.after(() => mon.close());
  mon.programStarted(obs.running({ iface: `${IFACE}b`, name: 'obs_typed', monitorMaps }));
  const { e } = await scrape(registry);
  assert.equal(valueOf(e, 'l3af_map_value', { map: 'obs_flows4', src: '192.0.2.1', proto: '17' }), 3);
  assert.equal(valueOf(e, 'l3af_map_value', { map: 'obs_proto_pcpu', key: '17' }), 3);
  assert.equal(valueOf(e, 'l3af_map_value', { map: 'obs_src4', key: '192.0.2.1' }), 3, 'an ipv4 key_type key labelled as an address');
  mon.sampleNow();
  assert.equal(valueOf((await scrape(registry)).e, 'l3af_map_rate_max_per_second', { map: 'obs_src4', key: '192.0.2.1' }), 0);
  assert.equal(valueOf((await scrape(registry)).e, 'l3af_map_rate_avg_per_second', { map: 'obs_proto_pcpu', key: '17' }), 0, 'the string key read the same entry (idle: rate 0)');
  // l3afd's compat series only for the plain entry, named as l3afd names it
  assert.equal(valueOf(e, 'l3afd_BPFMonitorMap', { map_name: 'obs_proto_pcpu_17_scalar' }), 3);
  assert.equal(samplesOf(e, 'l3afd_BPFMonitorMap').length, 1);
});

test('payload histograms and ranges over integer keys: log2 slots as a Prometheus histogram, a key range, all keys', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using obs = loadObsMaps(bpffs, `${IFACE}c`);
  for (const l of [64, 64, 200, 1000]) obs.prog.testRun({ data: Buffer.alloc(l, 1) });
  const monitorMaps = payloadEntries([
    { name: 'obs_len_hist', key: { from: 0, to: 31 }, aggregator: 'histogram' },
    { name: 'obs_by_len', key: { from: 100, to: 300 }, aggregator: 'scalar', labels: [{ name: 'length', path: '' }] },
    { name: 'obs_by_len64', key: '*', aggregator: 'scalar' },
  ]);
  const registry = new Registry();
  const mon = new MapMonitors({ registry, host: HOST, intervalMs: 60_000 });
  t.after(() => mon.close());
  mon.programStarted(obs.running({ iface: `${IFACE}c`, name: 'obs', monitorMaps }));
  const { e, text } = await scrape(registry);
  assert.equal(valueOf(e, 'l3af_map_log2_distribution_bucket', { map: 'obs_len_hist', le: '127' }), 2);
  assert.equal(valueOf(e, 'l3af_map_log2_distribution_bucket', { map: 'obs_len_hist', le: '255' }), 3);
  assert.equal(valueOf(e, 'l3af_map_log2_distribution_count', { map: 'obs_len_hist' }), 4);
  assert.deepEqual(samplesOf(e, 'l3af_map_value', { map: 'obs_by_len' }).map((s) => [s.labels.length, s.value]), [['200', 1]]);
  assert.deepEqual(samplesOf(e, 'l3af_map_value', { map: 'obs_by_len64' }).map((s) => [s.labels.key, s.value]).sort(), [['1000', 1], ['200', 1], ['64', 2]]);
  const promtool = promtoolPath();
  assert.ok(promtool);
  const r = promtoolCheck(promtool, text);
  assert.equal(r.status, 0, r.output);
});

test('typed entries that do not fit their map are refused with a clear log line and counted, the rest still sampled', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using obs = loadObsTyped(bpffs, `${IFACE}d`);
  const monitorMaps = payloadEntries([
    { name: 'obs_flows4', key: 5, aggregator: 'avg', labels: [{ name: 'x', path: 'saddr' }] },
    { name: 'obs_flows4', key: '*', aggregator: 'scalar', labels: [{ name: 'src', path: 'nosuch' }] },
    { name: 'obs_flows4', key: '*', aggregator: 'avg', labels: [{ name: 'host', path: 'saddr' }] },
    { name: 'obs_proto_pcpu', key: '*', aggregator: 'scalar' },
  ]);
  obs.prog.testRun({ data: ethernet(0x0800, ipv4(udp(7, 9), { proto: 17 })) });
  const registry = new Registry();
  const { logger, lines } = memoryLogger();
  const mon = new MapMonitors({ registry, host: HOST, logger, intervalMs: 60_000 });
  t.after(() => mon.close());
  mon.programStarted(obs.running({ iface: `${IFACE}d`, name: 'obs_typed', monitorMaps }));
  const { e } = await scrape(registry);
  const errs = lines.filter((l) => l.msg === 'typed monitor_maps entry does not fit its map; not sampled').map((l) => String(l.err));
  assert.equal(errs.length, 3);
  assert.match(errs[0]!, /integer key 5 for obs_flows4, whose keys are 16-byte structs/);
  assert.match(errs[1]!, /no field "nosuch" \(fields: saddr, daddr, sport, dport, proto, pad\)/);
  assert.match(errs[2]!, /label name host is reserved/);
  assert.equal(valueOf(e, 'l3af_map_sample_errors_total', { map: 'obs_flows4' }), 3);
  assert.equal(valueOf(e, 'l3af_map_value', { map: 'obs_proto_pcpu', key: '17' }), 1);
});
