// Probe targets without the kernel: section names and explicit targets parsed, programs planned, and the
// options handed to the kernel layer's kprobe / uprobe attach built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ProbeTargetError, describeTarget, kprobeOptions, planProbes, probeFromExplicit, probeFromSection, uprobeOptions,
} from '../../agent/src/probes/index.ts';

test('section names → targets (with offsets), and what is not a probe section', () => {
  const ok: Array<[string, unknown, number]> = [
    ['kprobe/do_unlinkat', { kind: 'kprobe', fn: 'do_unlinkat' }, 0],
    ['kprobe/tcp_v4_connect+0x10', { kind: 'kprobe', fn: 'tcp_v4_connect' }, 16],
    ['kprobe/__x64_sys_getppid+8', { kind: 'kprobe', fn: '__x64_sys_getppid' }, 8],
    ['kretprobe/do_unlinkat', { kind: 'kretprobe', fn: 'do_unlinkat' }, 0],
    ['tracepoint/syscalls/sys_enter_getppid', { kind: 'tracepoint', category: 'syscalls', name: 'sys_enter_getppid' }, 0],
    ['tp/sched/sched_switch', { kind: 'tracepoint', category: 'sched', name: 'sched_switch' }, 0],
    ['uprobe//lib/x86_64-linux-gnu/libc.so.6:getpid', { kind: 'uprobe', binary: '/lib/x86_64-linux-gnu/libc.so.6', symbol: 'getpid' }, 0],
    ['uprobe//opt/a:b/bin:main+0x4', { kind: 'uprobe', binary: '/opt/a:b/bin', symbol: 'main' }, 4],
    ['uretprobe//usr/bin/bash:readline', { kind: 'uretprobe', binary: '/usr/bin/bash', symbol: 'readline' }, 0],
  ];
  for (const [s, target, offset] of ok) assert.deepEqual(probeFromSection(s), { target, offset }, s);
  for (const s of ['xdp', 'tc', 'kprobe/', 'kprobe/a b', 'tracepoint/syscalls', 'tracepoint/a/b/c', 'uprobe/libc.so', 'uprobe//lib/libc.so.6:', 'fentry/x', 'socket']) {
    assert.equal(probeFromSection(s), undefined, s);
  }
  assert.equal(describeTarget({ kind: 'kprobe', fn: 'f' }, 16), 'kprobe/f+0x10');
  assert.equal(describeTarget({ kind: 'uprobe', binary: '/b', symbol: 's' }), 'uprobe//b:s');
});

test('explicit probes: parsed, or refused with the expected form', () => {
  assert.deepEqual(probeFromExplicit({ kind: 'kprobe', target: 'do_unlinkat+0x4' }), { target: { kind: 'kprobe', fn: 'do_unlinkat' }, offset: 4 });
  assert.deepEqual(probeFromExplicit({ kind: 'tracepoint', target: 'syscalls/sys_enter_getppid' }).target, { kind: 'tracepoint', category: 'syscalls', name: 'sys_enter_getppid' });
  assert.throws(() => probeFromExplicit({ kind: 'tracepoint', target: 'sys_enter_getppid' }), /tracepoint target 'sys_enter_getppid' is not of the form category\/name/);
  assert.throws(() => probeFromExplicit({ kind: 'uprobe', target: 'libc.so.6' }), /is not of the form \/path\/to\/binary:symbol\[\+offset\]/);
  assert.throws(() => probeFromExplicit({ kind: 'kretprobe', target: 'f+4' }), /a return probe takes no offset/);
  assert.throws(() => probeFromExplicit({ kind: 'fentry' as 'kprobe', target: 'f' }), /probe kind 'fentry' is not one of kprobe, kretprobe, tracepoint, uprobe, uretprobe/);
});

test('planning: network programs left to the chain, explicit targets win, unknown sections refused', () => {
  const progs = [
    { name: 'xdp_main', section: 'xdp', type: 'xdp' },
    { name: 'tc_main', section: 'tc', type: 'sched_cls' },
    { name: 'tp', section: 'tracepoint/syscalls/sys_enter_getppid', type: 'tracepoint' },
    { name: 'kp', section: 'kprobe/do_unlinkat', type: 'kprobe' },
  ];
  const p = planProbes(progs);
  assert.deepEqual(p.network, ['xdp_main', 'tc_main']);
  assert.deepEqual(p.plans.map((x) => [x.program, describeTarget(x.target, x.offset), x.pid]), [['tp', 'tracepoint/syscalls/sys_enter_getppid', -1], ['kp', 'kprobe/do_unlinkat', -1]]);
  const e = planProbes(progs, [{ kind: 'kretprobe', target: 'vfs_read', program: 'kp' }]);
  assert.equal(describeTarget(e.plans[1]?.target ?? { kind: "tracepoint", category: "", name: "" }), 'kretprobe/vfs_read');
  const single = planProbes([{ name: 'u', section: 'uprobe', type: 'kprobe' }], [{ kind: 'uprobe', target: '/lib/x86_64-linux-gnu/libc.so.6:getpid', pid: 42 }]);
  assert.deepEqual(uprobeOptions(single.plans[0] as never), { binary: '/lib/x86_64-linux-gnu/libc.so.6', symbol: 'getpid', retprobe: false, pid: 42 });
  assert.throws(() => planProbes([{ name: 'u', section: 'uprobe', type: 'kprobe' }]), (err: Error) => err instanceof ProbeTargetError && /program 'u' \(section 'uprobe', type kprobe\) is not a .* section and has no explicit probe/.test(err.message));
  assert.throws(() => planProbes(progs, [{ kind: 'kprobe', target: 'f', program: 'nope' }]), /the object has no such program \(it has xdp_main, tc_main, tp, kp\)/);
  assert.throws(() => planProbes(progs, [{ kind: 'kprobe', target: 'f' }, { kind: 'kprobe', target: 'g' }]), /each must name its program/);
  assert.throws(() => planProbes(progs, [{ kind: 'kprobe', target: 'f' }]), /needs an object with exactly one probe program \(it has 2\)/);
});

test('attach options for kprobe/kretprobe and uprobe/uretprobe', () => {
  const plan = (section: string, pid = -1): Parameters<typeof kprobeOptions>[0] => {
    const p = probeFromSection(section);
    assert.ok(p);
    return { program: 'p', target: p.target, offset: p.offset, pid };
  };
  assert.deepEqual(kprobeOptions(plan('kprobe/do_unlinkat')), { fn: 'do_unlinkat', retprobe: false, offset: 0 });
  assert.deepEqual(kprobeOptions(plan('kprobe/tcp_v4_connect+0x20')), { fn: 'tcp_v4_connect', retprobe: false, offset: 32 });
  assert.deepEqual(kprobeOptions(plan('kretprobe/do_unlinkat')), { fn: 'do_unlinkat', retprobe: true, offset: 0 });
  assert.deepEqual(uprobeOptions(plan('uretprobe//bin/x:f')), { binary: '/bin/x', symbol: 'f', retprobe: true });
  assert.deepEqual(uprobeOptions(plan('uprobe//bin/x:f+0x8', 7)), { binary: '/bin/x', symbol: 'f', retprobe: false, offset: 8, pid: 7 });
  assert.throws(() => kprobeOptions(plan('uprobe//bin/x:f')), /uprobe is not a kprobe/);
  assert.throws(() => uprobeOptions(plan('kprobe/f')), /kprobe is not a uprobe/);
});
