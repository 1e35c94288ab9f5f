// The engine under live traffic: an update that inserts ratelimiting in the middle of a count-and-pass chain, and
// an update that moves a program, while UDP flows at a bounded rate; every packet the root saw is counted by the
// programs that stay in the chain (0 skipped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { enableStats } from '../../agent/src/bpf/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { sendUdpReport, skipUnless, EngineLab } from '../harness/index.ts';
import { Counter, formatRun, underTraffic } from '../chain/helpers.ts';
import { countAndPass, countAndPassRepo, engineWithChains, ratelimiting, testConfig, xdpBody } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

test('update inserts and moves programs while traffic flows: 0 packets skipped', { skip, timeout: 180_000 }, async (t) => {
  await using bed = await EngineLab.create();
  const { lab, fs, state } = bed;
  using _stats = enableStats();
  const iface = lab.rootIfname;
  const host = hostName();
  const config = testConfig(fs.path, state.path);
  const repo = countAndPassRepo(state.path, ['cap-a', 'cap-z']);
  const { engine, chains } = engineWithChains(config);
  const counters: Counter[] = [];
  try {
    await engine.start();
    const a = countAndPass('cap-a', 1, { ebpf_package_repo_url: repo });
    const z = countAndPass('cap-z', 3, { ebpf_package_repo_url: repo });
    const r0 = await engine.update(xdpBody(host, iface, [a, z]));
    assert.deepEqual(r0.results.map((r) => r.outcome), ['added', 'added']);
    const L = chains().layout;
    const rootPin = (): string => L.programPath(iface, 'xdp_ingress', 'xdp-root', 'latest', 'xdp_root');
    const A = new Counter('cap-a', L.mapPath(iface, 'xdp_ingress', 'cap-a', 'latest', 'xdp_cap_count'));
    const Z = new Counter('cap-z', L.mapPath(iface, 'xdp_ingress', 'cap-z', 'latest', 'xdp_cap_count'));
    counters.push(A, Z);
    const warm = await sendUdpReport(lab, { port: 9000, count: 1000, ratePps: 20_000 });
    assert.equal(Z.read(), BigInt(warm.sent), 'the tail counted every datagram before the updates');

    // insert ratelimiting (seq 2) between cap-a and cap-z; UDP is no TCP SYN, so it passes everything on
    const ins = await underTraffic(lab, rootPin, 'update inserts ratelimiting in the middle', async () => {
      const r = await engine.update(xdpBody(host, iface, [a, ratelimiting(2, 2, [8080, 8081]), z]));
      assert.deepEqual(r.results.map((x) => `${x.name}:${x.outcome}`), ['cap-a:unchanged', 'ratelimiting:added', 'cap-z:unchanged']);
    }, [A, Z]);
    assert.deepEqual(chains().describe(iface, 'xdp_ingress').programs.map((p) => p.name), ['cap-a', 'ratelimiting', 'cap-z']);
    assert.equal(ins.counted['cap-a'], ins.root, 'cap-a skipped nothing');
    assert.equal(ins.counted['cap-z'], ins.root, 'cap-z (after the insertion point) skipped nothing');
    assert.equal(BigInt(ins.sent), ins.root, 'the root saw every datagram sent');

    // move cap-z to the front (seq 0): cap-z and cap-a each count every packet exactly once
    const mv = await underTraffic(lab, rootPin, 'update moves cap-z to the front', async () => {
      const r = await engine.update(xdpBody(host, iface, [{ ...z, seq_id: 0 }, a, ratelimiting(2, 2, [8080, 8081])]));
      assert.deepEqual(r.results.map((x) => `${x.name}:${x.outcome}`), ['cap-z:updated', 'cap-a:unchanged', 'ratelimiting:unchanged']);
    }, [A, Z]);
    assert.deepEqual(chains().describe(iface, 'xdp_ingress').programs.map((p) => p.name), ['cap-z', 'cap-a', 'ratelimiting']);
    assert.equal(mv.counted['cap-a'], mv.root, 'cap-a counted every packet once');
    assert.equal(mv.counted['cap-z'], mv.root, 'cap-z counted every packet once');
    for (const run of [ins, mv]) t.diagnostic(formatRun(run));
  } finally {
    for (const c of counters) c.close();
    await engine.stop({ unload: true }).catch(() => undefined);
  }
});
