// The same program name on tc_ingress and tc_egress (L3AF's ipfix-flow-exporter and traffic-mirroring payloads;
// issue 13, point 3), in l3afd's pin layout: both directions' maps in <root>/tc/globals/<iface>/<name>/<ver>/ (a map
// both objects declare is one shared map there), programs at <root>/progs/<iface>/<name>/<ver>/<entry>_tc. Under
// traffic each direction counts its own packets, and the shared map sees both. Removing one direction leaves the
// other's pins (and the shared map) in place; a restart adopts both; objects whose pins would collide are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap, queryTc, u32, u64 } from '../../agent/src/bpf/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, sendUdpReport, skipUnless } from '../harness/index.ts';
import { Counter } from '../chain/helpers.ts';
import { StateDir, engineWithChains, testConfig } from './helpers.ts';
import { dropinDir, dropinRepo, tcHookProgId } from './dropin-fixtures.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

async function sendFromRoot(host: string, port: number, count: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  try {
    for (let i = 0; i < count; i++) await new Promise<void>((res, rej) => sock.send(Buffer.alloc(32), port, host, (err) => (err ? rej(err) : res())));
  } finally {
    sock.close();
  }
}

for (const tcAttach of ['tcx', 'clsact'] as const) {
test(`one program name on tc_ingress and tc_egress (${tcAttach}): l3afd's pin layout, a shared map, traffic both ways, adopt`, { skip, timeout: 180_000 }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using state = new StateDir();
  const repo = await dropinRepo(state.path);
  const iface = lab.rootIfname;
  const host = hostName();
  const config = testConfig(fs.path, state.path);
  config.l3af.tcAttach = tcAttach;
  let e = engineWithChains(config);
  const counters: Counter[] = [];
  try {
    await e.engine.start();
    const body = [{ host_name: host, iface, bpf_programs: { tc_ingress: [dropinDir(repo, 'ingress', 1)], tc_egress: [dropinDir(repo, 'egress', 1)] } }];
    let r = await e.engine.add(body);
    assert.deepEqual(r.results.map((x) => `${x.direction}:${x.name}:${x.outcome}:${x.reason ?? ''}`), ['tc_ingress:dropin-dir:added:', 'tc_egress:dropin-dir:added:']);
    const mapDir = join(fs.path, 'tc', 'globals', iface, 'dropin-dir', 'latest');
    assert.deepEqual(readdirSync(mapDir).sort(), ['dd_egress_count', 'dd_egress_jmp_table', 'dd_ingress_count', 'dd_ingress_jmp_table', 'dd_shared']);
    assert.deepEqual(readdirSync(join(fs.path, 'progs', iface, 'dropin-dir', 'latest')).sort(), ['_egress_dropin_dir_tc', '_ingress_dropin_dir_tc']);
    const ing = e.chains().describe(iface, 'tc_ingress');
    const eg = e.chains().describe(iface, 'tc_egress');
    assert.equal(tcHookProgId(fs.path, iface, 'ingress'), ing.root.id);
    assert.equal(tcHookProgId(fs.path, iface, 'egress'), eg.root.id);
    assert.equal(queryTc({ iface, direction: 'ingress' }) === undefined, tcAttach === 'tcx', `attached as ${tcAttach}`);
    assert.equal(ing.attachMode, tcAttach === 'tcx' ? 'tcx' : 'tc');
    assert.ok(ing.programs[0]?.linked && eg.programs[0]?.linked);

    const I = new Counter('ingress', join(mapDir, 'dd_ingress_count'));
    const E = new Counter('egress', join(mapDir, 'dd_egress_count'));
    counters.push(I, E);
    const shared = (): [bigint, bigint] => {
      using m = BpfMap.openPinned(join(mapDir, 'dd_shared'));
      const t = m.typed(u32, u64);
      return [t.get(0) ?? -1n, t.get(1) ?? -1n];
    };
    const sent = await sendUdpReport(lab, { port: 9000, count: 100, ratePps: 5000 });
    assert.equal(sent.sent, 100);
    await sendFromRoot(lab.peerAddress, 9001, 100);
    assert.ok(I.read() >= 100n, `ingress counted ${I.read()}`);
    assert.ok(E.read() >= 100n, `egress counted ${E.read()}`);
    assert.deepEqual(shared(), [I.read(), E.read()], 'both objects count into the one shared map');

    // a restart adopts both chains (the directory holds both directions' pins)
    const ids = [ing.programs[0]?.id, eg.programs[0]?.id];
    await e.engine.stop();
    e = engineWithChains(config);
    await e.engine.start();
    assert.deepEqual([e.chains().describe(iface, 'tc_ingress').programs[0]?.id, e.chains().describe(iface, 'tc_egress').programs[0]?.id], ids);

    // removing the ingress one leaves the egress one, its pins and the shared map
    r = await e.engine.delete([{ host_name: host, iface, bpf_programs: { tc_ingress: ['dropin-dir'] } }]);
    assert.deepEqual(r.results.map((x) => x.outcome), ['removed']);
    assert.deepEqual(readdirSync(mapDir).sort(), ['dd_egress_count', 'dd_egress_jmp_table', 'dd_shared']);
    const before = E.read();
    await sendFromRoot(lab.peerAddress, 9001, 50);
    assert.ok(E.read() - before >= 50n, 'egress still counts');
    assert.equal(shared()[1], E.read());

    // objects whose pins collide on the other direction are refused, naming the clash (here the egress object on
    // tc_ingress: same entry and next array as the live egress one); l3afd fails there too ("file exists")
    const cap = dropinDir(repo, 'egress', 1);
    r = await e.engine.add([{ host_name: host, iface, bpf_programs: { tc_ingress: [cap] } }]);
    assert.equal(r.results[0]?.outcome, 'failed');
    assert.match(r.results[0]?.reason ?? '', /other TC direction/);
    assert.equal(e.chains().describe(iface, 'tc_egress').programs[0]?.linked, true, 'the egress one is untouched');
  } finally {
    for (const c of counters) c.close();
    await e.engine.stop({ unload: true }).catch(() => undefined);
  }
});
}
