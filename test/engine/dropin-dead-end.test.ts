// A program whose code never tail-calls through its map_name (like L3AF's connection-limit `_xdp_limit_conn`) is
// accepted and chained, as l3afd does (issue 13, point 1): alone at seq_id 1, and with programs after it, which are
// reported unreachable in its status and by l3af_chain_unreachable_programs instead of being refused. Under
// traffic: the program before it and it count every datagram, the one after it none. A restart adopts the chain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { hostName } from '../../agent/src/platform/host.ts';
import type { ProgramStatus } from '../../agent/src/engine/index.ts';
import { registerChainReach } from '../../agent/src/metrics/chain-reach.ts';
import { sendUdpReport, skipUnless, EngineLab } from '../harness/index.ts';
import { Counter } from '../chain/helpers.ts';
import { countAndPass, countAndPassRepo, engineWithChains, testConfig, xdpBody } from './helpers.ts';
import { dropinRepo, dropinTail } from './dropin-fixtures.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

test('a program that never tail-calls is chained; the programs after it are reported unreachable, not refused', { skip, timeout: 180_000 }, async () => {
  await using bed = await EngineLab.create();
  const { lab, fs, state } = bed;
  const repo = await dropinRepo(state.path);
  const capRepo = countAndPassRepo(state.path, ['cap-a', 'cap-z']);
  const iface = lab.rootIfname;
  const host = hostName();
  const config = testConfig(fs.path, state.path);
  let e = engineWithChains(config);
  const counters: Counter[] = [];
  try {
    await e.engine.start();
    // alone at seq_id 1: accepted (main refused it: "does not use map ... cannot continue a chain")
    let r = await e.engine.add(xdpBody(host, iface, [dropinTail(repo, 1)]));
    assert.deepEqual(r.results.map((x) => `${x.name}:${x.outcome}:${x.reason ?? ''}`), ['dropin-tail:added:']);
    // a program before it and one after it
    r = await e.engine.add(xdpBody(host, iface, [countAndPass('cap-a', 0, { ebpf_package_repo_url: capRepo }), countAndPass('cap-z', 2, { ebpf_package_repo_url: capRepo })]));
    assert.deepEqual(r.results.map((x) => `${x.name}:${x.outcome}`), ['cap-a:added', 'cap-z:added']);
    assert.match(r.results[1]?.reason ?? '', /never runs: 'dropin-tail' before it does not tail-call/, 'the result says why cap-z never runs');
    const d = e.chains().describe(iface, 'xdp_ingress');
    assert.deepEqual(d.programs.map((p) => [p.name, p.linked, p.continues, p.reachable]),
      [['cap-a', true, true, true], ['dropin-tail', true, false, true], ['cap-z', true, true, false]]);

    const status = (): Array<[string, boolean | undefined, boolean | undefined]> =>
      (e.engine.get(iface)[0]?.bpf_programs.xdp_ingress ?? []).map((p) => {
        const s = (p as unknown as { status: ProgramStatus }).status;
        return [p.name, s.continues_chain, s.reachable];
      });
    assert.deepEqual(status(), [['cap-a', true, true], ['dropin-tail', false, true], ['cap-z', true, false]]);

    const registry = new Registry();
    registerChainReach(registry, () => [e.chains().describe(iface, 'xdp_ingress')]);
    const metric = await registry.getSingleMetricAsString('l3af_chain_unreachable_programs');
    assert.match(metric, new RegExp(`l3af_chain_unreachable_programs\\{interface="${iface}",direction="xdp_ingress",program="dropin-tail"\\} 1$`, 'm'));

    // traffic: cap-a and dropin-tail see every datagram, cap-z (behind the dead end) none
    const L = e.chains().layout;
    const A = new Counter('cap-a', L.mapPath(iface, 'xdp_ingress', 'cap-a', 'latest', 'xdp_cap_count'));
    const T = new Counter('dropin-tail', L.mapPath(iface, 'xdp_ingress', 'dropin-tail', 'latest', 'xdp_dt_count'));
    const Z = new Counter('cap-z', L.mapPath(iface, 'xdp_ingress', 'cap-z', 'latest', 'xdp_cap_count'));
    counters.push(A, T, Z);
    const sent = await sendUdpReport(lab, { port: 9000, count: 200, ratePps: 5000 });
    assert.equal(sent.sent, 200);
    assert.ok(A.read() >= 200n, `cap-a counted ${A.read()}`);
    assert.equal(T.read(), A.read(), 'the dead end ran on every packet cap-a passed on');
    assert.equal(Z.read(), 0n, 'nothing after the dead end ran');

    // restart: a second engine adopts the chain, the dead end included (no pinned array it uses)
    const ids = d.programs.map((p) => p.id);
    await e.engine.stop();
    e = engineWithChains(config);
    await e.engine.start();
    const d2 = e.chains().describe(iface, 'xdp_ingress');
    assert.deepEqual(d2.programs.map((p) => [p.name, p.id, p.adopted, p.continues, p.reachable]),
      [['cap-a', ids[0], true, true, true], ['dropin-tail', ids[1], true, false, true], ['cap-z', ids[2], true, true, false]]);

    // removing the dead end makes cap-z reachable again
    r = await e.engine.delete([{ host_name: host, iface, bpf_programs: { xdp_ingress: ['dropin-tail'] } }]);
    assert.deepEqual(r.results.map((x) => x.outcome), ['removed']);
    const before = Z.read();
    await sendUdpReport(lab, { port: 9000, count: 100, ratePps: 5000 });
    assert.ok(Z.read() - before >= 100n, 'cap-z counts again');
  } finally {
    for (const c of counters) c.close();
    await e.engine.stop({ unload: true }).catch(() => undefined);
  }
});
