// l3afd zero-initialises every monitor_maps key at load (issue 13, point 9). dropin-limit, shaped like L3AF's
// ratelimiting, passes everything while its counter key is missing; loaded through the engine it limits exactly:
// 20 datagrams to its port with 5 allowed → 20 counted, 15 dropped, 5 through. Without monitor_maps it passes all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BpfMap, u32, u64 } from '../../agent/src/bpf/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, sendUdpReport, skipUnless } from '../harness/index.ts';
import { StateDir, engineWithChains, testConfig, xdpBody } from './helpers.ts';
import { dropinLimit, dropinRepo } from './dropin-fixtures.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

function counter(pinRoot: string, iface: string, map: string): bigint | undefined {
  using m = BpfMap.openPinned(join(pinRoot, iface, 'dropin-limit', 'latest', map));
  return m.typed(u32, u64).get(0);
}

test('monitored maps are zero-initialised at load: a ratelimiting-shaped program limits exactly', { skip, timeout: 120_000 }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using state = new StateDir();
  const repo = await dropinRepo(state.path);
  const iface = lab.rootIfname;
  const host = hostName();
  const { engine } = engineWithChains(testConfig(fs.path, state.path));
  try {
    await engine.start();
    // without monitor_maps nothing writes the counters: the program passes every datagram
    const bare = await engine.add(xdpBody(host, iface, [dropinLimit(repo, 1, 9100, 5, { monitor_maps: null })]));
    assert.deepEqual(bare.results.map((r) => r.outcome), ['added']);
    assert.equal(counter(fs.path, iface, 'dl_recv_count'), undefined, 'no monitor_maps: the counter key stays absent');
    const passAll = await sendUdpReport(lab, { port: 9100, count: 20, ratePps: 2000 });
    assert.equal(passAll.sent, 20);
    assert.equal(counter(fs.path, iface, 'dl_recv_count'), undefined, 'the program passed everything, counting nothing');

    // with monitor_maps (as L3AF's payloads): the keys exist from the load on, and it limits exactly
    const r = await engine.update(xdpBody(host, iface, [dropinLimit(repo, 1, 9100, 5, { version: '1.0.0' })]));
    assert.deepEqual(r.results.map((x) => x.outcome), ['updated']);
    const dir = (m: string): bigint | undefined => {
      using mm = BpfMap.openPinned(join(fs.path, iface, 'dropin-limit', '1_0_0', m));
      return mm.typed(u32, u64).get(0);
    };
    assert.equal(dir('dl_recv_count'), 0n, 'dl_recv_count[0] written with 0 at load');
    assert.equal(dir('dl_drop_count'), 0n, 'dl_drop_count[0] written with 0 at load');
    const sent = await sendUdpReport(lab, { port: 9100, count: 20, ratePps: 2000 });
    assert.equal(sent.sent, 20);
    assert.equal(dir('dl_recv_count'), 20n, 'every candidate counted');
    assert.equal(dir('dl_drop_count'), 15n, 'all but the 5 allowed dropped');
  } finally {
    await engine.stop({ unload: true }).catch(() => undefined);
  }
});
