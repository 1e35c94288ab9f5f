// ProbeManager on the real kernel: a tracepoint (syscalls/sys_enter_getppid) and a uprobe on libc's getpid
// counted per process, pinned links adopted by a fresh manager without a second attach, idempotent re-apply,
// version update, removal (no link left in the kernel), a kprobe set failing cleanly (this kernel has no
// kprobes) without touching what was there, and the tracepoint beside an XDP program of a package object.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfMap, BpfObject, u32, u64 } from '../../agent/src/bpf/index.ts';
import { ProbeManager, kprobesAvailable } from '../../agent/src/probes/index.ts';
import { PrivateBpffs, ensureTracefs, skipUnless } from '../harness/index.ts';

const skip = await skipUnless('root', 'bpffs', 'tracefs');
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
let build = '';
let bpffs: PrivateBpffs | undefined;

before(async () => {
  if (skip) return;
  build = mkdtempSync(join(tmpdir(), `l3af-probes-${process.pid}-`));
  for (const f of readdirSync(FIXTURES).filter((n) => n.endsWith('.bpf.c'))) {
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-Wall', '-Werror', `-I/usr/include/${process.arch === 'x64' ? 'x86_64' : 'aarch64'}-linux-gnu`,
      '-c', join(FIXTURES, f), '-o', join(build, f.replace(/\.c$/, '.o'))]);
  }
  await ensureTracefs();
  bpffs = await PrivateBpffs.create();
});
after(async () => {
  await bpffs?.[Symbol.asyncDispose]();
  if (build) rmSync(build, { recursive: true, force: true });
});

const obj = (n: string): string => join(build, `${n}.bpf.o`);

/** Links in the kernel (bpftool), by program id. */
function kernelLinks(progIds: number[]): Array<{ id: number; prog_id: number; type: string }> {
  const all = JSON.parse(execFileSync('bpftool', ['link', 'show', '-j'], { encoding: 'utf8' })) as Array<{ id: number; prog_id: number; type: string }>;
  return all.filter((l) => progIds.includes(l.prog_id));
}

/** Runs python calling getppid() and getpid() `n` times each; returns its pid. */
function runCalls(n: number): number {
  const out = execFileSync(PYTHON, ['-c', `import os\nfor _ in range(${n}): os.getppid(); os.getpid()\nprint(os.getpid())`], { encoding: 'utf8' });
  return Number(out.trim());
}

function count(mapPin: string, pid: number): bigint {
  const m = BpfMap.openPinned(mapPin);
  try {
    return m.typed(u32, u64).get(pid) ?? 0n;
  } finally {
    m.close();
  }
}

test('tracepoint and uprobe counted; adopt without re-attach; idempotent apply; update; removal', { skip }, (t) => {
  const root = (bpffs as PrivateBpffs).path;
  const state = join(build, 'probes-state.json');
  const name = `counters-${process.pid}`;
  const a = new ProbeManager({ pinRoot: root, stateFile: state });
  t.after(() => a.close());
  const r = a.apply({ name, version: '1.0.0', objectPath: obj('probe_counters') });
  assert.equal(r.outcome, 'added', r.reason);
  const links = r.status?.links ?? [];
  assert.deepEqual(links.map((l) => [l.program, l.target]), [
    ['count_getppid', 'tracepoint/syscalls/sys_enter_getppid'],
    ['count_getpid', `uprobe/${LIBC}:getpid`],
  ]);
  const dir = a.dirOf(name, '1.0.0');
  assert.equal(dir, join(root, 'probes', name, '1_0_0'));
  assert.deepEqual(readdirSync(join(dir, 'links')).sort(), ['count_getpid', 'count_getppid']);
  assert.deepEqual(readdirSync(join(dir, 'maps')).sort(), ['tp_counts', 'up_counts']);
  const progIds = links.map((l) => l.progId);
  assert.deepEqual(kernelLinks(progIds).map((l) => l.id).sort(), links.map((l) => l.linkId).sort(), 'one kernel link per program');

  const pid = runCalls(1000);
  const tp = count(join(dir, 'maps', 'tp_counts'), pid);
  const up = count(join(dir, 'maps', 'up_counts'), pid);
  assert.equal(tp, 1000n, 'sys_enter_getppid counted once per call');
  assert.ok(up >= 1000n && up < 1100n, `libc getpid counted per call (${up})`);
  t.diagnostic(`python pid ${pid}: tracepoint ${tp}, uprobe ${up} for 1000 calls each`);

  // same set again: nothing changes
  const again = a.apply({ name, version: '1.0.0', objectPath: obj('probe_counters') });
  assert.equal(again.outcome, 'unchanged');
  assert.deepEqual(again.status?.links.map((l) => l.linkId), links.map((l) => l.linkId));
  assert.equal(kernelLinks(progIds).length, 2);

  // agent restart: a fresh manager adopts the pinned links (no second attach) and sees the same set
  a.close();
  const b = new ProbeManager({ pinRoot: root, stateFile: state });
  t.after(() => b.close());
  const adopted = b.adopt();
  const byId = (x: Array<{ linkId: number; target: string }>): Array<[number, string]> => x.map((l): [number, string] => [l.linkId, l.target]).sort((p, q) => p[0] - q[0]);
  assert.deepEqual(adopted.map((s) => [s.name, s.version, s.adopted, byId(s.links)]), [[name, '1.0.0', true, byId(links)]]);
  assert.equal(b.apply({ name, version: '1.0.0', objectPath: obj('probe_counters') }).outcome, 'unchanged', 'adopted set recognised: no duplicate');
  assert.equal(kernelLinks(progIds).length, 2, 'still exactly the original links');
  const pid2 = runCalls(300);
  assert.equal(count(join(dir, 'maps', 'tp_counts'), pid2), 300n, 'adopted links still count');

  // version update: new links, old ones gone
  const up2 = b.apply({ name, version: '1.1.0', objectPath: obj('probe_counters') });
  assert.equal(up2.outcome, 'updated');
  assert.equal(up2.reason, 'version 1.0.0 → 1.1.0');
  assert.equal(kernelLinks(progIds).length, 0, 'old links detached');
  assert.equal(existsSync(dir), false);
  const newIds = up2.status?.links.map((l) => l.progId) ?? [];
  assert.equal(kernelLinks(newIds).length, 2);
  const pid3 = runCalls(200);
  assert.equal(count(join(b.dirOf(name, '1.1.0'), 'maps', 'tp_counts'), pid3), 200n);

  // removal: detached and unpinned
  assert.equal(b.remove(name).outcome, 'removed');
  assert.equal(kernelLinks(newIds).length, 0, 'bpftool shows no link left');
  assert.equal(existsSync(join(root, 'probes', name)), false);
  assert.equal(b.remove(name).outcome, 'unchanged');
});

test('kprobe set: clear error naming the missing kernel feature; nothing attached, the previous set untouched', { skip }, (t) => {
  const root = (bpffs as PrivateBpffs).path;
  const name = `kp-${process.pid}`;
  const m = new ProbeManager({ pinRoot: root, stateFile: join(build, 'kp-state.json') });
  t.after(() => {
    m.remove(name);
    m.close();
  });
  const first = m.apply({ name, version: '1.0.0', objectPath: obj('probe_counters') });
  assert.equal(first.outcome, 'added');
  const before = first.status?.links.map((l) => l.linkId);
  const r = m.apply({ name, version: '2.0.0', objectPath: obj('probe_kprobe') });
  if (kprobesAvailable()) {
    assert.equal(r.outcome, 'updated', r.reason);
    t.diagnostic('this kernel has kprobes: the set attached');
    return;
  }
  assert.equal(r.outcome, 'failed');
  assert.equal(r.reason, "attaching program 'count_unlink' to kprobe/do_unlinkat failed: this kernel has no kprobe support (CONFIG_KPROBES is off: /sys/bus/event_source/devices/kprobe is missing), ENOENT");
  assert.deepEqual(r.status?.links.map((l) => l.linkId), before, 'previous set still attached');
  assert.equal(existsSync(join(root, 'probes', name, '2_0_0')), false);
  assert.equal(existsSync(join(root, 'probes', name, '2_0_0~staged')), false, 'staged pins removed');
  assert.equal(m.status(name)?.version, '1.0.0');
  assert.equal(kernelLinks(r.status?.links.map((l) => l.progId) ?? []).length, 2);
  // an explicit kretprobe target: the same clear error
  const e = m.apply({ name: `${name}-x`, version: '1', objectPath: obj('probe_kprobe'), probes: [{ kind: 'kretprobe', target: 'vfs_read', program: 'count_unlink_ret' }, { kind: 'kprobe', target: 'vfs_read+0x4', program: 'count_unlink' }] });
  assert.match(e.reason ?? '', /to kprobe\/vfs_read\+0x4 failed: this kernel has no kprobe support/);
  assert.equal(existsSync(join(root, 'probes', `${name}-x`)), false);
});

test('non-network programs of an XDP package object are attached beside it and removed with it', { skip }, (t) => {
  const root = (bpffs as PrivateBpffs).path;
  const m = new ProbeManager({ pinRoot: root, stateFile: join(build, 'obj-state.json') });
  const o = BpfObject.open(obj('xdp_with_tracepoint'));
  t.after(() => {
    m.close();
    o.close();
  });
  o.load();
  const owner = `eth9-side-${process.pid}`;
  const r = m.attachObjectProbes(owner, 'latest', o);
  assert.equal(r.outcome, 'added');
  assert.deepEqual(r.status?.links.map((l) => [l.program, l.target]), [['side_getppid', 'tracepoint/syscalls/sys_enter_getppid']], 'the XDP program is left to the chain');
  assert.equal(m.attachObjectProbes(owner, 'latest', o).outcome, 'unchanged');
  const counts = o.map('side_counts').typed(u32, u64);
  const before0 = counts.get(0) ?? 0n;
  runCalls(100);
  assert.ok((counts.get(0) ?? 0n) - before0 >= 100n, 'the tracepoint shares the package object\'s maps');
  const ids = r.status?.links.map((l) => l.progId) ?? [];
  assert.equal(m.remove(owner).outcome, 'removed');
  assert.equal(kernelLinks(ids).length, 0);
});
