// Maps on the real kernel: CRUD with flags, iteration, batch lookup, per-CPU values, prog array slots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BpfObject, BpfError, ProgArray, possibleCpuCount, u32, u64, uint } from '../../agent/src/bpf/index.ts';
import { requireRoot } from '../harness/index.ts';
import { testObject } from './fixtures.ts';

test('hash map: update with flags, lookup, delete, keys, entries (batch)', (t) => {
  if (requireRoot(t)) return;
  using obj = BpfObject.open(testObject('kl_basic'));
  obj.load();
  const raw = obj.map('kl_hash');
  const m = raw.typed(u32, u64);
  assert.equal(m.get(7), undefined);
  m.set(7, 70n, 'noexist');
  assert.equal(m.get(7), 70n);
  assert.throws(() => m.set(7, 71n, 'noexist'), (e: unknown) => e instanceof BpfError && e.code === 'EEXIST' && /kl_hash/.test(e.message));
  assert.throws(() => m.set(8, 80n, 'exist'), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT');
  m.set(7, 71n, 'exist');
  assert.equal(m.get(7), 71n);
  assert.equal(m.delete(7), true);
  assert.equal(m.delete(7), false);

  for (let i = 0; i < 3000; i++) m.set(i, BigInt(i) * 3n);
  const keys = [...raw.keys()].map((k) => k.readUInt32LE(0)).sort((a, b) => a - b);
  assert.equal(keys.length, 3000);
  assert.equal(keys[2999], 2999);
  const entries = m.entries();
  assert.equal(entries.length, 3000, 'batch lookup returns every entry across batches');
  assert.equal(raw.batchUsed, true, 'hash maps are read with BPF_MAP_LOOKUP_BATCH');
  assert.ok(entries.every(([k, v]) => v === BigInt(k) * 3n));
  assert.equal(raw.entries(7).length, 3000, 'odd batch sizes too');

  assert.throws(() => raw.lookup(Buffer.alloc(2)), /key is 2 bytes, map wants 4/);
  assert.throws(() => raw.update(Buffer.alloc(4), Buffer.alloc(4)), /value is 4 bytes, map wants 8/);
  assert.throws(() => raw.typed(u64, u64), /4-byte keys/);
});

test('array map: every index exists, delete is refused by the kernel', (t) => {
  if (requireRoot(t)) return;
  using obj = BpfObject.open(testObject('kl_basic'));
  obj.load();
  const a = obj.map('kl_counters').typed(u32, uint(8));
  assert.equal(a.entries().length, 8);
  a.set(3, 42n);
  assert.equal(a.get(3), 42n);
  assert.throws(() => a.delete(3), (e: unknown) => e instanceof BpfError && e.code === 'EINVAL');
  assert.throws(() => a.set(8, 1n), (e: unknown) => e instanceof BpfError && e.code === 'E2BIG');
});

test('per-CPU maps: one value per possible CPU, summed; writes of one value reach every CPU', (t) => {
  if (requireRoot(t)) return;
  using obj = BpfObject.open(testObject('kl_basic'));
  obj.load();
  const cpus = possibleCpuCount();
  assert.ok(cpus >= 1);
  const pc = obj.map('kl_percpu').typed(u32, u64);
  assert.equal(obj.map('kl_percpu').perCpu, true);
  pc.set(3, 5n);
  assert.deepEqual(pc.getPerCpu(3), Array(cpus).fill(5n));
  assert.equal(pc.sumPerCpu(3), 5n * BigInt(cpus));
  // the program increments index 0 on the CPU it runs on: the sum is exact
  obj.program('xdp_root').testRun({ data: Buffer.alloc(64), repeat: 1000 });
  assert.equal(pc.sumPerCpu(0), 1000n);
  // per-CPU hash: entries come back with all CPUs' values
  const ph = obj.map('kl_percpu_hash');
  const all = Buffer.alloc(ph.valueBufferSize);
  for (let c = 0; c < cpus; c++) all.writeBigUInt64LE(BigInt(c + 1), c * 8);
  ph.update(u32.encode(9), all);
  assert.deepEqual(ph.typed(u32, u64).getPerCpu(9), Array.from({ length: cpus }, (_, c) => BigInt(c + 1)));
  const [entry] = ph.entries();
  assert.equal(entry?.[1].length, 8 * cpus);
  assert.throws(() => obj.map('kl_hash').lookupPerCpu(u32.encode(1)), /not a per-CPU map/);
});

test('prog array: slots hold programs by fd, read back as ids, clear empties them', (t) => {
  if (requireRoot(t)) return;
  using obj = BpfObject.open(testObject('kl_basic'));
  obj.load();
  const jmp = new ProgArray(obj.map('kl_jmp'));
  const next = obj.program('xdp_drop_udp');
  assert.equal(jmp.get(0), undefined);
  jmp.set(0, next);
  assert.equal(jmp.get(0), next.info().id);
  assert.throws(() => jmp.set(1, obj.map('kl_hash').fd), (e: unknown) => e instanceof BpfError && e.code === 'EINVAL');
  assert.equal(jmp.clear(0), true);
  assert.equal(jmp.clear(0), false);
  assert.throws(() => new ProgArray(obj.map('kl_hash')), /not prog_array/);
});
