/**
 * The chain planner (engine/plan.ts) and the applier (engine/apply.ts) without a kernel: every
 * combination of a program's stored state (absent / enabled and linked / enabled but not linked /
 * disabled) with what a payload asks of it (omitted, the same, disabled, enabled again, each kind
 * of field change, a program that cannot load), alone and in pairs (seq_id ties and swaps
 * included), planned, checked against a decision table written independently of the planner,
 * applied to an in-memory chain, and every failing operation injected to prove the rollback.
 * The real kernel behind the same steps is proven by the other files of test/engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeProgram, type NormalizedBpfProgram } from '../../agent/src/payload/index.ts';
import {
  ALREADY_PRESENT, DISABLED_NOT_ADDED, chainPosition, omittedBy, planChain, planTail, targetFor, type ChainPlan, type ChainStep,
} from '../../agent/src/engine/plan.ts';
import { applyChainPlan, type ChainOps } from '../../agent/src/engine/apply.ts';
import { RELOAD_FIELDS, USER_PROGRAM_REASON, bySeq, changedFields } from '../../agent/src/engine/program-diff.ts';
import { formatKey, keyString, parseKey, programKey } from '../../agent/src/engine/program-key.ts';
import { UndoStack } from '../../agent/src/engine/undo-stack.ts';
import type { ProgramResult } from '../../agent/src/engine/types.ts';

type P = NormalizedBpfProgram;

function prog(name: string, seq: number, over: Partial<P> = {}): P {
  return {
    ...normalizeProgram({ name, version: '1.0', artifact: `${name}.tar.gz`, admin_status: 'enabled', seq_id: seq, object_file: `${name}.o`, entry_function_name: 'xdp_main', map_name: `${name}_next` }),
    ...over,
  };
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

// ------------------------------------------------------------------ the state space

/** What holds for a program before the operation. */
const STATES = ['absent', 'linked', 'linked_user', 'unlinked', 'disabled'] as const;
type State = typeof STATES[number];
/** What the payload asks of it. */
const ASKS = [
  'omit', 'same', 'disable', 'enable', 'seq', 'map_args', 'monitor_maps', 'version', 'artifact', 'entry', 'update_args',
  'start_args', 'seq+version', 'seq+map_args', 'version+map_args', 'seq+update_args', 'add_user', 'no_object', 'self_linking', 'other_field',
] as const;
type Ask = typeof ASKS[number];

const MAP_ARGS = [{ name: 'rl_config_map', args: [{ key: 0, value: 100 }] }] as unknown as P['map_args'];
const MONITOR = [{ name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' }] as unknown as P['monitor_maps'];
const ARGS = [{ key: 'iface', value: 'x' }] as unknown as P['update_args'];

function held(name: string, seq: number, s: State): P | undefined {
  if (s === 'absent') return undefined;
  return prog(name, seq, s === 'disabled' ? { admin_status: 'disabled' } : s === 'linked_user' ? { cmd_start: 'run', cmd_update: 'upd' } : {});
}

function asked(name: string, seq: number, base: P | undefined, a: Ask): P | undefined {
  const b = base ?? prog(name, seq);
  switch (a) {
    case 'omit': return undefined;
    case 'same': return base ?? b;
    case 'disable': return { ...b, admin_status: 'disabled' };
    case 'enable': return { ...b, admin_status: 'enabled' };
    case 'seq': return { ...b, seq_id: b.seq_id + 10 };
    case 'map_args': return { ...b, map_args: MAP_ARGS };
    case 'monitor_maps': return { ...b, monitor_maps: MONITOR };
    case 'version': return { ...b, version: '2.0' };
    case 'artifact': return { ...b, artifact: `${name}-v2.tar.gz` };
    case 'entry': return { ...b, entry_function_name: 'xdp_other' };
    case 'update_args': return { ...b, cmd_start: 'run', cmd_update: 'upd', update_args: ARGS };
    case 'start_args': return { ...b, cmd_start: 'run', start_args: ARGS };
    case 'seq+version': return { ...b, seq_id: b.seq_id + 10, version: '2.0' };
    case 'seq+map_args': return { ...b, seq_id: b.seq_id + 10, map_args: MAP_ARGS };
    case 'version+map_args': return { ...b, version: '2.0', map_args: MAP_ARGS };
    case 'seq+update_args': return { ...b, seq_id: b.seq_id + 10, cmd_start: 'run', cmd_update: 'upd', update_args: ARGS };
    case 'add_user': return { ...b, cmd_start: 'run' };
    case 'no_object': return { ...b, object_file: '' , version: '3.0' };
    case 'self_linking': return { ...b, object_file: '', cmd_start: 'run' };
    case 'other_field': return { ...b, cpu: 2, memory: 64 };
  }
}

/**
 * The decision table, written from the engine's documented rules (not from plan.ts): the kind of
 * the step a program gets, and whether a move follows it.
 */
function expectedKind(c: P | undefined, t: P | undefined, live: boolean, loadProblem: string | null): { kind: ChainStep['kind'] | 'none'; move: boolean } {
  if (!t) return { kind: c ? 'remove' : 'none', move: false };
  const same = c !== undefined && JSON.stringify(c) === JSON.stringify(t);
  if (t.admin_status === 'disabled') return { kind: same && !live ? 'unchanged' : 'disable', move: false };
  const cannot = t.object_file === '' || t.entry_function_name === '' || t.map_name === '' || loadProblem !== null;
  if (cannot) return { kind: same && !live ? 'unchanged' : 'fail', move: false };
  if (!c || !live) return { kind: 'load', move: false };
  if (same) return { kind: 'unchanged', move: false };
  return { kind: 'change', move: c.seq_id !== t.seq_id };
}

function nameOf(s: ChainStep): string {
  switch (s.kind) {
    case 'remove': return s.program.name;
    case 'unchanged': case 'fail': return s.name;
    default: return s.to.name;
  }
}

/** The invariants every plan keeps. */
function checkOrder(plan: ChainPlan): void {
  const rank = (s: ChainStep): number => (s.kind === 'remove' ? 0 : s.kind === 'move' ? 2 : s.kind === 'load' ? 3 : 1);
  const ranks = plan.steps.map(rank);
  assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), 'removals, in-place steps, moves, loads');
  for (const kind of ['move', 'load'] as const) {
    const seqs = plan.steps.filter((s) => s.kind === kind).map((s) => (s as { to: P }).to.seq_id);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `${kind}s in seq_id order`);
  }
}

// ------------------------------------------------------------------ an in-memory chain

interface Fake {
  chain: { name: string; version: string; mapArgs: string }[];
  users: Set<string>;
  events: string[];
  ops: ChainOps;
}

type Op = 'insert' | 'replace' | 'unlink' | 'move' | 'stopUser' | 'startUser' | 'updateUser' | 'writeMapArgs';

function fake(linked: readonly P[], users: readonly string[], failOn?: { op: Op; name: string }): Fake {
  const f: Fake = { chain: linked.map((p) => ({ name: p.name, version: p.version, mapArgs: JSON.stringify(p.map_args) })), users: new Set(users), events: [], ops: undefined as never };
  const boom = (op: Op, name: string): void => {
    if (failOn && failOn.op === op && failOn.name === name) throw new Error(`${op} ${name}: injected failure`);
  };
  const idx = (name: string): number => f.chain.findIndex((e) => e.name === name);
  f.ops = {
    iface: 'veth0', direction: 'xdp_ingress', ipv4: '10.0.0.1',
    chainNames: () => f.chain.map((e) => e.name),
    inChain: (name) => idx(name) >= 0,
    runningProgram: (p) => (idx(p.name) >= 0 ? { iface: 'veth0', direction: 'xdp_ingress', name: p.name, version: p.version, ipv4: '10.0.0.1', progId: 1, mapPinDir: '/x', monitorMaps: [], eventMaps: null } : undefined),
    insert: async (p, position) => {
      boom('insert', p.name);
      assert.ok(position >= 0 && position <= f.chain.length, `insert position ${position}`);
      assert.equal(idx(p.name), -1, `${p.name} inserted twice`);
      f.chain.splice(position, 0, { name: p.name, version: p.version, mapArgs: JSON.stringify(p.map_args) });
    },
    replace: async (from, to) => {
      boom('replace', to.name);
      const e = f.chain[idx(from.name)];
      assert.ok(e, `replace of ${from.name}: not in the chain`);
      e.version = to.version;
      e.mapArgs = JSON.stringify(to.map_args);
      return async () => {
        e.version = from.version;
        e.mapArgs = JSON.stringify(from.map_args);
      };
    },
    unlink: async (name) => {
      boom('unlink', name);
      assert.ok(idx(name) >= 0, `unlink of ${name}: not in the chain`);
      f.chain.splice(idx(name), 1);
    },
    move: async (name, position) => {
      boom('move', name);
      const i = idx(name);
      assert.ok(i >= 0 && position >= 0 && position < f.chain.length, `move ${name} to ${position}`);
      const [e] = f.chain.splice(i, 1);
      f.chain.splice(position, 0, e as Fake['chain'][number]);
    },
    writeMapArgs: (p) => {
      boom('writeMapArgs', p.name);
      const e = f.chain[idx(p.name)];
      if (e) e.mapArgs = JSON.stringify(p.map_args);
    },
    initMonitored: () => undefined,
    stopUser: async (p) => {
      boom('stopUser', p.name);
      f.users.delete(p.name);
    },
    startUser: async (p) => {
      boom('startUser', p.name);
      f.users.add(p.name);
    },
    updateUser: async (p) => {
      boom('updateUser', p.name);
    },
    reachNote: () => undefined,
    notify: (event, arg) => f.events.push(`${event}:${arg.name}`),
    setLastError: () => undefined,
    dropRuntime: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  return f;
}

class Sink {
  readonly out = new Map<string, { outcome: ProgramResult['outcome']; reason?: string | undefined }>();
  set(name: string, outcome: ProgramResult['outcome'], reason?: string): void {
    this.out.set(name, { outcome, reason });
  }
}

/** Plans and applies one case; checks the table, the order, purity, and the chain that results. */
async function runCase(current: P[], target: P[], live: Set<string>, opts: { loadProblem?: string | null; chaining?: boolean } = {}): Promise<void> {
  deepFreeze(current);
  deepFreeze(target);
  const input = { current, target, live, chaining: opts.chaining ?? true, loadProblem: opts.loadProblem ?? null };
  const plan = planChain(input);
  assert.deepEqual(planChain(input), plan, 'pure: the same input gives the same plan');
  checkOrder(plan);
  const names = new Set([...current, ...target].map((p) => p.name));
  for (const name of names) {
    const c = current.find((p) => p.name === name);
    const t = target.find((p) => p.name === name);
    const want = expectedKind(c, t, live.has(name), input.loadProblem);
    const mine = plan.steps.filter((s) => nameOf(s) === name);
    assert.deepEqual(mine.map((s) => s.kind), want.kind === 'none' ? [] : want.move ? [want.kind, 'move'] : [want.kind], `${name}: ${JSON.stringify({ c: c && changedFields(prog(name, 0), c), t: t && changedFields(c ?? prog(name, 0), t), live: live.has(name) })}`);
    const ch = mine.find((s) => s.kind === 'change');
    if (ch && ch.kind === 'change' && c && t) {
      const fields = changedFields(c, t) as string[];
      assert.equal(ch.replace, fields.some((x) => (RELOAD_FIELDS as readonly string[]).includes(x)), 'replace iff a reload field changed');
      assert.equal(ch.writeMapArgs, !ch.replace && fields.includes('map_args'), 'map_args written in place iff no reload');
      assert.equal(ch.updateUser && ch.startUser, false, 'cmd_update or a restart, never both');
    }
  }
  // the applier on an in-memory chain: what is enabled and loadable is linked, in seq_id order
  const linked = current.filter((p) => live.has(p.name));
  const f = fake(linked, linked.filter((p) => p.cmd_start !== '').map((p) => p.name));
  const sink = new Sink();
  const after = await applyChainPlan(plan, current, target, f.ops, sink);
  const failed = [...sink.out].filter(([, r]) => r.outcome === 'failed').map(([n]) => n);
  const loadable = (p: P): boolean => p.admin_status === 'enabled' && p.object_file !== '' && input.loadProblem === null;
  const wantLinked = new Set(target.filter((p) => loadable(p)).map((p) => p.name));
  for (const n of failed) wantLinked.delete(n);
  for (const p of linked) if (failed.includes(p.name)) wantLinked.add(p.name); // a failed change keeps it running
  assert.deepEqual(new Set(f.chain.map((e) => e.name)), wantLinked, 'the chain holds what is enabled and loadable');
  const seqOf = new Map(after.map((p) => [p.name, p.seq_id]));
  const chainSeqs = f.chain.map((e) => seqOf.get(e.name) ?? -1);
  assert.deepEqual(chainSeqs, [...chainSeqs].sort((a, b) => a - b), 'the chain is in seq_id order');
  for (const e of f.chain) {
    const p = after.find((x) => x.name === e.name);
    assert.equal(e.version, p?.version, `${e.name} runs the version that is stored`);
  }
  assert.deepEqual(after.map((p) => p.name), bySeq(after).map((p) => p.name));
  if (failed.length === 0) assert.deepEqual(after, bySeq(target), 'without failures the target holds');
  for (const n of names) if (target.some((t) => t.name === n) || current.some((c) => c.name === n)) assert.ok(sink.out.has(n) || !target.some((t) => t.name === n), `${n} has a result`);
}

// ------------------------------------------------------------------ the cases

let cases = 0;
const started = performance.now();

for (const s of STATES) {
  for (const a of ASKS) {
    if (s === 'absent' && (a === 'omit')) continue;
    test(`one program: ${s}, payload ${a}`, async () => {
      const c = held('a', 1, s);
      const t = asked('a', 1, c, a);
      cases++;
      await runCase(c ? [c] : [], t ? [t] : [], new Set(s === 'linked' || s === 'linked_user' ? ['a'] : []));
    });
  }
}

for (const sa of STATES) {
  for (const sb of STATES) {
    test(`two programs: a ${sa}, b ${sb}, every pair of asks`, async () => {
      for (const aa of ASKS) {
        for (const ab of ASKS) {
          const ca = held('a', 1, sa);
          const cb = held('b', 2, sb);
          const current = [ca, cb].filter((p): p is P => p !== undefined);
          const target = bySeq([asked('a', 1, ca, aa), asked('b', 2, cb, ab)].filter((p): p is P => p !== undefined));
          const live = new Set([sa.startsWith('linked') ? 'a' : '', sb.startsWith('linked') ? 'b' : ''].filter((x) => x !== ''));
          cases++;
          await runCase(current, target, live);
        }
      }
    });
  }
}

test('seq_id ties: loads keep the payload order among equal seq_ids, and land after the programs that hold', async () => {
  const current = [prog('a', 1), prog('b', 5)];
  const target = bySeq([prog('a', 1), prog('b', 5), prog('c', 5), prog('d', 5), prog('e', 1)]);
  const plan = planChain({ current, target, live: new Set(['a', 'b']), chaining: true });
  assert.deepEqual(plan.steps.filter((s) => s.kind === 'load').map(nameOf), ['e', 'c', 'd']);
  assert.equal(chainPosition(['a', 'b'], 5, (n) => (n === 'a' ? 1 : 5)), 1, 'before the tied program that holds');
  assert.equal(chainPosition(['a', 'b'], 6, (n) => (n === 'a' ? 1 : 5)), 2);
  assert.equal(chainPosition(['a', 'b'], 0, () => 1), 0);
  assert.equal(chainPosition(['a', 'b'], 9, () => 1, 'b'), 1, 'the moving program is not counted');
  cases++;
  await runCase(current, target, new Set(['a', 'b']));
});

test('seq_id swaps and rotations of three linked programs: moves in seq_id order, the chain ends sorted', async () => {
  const perms = [[1, 2, 3], [1, 3, 2], [2, 1, 3], [2, 3, 1], [3, 1, 2], [3, 2, 1], [2, 2, 1], [1, 1, 1], [3, 3, 3]];
  for (const p of perms) {
    const current = [prog('a', 1), prog('b', 2), prog('c', 3)];
    const target = bySeq([prog('a', p[0] as number), prog('b', p[1] as number), prog('c', p[2] as number)]);
    cases++;
    await runCase(current, target, new Set(['a', 'b', 'c']));
  }
});

test('no chaining (bpf-chaining-enabled false): the chain plan is the same (the one-program rule is the payload\'s, checked before)', async () => {
  for (const a of ASKS) {
    const c = prog('a', 1);
    const t = asked('a', 1, c, a);
    const input = { current: [c], target: t ? [t] : [], live: new Set(['a']) };
    assert.deepEqual(planChain({ ...input, chaining: false }), planChain({ ...input, chaining: true }), a);
    cases++;
    await runCase([c], t ? [t] : [], new Set(['a']), { chaining: false });
  }
});

test('no libbpf on the host: every enabled program fails on its own before any step; disabled and omitted ones still go', async () => {
  const current = [prog('a', 1), prog('b', 2), prog('c', 3)];
  const target = [prog('a', 1, { version: '2.0' }), prog('b', 2, { admin_status: 'disabled' }), prog('d', 4)];
  const plan = planChain({ current, target, live: new Set(['a', 'b', 'c']), chaining: true, loadProblem: 'libbpf is not available' });
  assert.deepEqual(plan.steps.map((s) => `${s.kind}:${nameOf(s)}`), ['remove:c', 'fail:a', 'disable:b', 'fail:d']);
  cases++;
});

test('a self-linking program (cmd_start without object_file) is never loaded by the chain planner', () => {
  const t = prog('s', 9, { object_file: '', cmd_start: 'run' });
  const plan = planChain({ current: [], target: [t], live: new Set(), chaining: true });
  assert.equal(plan.steps.length, 1);
  const [s] = plan.steps;
  assert.equal(s?.kind, 'fail');
  assert.match(s?.kind === 'fail' ? s.reason : '', new RegExp(USER_PROGRAM_REASON.slice(0, 40).replace(/[()]/g, '\\$&')));
  cases++;
});

test('user programs: l3afd\'s order (stop, change, start), cmd_update alone for update_args, start after the load', () => {
  const c = prog('a', 1, { cmd_start: 'run', cmd_update: 'upd' });
  const steps = (t: P): ChainStep[] => [...planChain({ current: [c], target: [t], live: new Set(['a']), chaining: true }).steps];
  const v = steps({ ...c, version: '2.0' })[0];
  assert.ok(v?.kind === 'change' && v.stopUser && v.replace && v.startUser && !v.updateUser);
  const u = steps({ ...c, update_args: ARGS })[0];
  assert.ok(u?.kind === 'change' && !u.stopUser && !u.replace && !u.startUser && u.updateUser);
  const m = steps({ ...c, map_args: MAP_ARGS })[0];
  assert.ok(m?.kind === 'change' && !m.stopUser && m.writeMapArgs && !m.startUser);
  const l = planChain({ current: [], target: [c], live: new Set(), chaining: true }).steps[0];
  assert.ok(l?.kind === 'load' && l.startUser);
  cases += 4;
});

test('rollback: every operation that can fail, injected into every single-program case, leaves the old program running', async () => {
  const ops: Op[] = ['insert', 'replace', 'unlink', 'move', 'stopUser', 'startUser', 'updateUser', 'writeMapArgs'];
  for (const s of STATES) {
    for (const a of ASKS) {
      for (const op of ops) {
        const c = held('a', 1, s);
        const t = asked('a', 1, c, a);
        const current = c ? [deepFreeze(c)] : [];
        const target = t ? [deepFreeze(t)] : [];
        const live = new Set(s === 'linked' || s === 'linked_user' ? ['a'] : []);
        const withUser = c && c.cmd_start !== '' && live.has('a') ? ['a'] : [];
        const plan = planChain({ current, target, live, chaining: true });
        const f = fake(current.filter((p) => live.has(p.name)), withUser, { op, name: 'a' });
        const before = JSON.stringify(f.chain);
        const sink = new Sink();
        const after = await applyChainPlan(plan, current, target, f.ops, sink);
        cases++;
        const r = sink.out.get('a');
        if (r?.outcome !== 'failed') continue;
        // a failure: what holds is what held (the stored entry and, for a change, the kernel element)
        assert.deepEqual(after, current, `${s}/${a}/${op}: the stored list is unchanged`);
        const step = plan.steps.find((x) => nameOf(x) === 'a');
        if (step?.kind === 'change') assert.equal(JSON.stringify(f.chain), before, `${s}/${a}/${op}: the kernel element is back as it was`);
        if (step?.kind === 'load') assert.deepEqual(f.chain, [], `${s}/${a}/${op}: nothing stays of a failed load`);
        assert.ok(f.events.some((e) => e === 'updateFailed:a' || e === 'deployFailed:a'), `${s}/${a}/${op}: the observer heard the failure`);
      }
    }
  }
});

test('a failed move takes back the change before it (replace undone), and the observer hears the old program again', async () => {
  const c = [prog('a', 1), prog('b', 2)];
  const t = bySeq([prog('a', 5, { version: '2.0' }), prog('b', 2)]);
  const plan = planChain({ current: c, target: t, live: new Set(['a', 'b']), chaining: true });
  assert.deepEqual(plan.steps.map((s) => `${s.kind}:${nameOf(s)}`), ['unchanged:b', 'change:a', 'move:a']);
  const f = fake(c, [], { op: 'move', name: 'a' });
  const sink = new Sink();
  const after = await applyChainPlan(plan, c, t, f.ops, sink);
  assert.equal(sink.out.get('a')?.outcome, 'failed');
  assert.match(sink.out.get('a')?.reason ?? '', /^moving it failed: move a: injected failure/);
  assert.deepEqual(f.chain.map((e) => `${e.name}@${e.version}`), ['a@1.0', 'b@1.0']);
  assert.deepEqual(after, c);
  assert.ok(f.events.includes('programUpdated:a'));
  cases++;
});

test('the undo stack: per owner, newest first, commit drops, rollback errors are reported and do not stop the rest', async () => {
  const seen: string[] = [];
  const errs: string[] = [];
  const u = new UndoStack((owner) => errs.push(owner));
  u.push('a', async () => { seen.push('a1'); });
  u.push('b', async () => { seen.push('b1'); });
  u.push('a', async () => { throw new Error('x'); });
  u.push('a', async () => { seen.push('a3'); });
  assert.equal(u.count('a'), 3);
  await u.rollback('a');
  assert.deepEqual(seen, ['a3', 'a1']);
  assert.deepEqual(errs, ['a']);
  assert.equal(u.size, 1);
  u.commit('b');
  assert.equal(u.size, 0);
  cases++;
});

test('ProgramKey: one constructor, formatter and parser; tc twins (same name in tc ingress and egress) are two keys', () => {
  const i = programKey('veth0', 'tc_ingress', 'ratelimiting');
  const e = programKey('veth0', 'tc_egress', 'ratelimiting');
  assert.notEqual(formatKey(i), formatKey(e));
  assert.equal(formatKey(i), 'veth0/tc_ingress/ratelimiting');
  assert.equal(keyString('veth0', 'tc_egress', 'ratelimiting'), formatKey(e));
  assert.deepEqual(parseKey(formatKey(e)), e);
  assert.equal(parseKey('a/b'), undefined);
  assert.equal(parseKey('a//c'), undefined);
  // the planner is per chain: the twin's plan does not depend on the other direction's list
  const p = prog('ratelimiting', 1);
  const ing = planChain({ current: [p], target: [{ ...p, version: '2.0' }], live: new Set(['ratelimiting']), chaining: true });
  assert.deepEqual(ing.steps.map((s) => s.kind), ['change']);
  cases++;
});


test('add and update ask for a target list: every mode x stored state x ask, with seq_id ties', () => {
  for (const mode of ['add', 'update'] as const) {
    for (const s of STATES) {
      for (const a of ASKS) {
        for (const otherSeq of [1, 3]) {
          const c = held('a', 1, s);
          const other = prog('o', otherSeq);
          const current = bySeq([other, ...(c ? [c] : [])]);
          const p = asked('a', 1, c, a) ?? prog('a', 1);
          const ask = targetFor(mode, 'xdp_ingress', current, p);
          cases++;
          if (mode === 'add') {
            if (c) assert.deepEqual(ask, { kind: 'skip', reason: ALREADY_PRESENT });
            else if (p.admin_status !== 'enabled') assert.deepEqual(ask, { kind: 'skip', reason: DISABLED_NOT_ADDED });
            else if (p.seq_id === otherSeq) assert.match(ask.kind === 'skip' ? ask.reason : '', /seq_id 1 is taken by 'o' in xdp_ingress/);
            else assert.deepEqual(ask, { kind: 'apply', target: bySeq([...current, p]), disables: false });
            continue;
          }
          if (p.admin_status !== 'enabled' && !c) assert.deepEqual(ask, { kind: 'skip', reason: DISABLED_NOT_ADDED });
          else if (p.admin_status !== 'enabled') assert.deepEqual(ask, { kind: 'apply', target: [other], disables: true });
          else assert.deepEqual(ask, { kind: 'apply', target: bySeq([other, p]), disables: false }, `${s}/${a}: update replaces by name (ties keep the one that holds first)`);
        }
      }
    }
  }
  assert.deepEqual(omittedBy([prog('a', 1), prog('b', 2)], [prog('b', 5)]).map((p) => p.name), ['a']);
});

test('self-linking tails: one per chain, the last program; every tail seq_id x native seq_id x running state x change', () => {
  const self = (name: string, seq: number, over: Partial<P> = {}): P => prog(name, seq, { object_file: '', entry_function_name: '', cmd_start: 'run', ...over });
  for (const tailSeq of [1, 5, 9]) {
    for (const nativeSeq of [1, 5, 9]) {
      for (const supervised of [false, true]) {
        for (const change of ['none', 'start_args', 'native_version', 'second_tail', 'disable_tail'] as const) {
          const t0 = self('tail', tailSeq);
          const n0 = prog('n', nativeSeq);
          const current = bySeq([n0, t0]);
          const t1 = change === 'start_args' ? { ...t0, start_args: ARGS } : change === 'disable_tail' ? { ...t0, admin_status: 'disabled' as const } : t0;
          const n1 = change === 'native_version' ? { ...n0, version: '2.0' } : n0;
          const target = bySeq([n1, t1, ...(change === 'second_tail' ? [self('tail2', 9)] : [])]);
          const plan = planTail({ iface: 'veth0', direction: 'xdp_ingress', current, target, supervised: new Set(supervised ? ['tail'] : []), live: new Set(['n']), chaining: true });
          cases++;
          const where = `tail ${tailSeq}, native ${nativeSeq}, ${supervised ? 'running' : 'not running'}, ${change}`;
          assert.deepEqual(plan.nativeCurrent, [n0], where);
          assert.equal(plan.running?.name, supervised ? 'tail' : undefined, where);
          if (change === 'second_tail') assert.match(plan.refused.get(plan.want?.name === 'tail2' ? 'tail' : 'tail2') ?? plan.refused.get('tail') ?? '', /only one self-linking|must be the last/, where);
          if (change === 'disable_tail') {
            assert.equal(plan.want, undefined, where);
            assert.equal(plan.restarted, supervised, `${where}: a running tail that is disabled stops`);
            continue;
          }
          const settled = supervised && change !== 'start_args';
          if (nativeSeq >= tailSeq && !settled) {
            assert.match(plan.refused.get('tail') ?? '', /must be the last program of its chain/, where);
            assert.equal(plan.want, undefined, where);
          } else if (nativeSeq >= tailSeq) {
            assert.match(plan.refused.get('n') ?? '', /cannot follow the self-linking user program 'tail'/, where);
            assert.deepEqual(plan.nativeTarget, [n0], `${where}: the refused native program keeps what it was`);
          } else {
            assert.equal(plan.want?.name, 'tail', where);
            assert.deepEqual(plan.nativeTarget, [n1], where);
            assert.equal(plan.nativeChanges, change === 'native_version', where);
            assert.equal(plan.restarted, supervised && (change === 'native_version' || change === 'start_args'), `${where}: the tail restarts when what is before it or itself changes`);
          }
        }
      }
    }
  }
});

test('count', () => {
  console.log(`planner cases: ${cases} in ${Math.round(performance.now() - started)} ms`);
  assert.ok(cases > 500);
});
