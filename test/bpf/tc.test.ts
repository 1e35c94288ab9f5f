// TC ingress and egress on clsact with live packets: attach, query, replace, detach, destroy; and TCX links.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { BpfObject, BpfError, attachTc, attachTcx, detachTc, detachTcx, queryTc, tcxProgId, tcxSupported, updateTcx, createClsact, destroyClsact, u32, u64 } from '../../agent/src/bpf/index.ts';
import { PrivateBpffs, VethLab, sendUdpReport, skipUnless } from '../harness/index.ts';
import { testObject } from './fixtures.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');
const C_TC_IN = 4, C_TC_OUT = 5;

async function sendFromRoot(host: string, port: number, count: number): Promise<void> {
  const sock = createSocket('udp4');
  try {
    for (let i = 0; i < count; i++) {
      await new Promise<void>((res, rej) => sock.send(Buffer.alloc(32), port, host, (e) => (e ? rej(e) : res())));
    }
  } finally {
    sock.close();
  }
}

test('TC ingress and egress count live packets in both directions', { skip }, async () => {
  await using lab = await VethLab.create();
  using obj = BpfObject.open(testObject('kl_basic'));
  obj.load();
  const iface = lab.rootIfname;
  assert.equal(createClsact(iface), true);
  assert.equal(createClsact(iface), false, 'second create finds it there');
  try {
    const inA = attachTc({ iface, direction: 'ingress', program: obj.program('tc_count_ingress') });
    const outA = attachTc({ iface, direction: 'egress', program: obj.program('tc_count_egress'), handle: 2, priority: 5 });
    assert.equal(inA.progId, obj.program('tc_count_ingress').info().id);
    assert.deepEqual([outA.handle, outA.priority], [2, 5]);
    assert.equal(queryTc({ iface, direction: 'ingress' }), inA.progId);
    assert.equal(queryTc({ iface, direction: 'egress', handle: 2, priority: 5 }), outA.progId);
    assert.equal(queryTc({ iface, direction: 'egress' }), undefined, 'no filter at handle 1 / prio 1 on egress');

    // (no listeners: each side may answer with a few rate-limited ICMP errors, so read each count
    // right after its own traffic and compare deltas)
    const c = obj.map('kl_counters').typed(u32, u64);
    const r = await sendUdpReport(lab, { port: 9100, count: 500, ratePps: 20_000 });
    assert.equal(c.get(C_TC_IN), BigInt(r.sent), 'ingress saw every datagram from the namespace');
    const outBefore = c.get(C_TC_OUT) ?? 0n;
    await sendFromRoot(lab.peerAddress, 9200, 300);
    assert.equal((c.get(C_TC_OUT) ?? 0n) - outBefore, 300n, 'egress saw every datagram sent out of the root side');

    assert.throws(() => attachTc({ iface, direction: 'ingress', program: obj.program('tc_count_egress') }),
      (e: unknown) => e instanceof BpfError && e.code === 'EEXIST' && /replace: true/.test(e.message));
    const swapped = attachTc({ iface, direction: 'ingress', program: obj.program('tc_count_egress'), replace: true });
    assert.equal(queryTc({ iface, direction: 'ingress' }), swapped.progId);
    assert.equal(detachTc({ iface, direction: 'ingress' }), true);
    assert.equal(detachTc({ iface, direction: 'ingress' }), false);
    assert.equal(queryTc({ iface, direction: 'ingress' }), undefined);
  } finally {
    destroyClsact(iface);
  }
  assert.equal(destroyClsact(iface), false, 'nothing left to destroy');
});

test('TCX links (kernel >= 6.6): attach both directions by BPF_LINK_CREATE, pinned; count live packets; atomic update; detach', { skip }, async () => {
  assert.equal(tcxSupported('6.18.0-1-amd64'), true);
  assert.equal(tcxSupported('6.5.13'), false);
  assert.equal(tcxSupported(), true, 'this kernel has TCX');
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using obj = BpfObject.open(testObject('kl_basic'));
  obj.load();
  const iface = lab.rootIfname;
  const pinIn = join(fs.path, 'tcx_in');
  const pinOut = join(fs.path, 'tcx_out');
  try {
    attachTcx({ iface, direction: 'ingress', program: obj.program('tc_count_ingress'), pinPath: pinIn });
    attachTcx({ iface, direction: 'egress', program: obj.program('tc_count_egress'), pinPath: pinOut });
    assert.equal(tcxProgId(pinIn), obj.program('tc_count_ingress').info().id);
    assert.equal(tcxProgId(pinOut), obj.program('tc_count_egress').info().id);
    assert.equal(queryTc({ iface, direction: 'ingress' }), undefined, 'no clsact filter: a TCX link');
    const c = obj.map('kl_counters').typed(u32, u64);
    const r = await sendUdpReport(lab, { port: 9100, count: 300, ratePps: 20_000 });
    assert.equal(c.get(C_TC_IN), BigInt(r.sent), 'TCX ingress saw every datagram');
    const outBefore = c.get(C_TC_OUT) ?? 0n;
    await sendFromRoot(lab.peerAddress, 9200, 200);
    assert.equal((c.get(C_TC_OUT) ?? 0n) - outBefore, 200n, 'TCX egress saw every datagram');

    // atomic update: only from the expected program
    assert.throws(() => updateTcx(pinIn, obj.program('tc_count_egress'), obj.program('tc_count_egress')), (e: unknown) => e instanceof BpfError);
    updateTcx(pinIn, obj.program('tc_count_egress'), obj.program('tc_count_ingress'));
    assert.equal(tcxProgId(pinIn), obj.program('tc_count_egress').info().id);
    const outNow = c.get(C_TC_OUT) ?? 0n;
    const r2 = await sendUdpReport(lab, { port: 9100, count: 100, ratePps: 20_000 });
    assert.ok((c.get(C_TC_OUT) ?? 0n) - outNow >= BigInt(r2.sent), 'ingress now runs the swapped-in program');
  } finally {
    detachTcx(pinIn);
    detachTcx(pinOut);
  }
  assert.equal(tcxProgId(pinIn), undefined, 'unpinned');
  assert.equal(detachTcx(pinIn), false);
  const before = obj.map('kl_counters').typed(u32, u64).get(C_TC_IN) ?? 0n;
  await sendUdpReport(lab, { port: 9100, count: 50, ratePps: 20_000 });
  assert.equal(obj.map('kl_counters').typed(u32, u64).get(C_TC_IN) ?? 0n, before, 'detached: nothing counts');
});
