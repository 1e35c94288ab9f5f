// The plan of a whole write (engine/change-plan.ts), as the dry run and the audit log show it: pure, no kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeProgram, type BpfProgram, type NormalizedBpfProgram } from '../../agent/src/payload/index.ts';
import { planChange, wireDirection, type ChangeState } from '../../agent/src/engine/change-plan.ts';
import type { ChainDirection } from '../../agent/src/chain/index.ts';

type P = NormalizedBpfProgram;

function raw(name: string, seq: number, over: Partial<BpfProgram> = {}): BpfProgram {
  return { name, version: '1.0', artifact: `${name}.tar.gz`, admin_status: 'enabled', seq_id: seq, object_file: `${name}.o`, entry_function_name: 'xdp_main', map_name: `${name}_next`, ...over };
}

/** A state with `lists` on veth0's XDP chain, all of them live; `other` on veth1. */
function state(lists: BpfProgram[], other: BpfProgram[] = [], probes: BpfProgram[] = []): ChangeState {
  const l = new Map<string, P[]>([['veth0/xdp_ingress', lists.map(normalizeProgram)], ['veth1/xdp_ingress', other.map(normalizeProgram)]]);
  return {
    ifaces: ['veth0', ...(other.length > 0 ? ['veth1'] : [])],
    list: (iface: string, d: ChainDirection) => l.get(`${iface}/${d}`) ?? [],
    live: (iface: string, d: ChainDirection) => new Set((l.get(`${iface}/${d}`) ?? []).filter((p) => p.admin_status === 'enabled').map((p) => p.name)),
    probes: new Map(probes.map((p) => [p.name, { iface: 'veth0', p: normalizeProgram(p) }])),
    chaining: true,
  };
}

const body = (iface: string, xdp: BpfProgram[], probes?: BpfProgram[]) => [{ host_name: 'h', iface, bpf_programs: { xdp_ingress: xdp, ...(probes ? { probes } : {}) } }];
const actions = (plan: ReturnType<typeof planChange>) => plan.programs.map((p) => `${p.item.action}:${p.item.name}`).sort();

test('add: new programs load, present ones stay, disabled ones and taken seq_ids are not added', () => {
  const p = planChange('add', body('veth0', [raw('a', 1), raw('b', 2), raw('c', 1), raw('d', 3, { admin_status: 'disabled' })]), state([raw('a', 1)]));
  assert.deepEqual(actions(p), ['load:b', 'unchanged:a']);
  assert.deepEqual(p.chains, [{ iface: 'veth0', direction: 'xdpingress', before: ['a'], after: ['a', 'b'] }]);
  assert.deepEqual(p.ifaces, ['veth0']);
  assert.equal(p.programs.find((x) => x.item.name === 'b')?.item.direction, 'xdpingress');
});

test('update: omitted → remove, version → replace, seq_id → move, map_args → update, disabled → remove; unnamed interfaces are emptied', () => {
  const cur = [raw('a', 1), raw('b', 2), raw('c', 3), raw('d', 4), raw('e', 5)];
  const p = planChange('update', body('veth0', [
    raw('a', 1, { version: '2.0' }), raw('b', 9), raw('c', 3, { map_args: [{ name: 'm', args: [{ key: 0, value: 1 }] }] }), raw('d', 4, { admin_status: 'disabled' }),
  ]), state(cur, [raw('x', 1)]));
  assert.deepEqual(actions(p), ['move:b', 'remove:d', 'remove:e', 'remove:x', 'replace:a', 'update:c']);
  const v0 = p.chains.find((c) => c.iface === 'veth0');
  assert.deepEqual(v0, { iface: 'veth0', direction: 'xdpingress', before: ['a', 'b', 'c', 'd', 'e'], after: ['a', 'c', 'b'] });
  assert.deepEqual(p.chains.find((c) => c.iface === 'veth1'), { iface: 'veth1', direction: 'xdpingress', before: ['x'], after: [] });
  assert.deepEqual([...p.ifaces].sort(), ['veth0', 'veth1']);
});

test('update: a program that cannot load carries its reason as a failed verdict; a self-linking tail is loaded by the supervisor', () => {
  const p = planChange('update', body('veth0', [raw('a', 1, { map_name: '' }), raw('t', 9, { object_file: '', cmd_start: 'run' })]), state([]));
  const a = p.programs.find((x) => x.item.name === 'a')?.item;
  assert.equal(a?.action, 'load');
  assert.equal(a?.verifier?.ok, false);
  assert.match(a?.verifier?.error ?? '', /map_name is required/);
  assert.equal(p.programs.find((x) => x.item.name === 't')?.item.action, 'load');
  assert.deepEqual(p.chains[0]?.after, ['t']);
});

test('delete: named programs and probes are removed; unknown names plan nothing', () => {
  const p = planChange('delete', [{ host_name: 'h', iface: 'veth0', bpf_programs: { xdp_ingress: ['b', 'nope'], probes: ['pr', 'nope'] } }], state([raw('a', 1), raw('b', 2)], [], [raw('pr', 0)]));
  assert.deepEqual(actions(p), ['remove:b', 'remove:pr', 'unchanged:a']);
  assert.equal(p.programs.find((x) => x.item.name === 'pr')?.item.direction, 'probes');
});

test('probes: add new → load, add present → unchanged, update changed → replace, update disabled → remove', () => {
  const s = state([], [], [raw('pr', 0)]);
  assert.deepEqual(actions(planChange('add', body('veth0', [], [raw('pr', 0, { version: '2.0' }), raw('q', 0)]), s)), ['load:q', 'unchanged:pr']);
  assert.deepEqual(actions(planChange('update', body('veth0', [], [raw('pr', 0, { version: '2.0' })]), s)), ['replace:pr']);
  assert.deepEqual(actions(planChange('update', body('veth0', [], [raw('pr', 0, { admin_status: 'disabled' })]), s)), ['remove:pr']);
});

test('the planner does not change its input and gives the same plan twice', () => {
  const s = state([raw('a', 1), raw('b', 2)]);
  const b = body('veth0', [raw('b', 1), raw('c', 2)]);
  const copy = structuredClone(b);
  assert.deepEqual(planChange('update', b, s), planChange('update', b, s));
  assert.deepEqual(b, copy);
  assert.deepEqual(['xdp_ingress', 'tc_ingress', 'tc_egress', 'probes'].map((d) => wireDirection(d as ChainDirection)), ['xdpingress', 'ingress', 'egress', 'probes']);
});
