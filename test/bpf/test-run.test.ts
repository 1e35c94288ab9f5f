// BPF_PROG_TEST_RUN: verdicts, packet out, repeat and the kernel's per-run duration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BpfObject, ProgArray, xdpActionName, u32, u64 } from '../../agent/src/bpf/index.ts';
import { requireRoot } from '../harness/index.ts';
import { testObject, udpFrame } from './fixtures.ts';

test('test_run returns the verdict, the packet and a per-run duration; repeat runs N times', (t) => {
  if (requireRoot(t)) return;
  using obj = BpfObject.open(testObject('kl_basic'));
  obj.load();
  obj.map('kl_cfg').typed(u32, u32).set(0, 53);
  new ProgArray(obj.map('kl_jmp')).set(0, obj.program('xdp_drop_udp'));
  const root = obj.program('xdp_root');
  const frame = udpFrame(1234);
  const pass = root.testRun({ data: frame });
  assert.equal(xdpActionName(pass.retval), 'pass');
  assert.deepEqual(pass.dataOut, frame, 'PASS leaves the packet as it was');
  const drop = root.testRun({ data: udpFrame(53), repeat: 100_000 });
  assert.equal(xdpActionName(drop.retval), 'drop');
  assert.ok(drop.durationNs > 0 && drop.durationNs < 10_000, `mean ${drop.durationNs} ns per run`);
  const c = obj.map('kl_counters').typed(u32, u64);
  assert.equal(c.get(0), 100_001n, 'root ran once per repeat');
  assert.equal(c.get(3), 100_000n, 'dropper dropped once per repeat');
});
