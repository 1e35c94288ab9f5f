/**
 * The planner of one chain: from what holds (`current`, the stored list), what is asked (`target`)
 * and what the kernel holds (`live`, the names in the chain), the steps that bring the chain there,
 * as data. Pure: no I/O, no kernel, no clock; the applier executes the steps (with one undo stack)
 * and turns their outcome into results.
 *
 * Execution order (as l3afd and the engine always did): removals (programs the target omits), then
 * per target program in the target's order its in-place step (unchanged / disable / fail / change),
 * then the moves of changed programs whose seq_id changed (in seq_id order), then the loads
 * (new programs, re-enabled ones, ones that were not running; in seq_id order).
 */
import { isDeepStrictEqual } from 'node:util';
import type { NormalizedBpfProgram } from '../payload/index.ts';
import { bySeq, changedFields, hasUserProgram, isSelfLinking, nativeProblem, needsReload, needsUserRestart } from './program-diff.ts';

type P = NormalizedBpfProgram;
type Field = keyof NormalizedBpfProgram;

/** A program the target omits: its user program stops, it leaves the chain when it is in it. */
export interface RemoveStep { readonly kind: 'remove'; readonly program: P; readonly stopUser: boolean; readonly unlink: boolean }
/** Nothing to do; `relabel`: it runs and the interface's address changed (the observer hears programUpdated). */
export interface UnchangedStep { readonly kind: 'unchanged'; readonly name: string; readonly reason?: string; readonly relabel: boolean }
/** admin_status disabled: user program stopped, unloaded when live, kept in the list. */
export interface DisableStep { readonly kind: 'disable'; readonly from?: P; readonly to: P; readonly live: boolean; readonly changed: readonly Field[]; readonly stopUser: boolean }
/** The program cannot be loaded (native problem, no libbpf): a failed result, nothing changes. */
export interface FailStep { readonly kind: 'fail'; readonly name: string; readonly reason: string }
/**
 * A running program changed: in l3afd's order the user program stops, the kernel program is
 * replaced (or its map_args written, its monitored keys initialised), the user program starts (or
 * gets cmd_update); `move` when its seq_id changed (then a {@link MoveStep} follows later).
 */
export interface ChangeStep {
  readonly kind: 'change'; readonly from: P; readonly to: P; readonly changed: readonly Field[];
  readonly stopUser: boolean; readonly replace: boolean; readonly writeMapArgs: boolean; readonly initMonitored: boolean;
  readonly startUser: boolean; readonly updateUser: boolean; readonly move: boolean;
}
/** The move of a changed program to its new seq_id place (after every in-place step). */
export interface MoveStep { readonly kind: 'move'; readonly from: P; readonly to: P; readonly changed: readonly Field[] }
/** A program loaded into the chain (then its user program starts); `prev` when the list held it already. */
export interface LoadStep { readonly kind: 'load'; readonly to: P; readonly prev?: P; readonly reason?: string; readonly startUser: boolean }

export type ChainStep = RemoveStep | UnchangedStep | DisableStep | FailStep | ChangeStep | MoveStep | LoadStep;

export interface ChainPlanInput {
  /** What holds (the stored list of the chain, native programs only). */
  readonly current: readonly P[];
  /** What is asked (same shape). */
  readonly target: readonly P[];
  /** Names of the programs the kernel chain holds now. */
  readonly live: ReadonlySet<string>;
  /** `[l3afd] bpf-chaining-enabled`. */
  readonly chaining: boolean;
  /** Why no program can load at all on this host (no libbpf API), or null. */
  readonly loadProblem?: string | null;
  /** The interface's ipv4_address changes with this operation. */
  readonly ipv4Changed?: boolean;
}

export interface ChainPlan {
  readonly steps: readonly ChainStep[];
}

/** The steps that bring one native chain from `current` to `target` (see the module comment). */
export function planChain(input: ChainPlanInput): ChainPlan {
  const { current, target, live, chaining } = input;
  const targetNames = new Set(target.map((p) => p.name));
  const curByName = new Map(current.map((p) => [p.name, p]));
  const steps: ChainStep[] = [];
  for (const c of current) {
    if (targetNames.has(c.name)) continue;
    curByName.delete(c.name);
    steps.push({ kind: 'remove', program: c, stopUser: hasUserProgram(c), unlink: live.has(c.name) });
  }
  const moves: MoveStep[] = [];
  const loads: LoadStep[] = [];
  for (const t of target) {
    const c = curByName.get(t.name);
    const isLive = live.has(t.name);
    const changed = c ? changedFields(c, t) : [];
    if (t.admin_status !== 'enabled') {
      if (c && changed.length === 0 && !isLive) steps.push({ kind: 'unchanged', name: t.name, relabel: false });
      else steps.push({ kind: 'disable', ...(c ? { from: c } : {}), to: t, live: isLive, changed, stopUser: c !== undefined && hasUserProgram(c) });
      continue;
    }
    const problem = nativeProblem(t, chaining) ?? input.loadProblem ?? undefined;
    if (problem) {
      if (c && changed.length === 0 && !isLive) steps.push({ kind: 'unchanged', name: t.name, reason: `not running: ${problem}`, relabel: false });
      else steps.push({ kind: 'fail', name: t.name, reason: problem });
      continue;
    }
    if (!c || !isLive) {
      const reason = !c ? undefined : c.admin_status === 'disabled' ? 'admin_status enabled: loaded' : 'loaded again (it was not running)';
      loads.push({ kind: 'load', to: t, ...(c ? { prev: c } : {}), ...(reason === undefined ? {} : { reason }), startUser: hasUserProgram(t) });
      continue;
    }
    if (changed.length === 0) {
      steps.push({ kind: 'unchanged', name: t.name, relabel: input.ipv4Changed === true });
      continue;
    }
    const reload = needsReload(changed);
    const userRestart = (hasUserProgram(c) || hasUserProgram(t)) && (reload || needsUserRestart(changed));
    const move = t.seq_id !== c.seq_id;
    steps.push({
      kind: 'change', from: c, to: t, changed,
      stopUser: userRestart && hasUserProgram(c),
      replace: reload,
      writeMapArgs: !reload && changed.includes('map_args'),
      initMonitored: !reload && changed.includes('monitor_maps'),
      startUser: userRestart && hasUserProgram(t),
      updateUser: !userRestart && hasUserProgram(t) && changed.includes('update_args'),
      move,
    });
    if (move) moves.push({ kind: 'move', from: c, to: t, changed });
  }
  steps.push(...bySeq(moves.map((m) => ({ ...m, seq_id: m.to.seq_id }))).map(({ seq_id: _s, ...m }) => m));
  steps.push(...bySeq(loads.map((l) => ({ ...l, seq_id: l.to.seq_id }))).map(({ seq_id: _s, ...l }) => l));
  return { steps };
}

/**
 * Index at which a program with `seq` goes in a chain whose elements are `chain` (names, in chain
 * order): after every element whose holding seq_id is lower (ties: after the ones that hold).
 */
export function chainPosition(chain: readonly string[], seq: number, seqOf: (name: string) => number, except?: string): number {
  return chain.filter((n) => n !== except && seqOf(n) < seq).length;
}

/** Result reason of a disabled program that add or update does not keep (as l3afd, it is not listed). */
export const DISABLED_NOT_ADDED = 'admin_status disabled: not loaded and not listed (as l3afd)';
/** Result reason of a running program an update disabled. */
export const DISABLED_REMOVED = 'admin_status disabled: stopped and removed from the list (as l3afd)';
/** Result reason of a program add finds already present. */
export const ALREADY_PRESENT = 'already present (add does not change programs; use update)';

/**
 * What one program of an add or update payload asks of its chain's list: nothing (`skip`, with the
 * reason its `unchanged` result gives), or a target list to apply (`disables`: the update disabled
 * it, so its `removed` result is reported as `updated`).
 */
export type ProgramAsk =
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'apply'; readonly target: P[]; readonly disables: boolean };

/**
 * The target list for `p` (see {@link ProgramAsk}). add is additive: a program present by name stays
 * as it is, a disabled one is not added, a taken seq_id skips it (l3afd answers 200 for both); update
 * replaces the program by name, and `admin_status: disabled` drops it from the list.
 */
export function targetFor(mode: 'add' | 'update', direction: string, current: readonly P[], p: P): ProgramAsk {
  const had = current.find((c) => c.name === p.name);
  const enabled = p.admin_status === 'enabled';
  if (mode === 'add') {
    if (had) return { kind: 'skip', reason: ALREADY_PRESENT };
    if (!enabled) return { kind: 'skip', reason: DISABLED_NOT_ADDED };
    const taken = current.find((c) => c.seq_id === p.seq_id);
    if (taken) return { kind: 'skip', reason: `not added: seq_id ${p.seq_id} is taken by '${taken.name}' in ${direction} (add skips it, as l3afd)` };
    return { kind: 'apply', target: bySeq([...current, p]), disables: false };
  }
  if (!enabled && !had) return { kind: 'skip', reason: DISABLED_NOT_ADDED };
  const rest = current.filter((c) => c !== had);
  return { kind: 'apply', target: enabled ? bySeq([...rest, p]) : rest, disables: !enabled };
}

/** The programs of `current` an update's list for the chain omits (they go first, as l3af prunes them). */
export function omittedBy(current: readonly P[], asked: readonly P[]): P[] {
  return current.filter((c) => !asked.some((p) => p.name === c.name));
}

export interface TailPlanInput {
  readonly iface: string;
  readonly direction: string;
  readonly current: readonly P[];
  readonly target: readonly P[];
  /** Names of the self-linking programs the supervisor holds now. */
  readonly supervised: ReadonlySet<string>;
  /** Names in the kernel chain. */
  readonly live: ReadonlySet<string>;
  readonly chaining: boolean;
}

export interface TailPlan {
  /** The self-linking program that runs as the tail now (enabled, supervised). */
  readonly running: P | undefined;
  /** The self-linking program to run as the tail after the change. */
  readonly want: P | undefined;
  /** Programs refused, with why (a second tail, a tail not last, a program after the tail). */
  readonly refused: ReadonlyMap<string, string>;
  /** The native lists to plan with {@link planChain} (a refused native program keeps what it was). */
  readonly nativeCurrent: P[];
  readonly nativeTarget: P[];
  /** The native chain changes: a running tail unlinks (stops) before and starts again after. */
  readonly nativeChanges: boolean;
  /** The running tail stops (and, when wanted, starts again). */
  readonly restarted: boolean;
}

/**
 * The self-linking tail of a chain (cmd_start without object_file, l3afd's v1 path): it links itself
 * after its predecessor, so it must be the chain's last program (highest seq_id of the enabled
 * ones) and there is one per chain. Decides which one runs, what is refused, and whether the
 * running one restarts (the programs before it change, or it changes itself).
 */
export function planTail(input: TailPlanInput): TailPlan {
  const { iface, direction, current, target } = input;
  const curSelf = current.filter(isSelfLinking);
  const tgtSelf = target.filter(isSelfLinking);
  const refused = new Map<string, string>();
  // the tail to run: one enabled self-linking program (the supervised one first), after every native program
  const running = curSelf.find((p) => p.admin_status === 'enabled' && input.supervised.has(p.name));
  const enabledSelf = tgtSelf.filter((p) => p.admin_status === 'enabled');
  let want = enabledSelf.find((p) => p.name === running?.name) ?? bySeq(enabledSelf)[0];
  for (const p of enabledSelf) {
    if (p !== want) refused.set(p.name, `only one self-linking user program (cmd_start without object_file) per chain: '${want?.name ?? ''}' is the tail of ${iface} ${direction}`);
  }
  let nativeTarget = target.filter((p) => !isSelfLinking(p));
  const nativeCurrent = current.filter((p) => !isSelfLinking(p));
  if (want) {
    const w = want;
    const after = nativeTarget.filter((p) => p.admin_status === 'enabled' && p.seq_id >= w.seq_id);
    const wantSettled = running?.name === w.name && changedFields(running, w).length === 0;
    if (after.length > 0 && !wantSettled) {
      refused.set(w.name, `a self-linking user program (cmd_start without object_file) must be the last program of its chain (highest seq_id): the agent cannot link '${after.map((p) => p.name).join("', '")}' after a program it did not load`);
      want = undefined;
    } else {
      for (const p of after) refused.set(p.name, `cannot follow the self-linking user program '${w.name}' (seq_id ${w.seq_id}): the agent cannot link a program after one it did not load; give it a lower seq_id`);
      nativeTarget = nativeTarget.flatMap((p) => (refused.has(p.name) ? nativeCurrent.filter((c) => c.name === p.name) : [p]));
    }
  }
  const nativeChanges = !isDeepStrictEqual(nativeCurrent, nativeTarget)
    || nativeTarget.some((p) => p.admin_status === 'enabled' && !nativeProblem(p, input.chaining) && !input.live.has(p.name));
  const tailChanged = running !== undefined && (want === undefined || running.name !== want.name || needsUserRestart(changedFields(running, want)));
  return { running, want, refused, nativeCurrent, nativeTarget, nativeChanges, restarted: running !== undefined && (nativeChanges || tailChanged) };
}
