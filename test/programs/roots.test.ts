// Chain roots and count-and-pass on the real kernel through BPF_PROG_TEST_RUN: an empty chain passes, tail calls
// reach each program in order (counters prove it), a ratelimiting drop ends the chain, unlinking shortens it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BpfObject, ProgArray, u16, u32, u64, u8, type BpfProgram } from '../../agent/src/bpf/index.ts';
import { requireRoot } from '../harness/index.ts';
import { programObject, tcp4, ethernet, ipv4, udp, ETH_P_IP, TCP_SYN, TCP_ACK } from './frames.ts';

const XDP_DROP = 1;
const XDP_PASS = 2;
const TC_ACT_OK = 0;

/** Loads a package object and keeps it open until disposed. */
function load(name: string): BpfObject {
  const obj = BpfObject.open(programObject(name));
  try {
    obj.load();
  } catch (err) {
    obj.close();
    throw err;
  }
  return obj;
}

/** Sum over CPUs of a count-and-pass counter. */
function count(obj: BpfObject, map: string): bigint {
  return obj.map(map).typed(u32, u64).sumPerCpu(0) ?? -1n;
}

const UDP = ethernet(ETH_P_IP, ipv4(udp(40000, 53), { proto: 17 }));

function run(p: BpfProgram, frame: Buffer): number {
  return p.testRun({ data: frame }).retval;
}

test('roots: standard sections, one-slot prog arrays, an empty chain passes', (t) => {
  if (requireRoot(t)) return;
  const cases = [
    { obj: 'xdp_root', prog: 'xdp_root', map: 'xdp_root_array', type: 'xdp', section: 'xdp', pass: XDP_PASS },
    { obj: 'tc_root_ingress', prog: 'tc_ingress_root', map: 'tc_ingress_root_array', type: 'sched_cls', section: 'tc', pass: TC_ACT_OK },
    { obj: 'tc_root_egress', prog: 'tc_egress_root', map: 'tc_egress_root_array', type: 'sched_cls', section: 'tc', pass: TC_ACT_OK },
    { obj: 'count_and_pass', prog: 'xdp_count_and_pass', map: 'xdp_cap_next_prog', type: 'xdp', section: 'xdp', pass: XDP_PASS },
    { obj: 'count_and_pass_tc', prog: 'tc_count_and_pass', map: 'tc_cap_next_prog', type: 'sched_cls', section: 'tc', pass: TC_ACT_OK },
  ];
  for (const c of cases) {
    using obj = load(c.obj);
    const p = obj.program(c.prog);
    assert.deepEqual([p.type, p.section], [c.type, c.section], `${c.obj}: libbpf types it from its section alone`);
    const arr = obj.map(c.map);
    assert.deepEqual([arr.type, arr.keySize, arr.valueSize, arr.maxEntries], ['prog_array', 4, 4, 1], `${c.obj}: ${c.map}`);
    assert.equal(new ProgArray(arr).get(0), undefined, 'empty chain');
    for (const frame of [UDP, tcp4(80), Buffer.alloc(14)]) assert.equal(run(p, frame), c.pass, `${c.obj}: empty chain passes`);
  }
});

test('roots: xdp_root -> ratelimiting -> count_and_pass, verdicts and counters along the chain', (t) => {
  if (requireRoot(t)) return;
  using root = load('xdp_root');
  using rl = load('ratelimiting');
  using cap = load('count_and_pass');
  const entry = root.program('xdp_root');
  const rlProg = rl.program('_xdp_ratelimiting');
  const capProg = cap.program('xdp_count_and_pass');
  rl.map('rl_config_map').typed(u32, u64).set(0, 2n);
  rl.map('rl_config_map').typed(u32, u64).set(1, 3_600_000_000_000n);
  rl.map('rl_ports_map').typed(u16, u8).set(80, 1);
  const recv = (): bigint => rl.map('rl_recv_count_map').typed(u32, u64).get(0) ?? -1n;
  const drop = (): bigint => rl.map('rl_drop_count_map').typed(u32, u64).get(0) ?? -1n;
  const seen = (): bigint => count(cap, 'xdp_cap_count');

  const rootSlot = new ProgArray(root.map('xdp_root_array'));
  const rlSlot = new ProgArray(rl.map('xdp_rl_ingress_next_prog'));
  rootSlot.set(0, rlProg);
  rlSlot.set(0, capProg);
  assert.equal(rootSlot.get(0), rlProg.info().id);
  assert.equal(rlSlot.get(0), capProg.info().id);

  assert.equal(run(entry, UDP), XDP_PASS);
  assert.deepEqual([seen(), recv(), drop()], [1n, 0n, 0n], 'UDP goes through the limiter to count_and_pass');
  assert.equal(run(entry, tcp4(80)), XDP_PASS);
  assert.equal(run(entry, tcp4(80)), XDP_PASS);
  assert.deepEqual([seen(), recv(), drop()], [3n, 2n, 0n], 'SYNs within the rate reach the end of the chain');
  assert.equal(run(entry, tcp4(80)), XDP_DROP);
  assert.deepEqual([seen(), recv(), drop()], [3n, 3n, 1n], 'a dropped SYN ends the chain: count_and_pass never sees it');
  assert.equal(run(entry, tcp4(80, TCP_SYN | TCP_ACK)), XDP_PASS);
  assert.deepEqual([seen(), recv(), drop()], [4n, 3n, 1n]);

  assert.ok(rlSlot.clear(0), 'unlink count_and_pass');
  assert.equal(run(entry, tcp4(80, TCP_ACK)), XDP_PASS);
  assert.deepEqual([seen(), recv(), drop()], [4n, 3n, 1n], 'ratelimiting is now last: passes itself');
  assert.equal(run(entry, tcp4(80)), XDP_DROP, 'and still limits');

  assert.ok(rootSlot.clear(0), 'empty the root');
  assert.equal(run(entry, tcp4(80)), XDP_PASS);
  assert.deepEqual([seen(), recv(), drop()], [4n, 4n, 2n], 'an empty root passes without running anything');
});

test('roots: xdp_root -> count_and_pass x3, every program runs once per packet', (t) => {
  if (requireRoot(t)) return;
  using root = load('xdp_root');
  const caps = [load('count_and_pass'), load('count_and_pass'), load('count_and_pass')];
  try {
    new ProgArray(root.map('xdp_root_array')).set(0, caps[0]!.program('xdp_count_and_pass'));
    for (let i = 0; i + 1 < caps.length; i++) {
      new ProgArray(caps[i]!.map('xdp_cap_next_prog')).set(0, caps[i + 1]!.program('xdp_count_and_pass'));
    }
    const entry = root.program('xdp_root');
    const res = entry.testRun({ data: UDP, repeat: 1000 });
    assert.equal(res.retval, XDP_PASS);
    assert.ok(res.dataOut.equals(UDP), 'the frame leaves the chain unchanged');
    assert.deepEqual(caps.map((c) => count(c, 'xdp_cap_count')), [1000n, 1000n, 1000n]);
  } finally {
    for (const c of caps) c.close();
  }
});

test('roots: tc ingress and egress roots chain to count_and_pass_tc', (t) => {
  if (requireRoot(t)) return;
  for (const dir of ['ingress', 'egress'] as const) {
    using root = load(`tc_root_${dir}`);
    using first = load('count_and_pass_tc');
    using second = load('count_and_pass_tc');
    const entry = root.program(`tc_${dir}_root`);
    new ProgArray(root.map(`tc_${dir}_root_array`)).set(0, first.program('tc_count_and_pass'));
    new ProgArray(first.map('tc_cap_next_prog')).set(0, second.program('tc_count_and_pass'));
    assert.equal(entry.testRun({ data: tcp4(80), repeat: 50 }).retval, TC_ACT_OK);
    assert.deepEqual([count(first, 'tc_cap_count'), count(second, 'tc_cap_count')], [50n, 50n], `${dir}: both ran`);
    new ProgArray(first.map('tc_cap_next_prog')).clear(0);
    assert.equal(run(entry, UDP), TC_ACT_OK);
    assert.deepEqual([count(first, 'tc_cap_count'), count(second, 'tc_cap_count')], [51n, 50n], `${dir}: chain shortened`);
  }
});
