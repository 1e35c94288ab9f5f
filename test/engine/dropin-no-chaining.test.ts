// bpf-chaining-enabled = false (issue 13, point 4): as l3afd, no root — each hook holds one program attached directly.
// On a veth with traffic: XDP cap-a attached itself and counting; a second program on the hook is refused (add with
// two, and add beside the attached one); an update to a new version swaps the attached program atomically; TC
// ingress/egress attach dropin-dir directly and count both ways; a restart adopts what is attached; delete detaches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { join } from 'node:path';
import { queryTc, queryXdp } from '../../agent/src/bpf/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { sendUdpReport, skipUnless, EngineLab } from '../harness/index.ts';
import { Counter, pinsUnder } from '../chain/helpers.ts';
import { countAndPass, countAndPassRepo, engineWithChains, testConfig, xdpBody } from './helpers.ts';
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
test(`without chaining each hook holds one program attached directly (XDP and TC ${tcAttach}), under traffic`, { skip, timeout: 180_000 }, async () => {
  await using bed = await EngineLab.create();
  const { lab, fs, state } = bed;
  const repo = await dropinRepo(state.path);
  const capRepo = countAndPassRepo(state.path, ['cap-a', 'cap-z']);
  const iface = lab.rootIfname;
  const host = hostName();
  const config = testConfig(fs.path, state.path);
  config.l3afd.bpfChainingEnabled = false;
  config.l3af.tcAttach = tcAttach;
  let e = engineWithChains(config);
  const counters: Counter[] = [];
  const cap = (name: string, seq: number, extra = {}): ReturnType<typeof countAndPass> => countAndPass(name, seq, { ebpf_package_repo_url: capRepo, ...extra });
  try {
    await e.engine.start();
    let r = await e.engine.add(xdpBody(host, iface, [cap('cap-a', 1)]));
    assert.deepEqual(r.results.map((x) => `${x.name}:${x.outcome}:${x.reason ?? ''}`), ['cap-a:added:']);
    let d = e.chains().describe(iface, 'xdp_ingress');
    assert.equal(d.programs.length, 1);
    assert.equal(queryXdp(iface).progId, d.programs[0]?.id, 'the program itself is attached: no root');
    assert.equal(d.root.name, 'cap-a');
    assert.deepEqual(pinsUnder(fs.path).filter((p) => p.includes('xdp-root')), [], 'no root pinned');
    const L = e.chains().layout;
    const A = new Counter('cap-a', L.mapPath(iface, 'xdp_ingress', 'cap-a', 'latest', 'xdp_cap_count'));
    counters.push(A);
    await sendUdpReport(lab, { port: 9000, count: 100, ratePps: 5000 });
    assert.ok(A.read() >= 100n, `cap-a counted ${A.read()}`);

    // one program per hook: a second one beside it, or two in one add, are refused (as l3afd)
    r = await e.engine.add(xdpBody(host, iface, [cap('cap-z', 2)]));
    assert.equal(r.results[0]?.outcome, 'failed');
    assert.match(r.results[0]?.reason ?? '', /one program per hook.*'cap-a'/);
    r = await e.engine.add(xdpBody(host, iface, [cap('cap-z', 2), cap('cap-y', 3)]));
    assert.deepEqual(r.results.map((x) => x.outcome), ['failed', 'failed']);
    assert.match(r.results[0]?.reason ?? '', /one program per direction/);
    assert.equal(queryXdp(iface).progId, d.programs[0]?.id, 'cap-a still attached');

    // an update to another version swaps the attached program atomically; its counter carries over
    const oldId = d.programs[0]?.id;
    r = await e.engine.update(xdpBody(host, iface, [cap('cap-a', 1, { version: '1.0.0' })]));
    assert.deepEqual(r.results.map((x) => x.outcome), ['updated']);
    d = e.chains().describe(iface, 'xdp_ingress');
    assert.notEqual(d.programs[0]?.id, oldId);
    assert.equal(queryXdp(iface).progId, d.programs[0]?.id, 'the new version is the attached program');
    const A2 = new Counter('cap-a@1.0.0', L.mapPath(iface, 'xdp_ingress', 'cap-a', '1.0.0', 'xdp_cap_count'));
    counters.push(A2);
    const before = A2.read();
    await sendUdpReport(lab, { port: 9000, count: 100, ratePps: 5000 });
    assert.ok(A2.read() - before >= 100n, 'the new version counts');

    // TC: the same name on both directions, each attached directly
    r = await e.engine.add([{ host_name: host, iface, bpf_programs: { tc_ingress: [dropinDir(repo, 'ingress', 1)], tc_egress: [dropinDir(repo, 'egress', 1)] } }]);
    assert.deepEqual(r.results.map((x) => x.outcome), ['added', 'added']);
    const ti = e.chains().describe(iface, 'tc_ingress').programs[0]?.id;
    const te = e.chains().describe(iface, 'tc_egress').programs[0]?.id;
    assert.equal(tcHookProgId(fs.path, iface, 'ingress'), ti);
    assert.equal(tcHookProgId(fs.path, iface, 'egress'), te);
    assert.equal(queryTc({ iface, direction: 'egress' }) === undefined, tcAttach === 'tcx', `attached as ${tcAttach}`);
    const mapDir = join(fs.path, 'tc', 'globals', iface, 'dropin-dir', 'latest');
    const I = new Counter('ingress', join(mapDir, 'dd_ingress_count'));
    const E = new Counter('egress', join(mapDir, 'dd_egress_count'));
    counters.push(I, E);
    await sendUdpReport(lab, { port: 9000, count: 50, ratePps: 5000 });
    await sendFromRoot(lab.peerAddress, 9001, 50);
    assert.ok(I.read() >= 50n && E.read() >= 50n, `ingress ${I.read()}, egress ${E.read()}`);

    // restart: the attached programs are adopted, nothing re-attached
    const ids = [queryXdp(iface).progId, ti, te];
    await e.engine.stop();
    e = engineWithChains(config);
    await e.engine.start();
    assert.deepEqual([e.chains().describe(iface, 'xdp_ingress').programs[0]?.id, e.chains().describe(iface, 'tc_ingress').programs[0]?.id, e.chains().describe(iface, 'tc_egress').programs[0]?.id], ids);
    assert.deepEqual([queryXdp(iface).progId, tcHookProgId(fs.path, iface, 'ingress'), tcHookProgId(fs.path, iface, 'egress')], ids);

    // delete: detached, nothing pinned
    r = await e.engine.delete([{ host_name: host, iface, bpf_programs: { xdp_ingress: ['cap-a'], tc_ingress: ['dropin-dir'], tc_egress: ['dropin-dir'] } }]);
    assert.deepEqual(r.results.map((x) => x.outcome), ['removed', 'removed', 'removed']);
    assert.equal(queryXdp(iface).progId, 0);
    assert.equal(tcHookProgId(fs.path, iface, 'ingress'), undefined);
    assert.equal(tcHookProgId(fs.path, iface, 'egress'), undefined);
    assert.deepEqual(pinsUnder(fs.path), []);
  } finally {
    for (const c of counters) c.close();
    await e.engine.stop({ unload: true }).catch(() => undefined);
  }
});
}
