// Pins on a private bpffs: state survives the object, prog arrays need their pin, pins refuse clobbering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BpfObject, BpfMap, BpfProgram, BpfError, Bpffs, ProgArray, unpin, u32, u64 } from '../../agent/src/bpf/index.ts';
import { PrivateBpffs, skipUnless } from '../harness/index.ts';
import { testObject, udpFrame } from './fixtures.ts';

const skip = await skipUnless('root', 'bpffs');

test('bpffs check: a private mount is bpffs, a temp dir is not; pinning off bpffs fails clearly', { skip }, async () => {
  await using fs = await PrivateBpffs.create();
  assert.equal(Bpffs.isMounted(fs.path), true);
  const plain = mkdtempSync(join(tmpdir(), 'l3af-notbpf-'));
  try {
    assert.equal(Bpffs.isMounted(plain), false);
    using obj = BpfObject.open(testObject('kl_empty'));
    obj.load();
    assert.throws(() => obj.program('xdp_pass').pin(join(plain, 'p')), (e: unknown) => e instanceof BpfError && e.op === 'bpf_obj_pin');
  } finally {
    rmSync(plain, { recursive: true, force: true });
  }
});

test('pin map and program, close the object, reopen: same objects, state kept', { skip }, async () => {
  await using fs = await PrivateBpffs.create();
  const mapPin = join(fs.path, 'eth0/kl/1_0/kl_hash');
  const progPin = join(fs.path, 'progs/eth0/kl/1_0/xdp_root_xdp');
  let mapId: number;
  let progId: number;
  {
    using obj = BpfObject.open(testObject('kl_basic'));
    obj.load();
    const m = obj.map('kl_hash');
    m.typed(u32, u64).set(1, 111n);
    m.pin(mapPin);
    obj.program('xdp_root').pin(progPin);
    mapId = m.id;
    progId = obj.program('xdp_root').info().id;
    assert.throws(() => m.pin(mapPin), (e: unknown) => e instanceof BpfError && e.code === 'EEXIST' && /unpin it first/.test(e.message));
  }
  using m2 = BpfMap.openPinned(mapPin);
  assert.equal(m2.id, mapId);
  assert.equal(m2.name, 'kl_hash');
  assert.equal(m2.typed(u32, u64).get(1), 111n);
  using p2 = BpfProgram.openPinned(progPin);
  assert.equal(p2.info().id, progId);
  assert.equal(p2.type, 'xdp');
  assert.equal(p2.testRun({ data: udpFrame(1) }).retval, 2);
  assert.equal(unpin(mapPin), true);
  assert.equal(unpin(mapPin), false);
  assert.throws(() => BpfMap.openPinned(mapPin), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT' && e.message.includes(mapPin));
});

test('a prog array keeps its slots only while pinned (or open): the kernel empties it otherwise', { skip }, async () => {
  await using fs = await PrivateBpffs.create();
  const pinned = join(fs.path, 'jmp_pinned');
  const rootPin = join(fs.path, 'root');
  for (const keepPin of [true, false]) {
    {
      using obj = BpfObject.open(testObject('kl_basic'));
      obj.load();
      new ProgArray(obj.map('kl_jmp')).set(0, obj.program('xdp_drop_udp'));
      obj.map('kl_counters').pin(join(fs.path, 'counters'));
      obj.program('xdp_root').pin(rootPin);
      if (keepPin) obj.map('kl_jmp').pin(pinned);
    }
    using root = BpfProgram.openPinned(rootPin);
    using counters = BpfMap.openPinned(join(fs.path, 'counters'));
    root.testRun({ data: udpFrame(9), repeat: 10 });
    const c = counters.typed(u32, u64);
    if (keepPin) {
      assert.equal(c.get(1), 10n, 'chain ran: the pinned array kept its slot');
      assert.equal(c.get(2), 0n);
    } else {
      assert.equal(c.get(1), 0n, 'chain skipped: the unpinned array was emptied');
      assert.equal(c.get(2), 10n, 'every packet fell through at the root');
    }
    unpin(rootPin);
    unpin(join(fs.path, 'counters'));
    unpin(pinned);
  }
});
