// XDP on a veth pair with live packets: both modes, a tail-call chain, replace semantics, a chain that
// outlives the process that built it, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  BpfObject, BpfProgram, BpfError, BpfMap, ProgArray, attachXdp, detachXdp, queryXdp, unpin, u32, u64, type XdpMode,
} from '../../agent/src/bpf/index.ts';
import { PrivateBpffs, VethLab, sendUdpReport, skipUnless } from '../harness/index.ts';
import { testObject } from './fixtures.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');
const C_ROOT = 0, C_CHAIN = 1, C_FALLTHRU = 2, C_DROPPED = 3;

/** Paced well under veth's backlog so every datagram reaches the hook. */
async function send(lab: VethLab, port: number, count: number): Promise<number> {
  const r = await sendUdpReport(lab, { port, count, ratePps: 20_000 });
  assert.equal(r.failed, 0, `sender errors: ${r.firstError}`);
  return r.sent;
}

for (const mode of ['skb', 'drv'] as XdpMode[]) {
  test(`XDP ${mode} mode on a veth: root → dropper counts every packet and drops the blocked port`, { skip }, async () => {
    await using lab = await VethLab.create();
    using obj = BpfObject.open(testObject('kl_basic'));
    obj.load();
    obj.map('kl_cfg').typed(u32, u32).set(0, 9999);
    new ProgArray(obj.map('kl_jmp')).set(0, obj.program('xdp_drop_udp'));
    const root = obj.program('xdp_root');
    attachXdp({ iface: lab.rootIfname, program: root, mode, expectedOld: null });
    try {
      const q = queryXdp(lab.rootIfname);
      assert.equal(q.attached, mode === 'skb' ? 'skb' : 'drv');
      assert.equal(q.progId, root.info().id);
      assert.equal(mode === 'skb' ? q.skbProgId : q.drvProgId, q.progId);

      const passed = await send(lab, 9000, 2000);
      const blocked = await send(lab, 9999, 2000);
      const c = obj.map('kl_counters').typed(u32, u64);
      assert.equal(c.get(C_ROOT), BigInt(passed + blocked), 'root saw every packet');
      assert.equal(c.get(C_CHAIN), BigInt(passed + blocked), 'every packet reached the chained program');
      assert.equal(c.get(C_FALLTHRU), 0n);
      assert.equal(c.get(C_DROPPED), BigInt(blocked), 'exactly the blocked port was dropped');
    } finally {
      assert.equal(detachXdp({ iface: lab.rootIfname }), true);
    }
    assert.equal(queryXdp(lab.rootIfname).attached, 'none');
    assert.equal(detachXdp({ iface: lab.rootIfname }), false);
  });
}

test('XDP replace is conditional on the program expected to be there', { skip }, async () => {
  await using lab = await VethLab.create();
  using a = BpfObject.open(testObject('kl_basic'));
  a.load();
  using b = BpfObject.open(testObject('kl_empty'));
  b.load();
  const first = a.program('xdp_root');
  const second = b.program('xdp_pass');
  const iface = lab.rootIfname;
  attachXdp({ iface, program: first, mode: 'skb', expectedOld: null });
  try {
    assert.throws(() => attachXdp({ iface, program: second, mode: 'skb', expectedOld: null }),
      (e: unknown) => e instanceof BpfError && e.code === 'EBUSY' && e.message.includes(iface));
    assert.throws(() => attachXdp({ iface, program: second, mode: 'skb', expectedOld: a.program('xdp_drop_udp') }),
      (e: unknown) => e instanceof BpfError && e.code === 'EEXIST' && /not the expected one/.test(e.message));
    assert.equal(queryXdp(iface).progId, first.info().id, 'a refused replace changes nothing');
    assert.throws(() => attachXdp({ iface, program: second, mode: 'drv' }),
      (e: unknown) => e instanceof BpfError && e.code === 'EEXIST', 'generic and native cannot be active together');
    attachXdp({ iface, program: second, mode: 'skb', expectedOld: first });
    assert.equal(queryXdp(iface).progId, second.info().id, 'the expected program was replaced atomically');
  } finally {
    detachXdp({ iface });
  }
});

test('attaching to a missing interface is a clear error naming it', { skip }, () => {
  using obj = BpfObject.open(testObject('kl_empty'));
  obj.load();
  assert.throws(() => attachXdp({ iface: 'nosuchif0', program: obj.program('xdp_pass') }),
    (e: unknown) => e instanceof BpfError && e.code === 'ENODEV' && /nosuchif0/.test(e.message));
  assert.throws(() => queryXdp('nosuchif0'), /nosuchif0/);
});

test('a chain outlives the process that built it when its prog array is pinned', { skip }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/chain-child.ts', import.meta.url)), fs.path, lab.rootIfname, '7777', 'drv'],
    { encoding: 'utf8', timeout: 20_000 });
  assert.equal(child.status, 0, child.stderr);
  assert.match(child.stdout, /attached/);
  try {
    using root = BpfProgram.openPinned(`${fs.path}/xdp_root`);
    assert.equal(queryXdp(lab.rootIfname).progId, root.info().id, 'still attached after the loader exited');
    const passed = await send(lab, 7000, 1000);
    const blocked = await send(lab, 7777, 1000);
    using counters = BpfMap.openPinned(`${fs.path}/kl_counters`);
    const c = counters.typed(u32, u64);
    assert.equal(c.get(C_CHAIN), BigInt(passed + blocked), 'the tail call still runs');
    assert.equal(c.get(C_DROPPED), BigInt(blocked));
    assert.equal(c.get(C_FALLTHRU), 0n);
  } finally {
    detachXdp({ iface: lab.rootIfname });
    for (const p of ['xdp_root', 'kl_counters', 'kl_jmp']) unpin(`${fs.path}/${p}`);
  }
});
