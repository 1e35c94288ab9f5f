// Map pressure on the real kernel: test/bpf/obs_maps.bpf.c's hash maps fill as frames with new
// first bytes and lengths run through the program (BPF_PROG_TEST_RUN); l3af_map_entries,
// l3af_map_max_entries and l3af_map_fill_ratio follow, with the program's labels; promtool is clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { MapPressure } from '../../agent/src/metrics/map-pressure.ts';
import { PrivateBpffs, requireRoot } from '../harness/index.ts';
import { loadObsMaps } from './fixtures.ts';
import { parseExposition, promtoolCheck, promtoolPath, samplesOf, valueOf } from './exposition.ts';

const IFACE = `prs${process.pid}`;

test('map pressure: entries / max_entries of hash maps move as the program adds keys; arrays are not reported', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using obs = loadObsMaps(bpffs, IFACE);
  const registry = new Registry();
  const pressure = new MapPressure({ registry, host: 'testhost', intervalMs: 60_000 });
  t.after(() => pressure.close());
  const p = obs.running({ iface: IFACE, name: 'obs', ipv4: '10.1.2.3' });
  pressure.programStarted(p);
  const scrape = async () => {
    const e = parseExposition(await registry.metrics());
    assert.deepEqual(e.errors, []);
    return e;
  };
  let e = await scrape();
  const labels = { host: 'testhost', program: 'obs', direction: 'xdp_ingress', interface: IFACE, ipv4_address: '10.1.2.3', map: 'obs_by_byte', type: 'hash' };
  assert.equal(valueOf(e, 'l3af_map_entries', labels), 0);
  assert.equal(valueOf(e, 'l3af_map_max_entries', labels), 256);
  assert.equal(valueOf(e, 'l3af_map_fill_ratio', labels), 0);
  // the hash maps only: obs_by_byte, obs_by_len, obs_by_len64 (arrays are full by construction)
  assert.deepEqual(samplesOf(e, 'l3af_map_entries').map((s) => s.labels.map).sort(), ['obs_by_byte', 'obs_by_len', 'obs_by_len64']);

  // 64 distinct first bytes, 10 distinct lengths
  for (let b = 0; b < 64; b++) obs.prog.testRun({ data: Buffer.alloc(60 + (b % 10), b) });
  pressure.sampleNow();
  e = await scrape();
  assert.equal(valueOf(e, 'l3af_map_entries', labels), 64);
  assert.equal(valueOf(e, 'l3af_map_fill_ratio', labels), 0.25);
  assert.equal(valueOf(e, 'l3af_map_entries', { ...labels, map: 'obs_by_len' }), 10);
  assert.equal(valueOf(e, 'l3af_map_fill_ratio', { ...labels, map: 'obs_by_len' }), 10 / 4096);

  // the map full: 256 distinct first bytes
  for (let b = 64; b < 256; b++) obs.prog.testRun({ data: Buffer.alloc(60, b) });
  pressure.sampleNow();
  e = await scrape();
  assert.equal(valueOf(e, 'l3af_map_entries', labels), 256);
  assert.equal(valueOf(e, 'l3af_map_fill_ratio', labels), 1);
  assert.equal(valueOf(e, 'l3af_map_entries_truncated', labels), 0);

  // entries removed from user space: pressure goes down
  const m = obs.obj.map('obs_by_byte');
  for (let b = 0; b < 128; b++) m.delete(Buffer.from([b]));
  pressure.sampleNow();
  e = await scrape();
  assert.equal(valueOf(e, 'l3af_map_entries', labels), 128);
  assert.equal(valueOf(e, 'l3af_map_fill_ratio', labels), 0.5);
  const promtool = promtoolPath();
  assert.ok(promtool, 'promtool is installed');
  const r = promtoolCheck(promtool, await registry.metrics());
  assert.equal(r.status, 0, r.output);

  pressure.programStopped(p);
  e = await scrape();
  assert.equal(samplesOf(e, 'l3af_map_entries').length, 0);
});

test('map pressure: the counting bound is reported', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using obs = loadObsMaps(bpffs, `${IFACE}b`);
  for (let b = 0; b < 40; b++) obs.prog.testRun({ data: Buffer.alloc(60, b) });
  const registry = new Registry();
  const pressure = new MapPressure({ registry, host: 'testhost', intervalMs: 60_000, maxEntriesCounted: 16 });
  t.after(() => pressure.close());
  pressure.programStarted(obs.running({ iface: `${IFACE}b`, name: 'obs' }));
  const e = parseExposition(await registry.metrics());
  assert.equal(valueOf(e, 'l3af_map_entries', { map: 'obs_by_byte' }), 16);
  assert.equal(valueOf(e, 'l3af_map_entries_truncated', { map: 'obs_by_byte' }), 1);
  assert.equal(valueOf(e, 'l3af_map_entries_truncated', { map: 'obs_by_len' }), 0);
});
