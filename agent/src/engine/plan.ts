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
import type { NormalizedBpfProgram } from '../payload/index.ts';
import { bySeq, changedFields, hasUserProgram, nativeProblem, needsReload, needsUserRestart } from './program-diff.ts';

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
