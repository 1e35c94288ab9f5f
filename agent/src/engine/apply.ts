/**
 * The applier of a chain plan ({@link planChain}): executes its steps through the chain and user
 * program operations the engine hands it, with ONE undo stack (a change that fails is taken back,
 * the program keeps running as it was), and turns each step's outcome into a result and an
 * observer event. Returns what holds afterwards.
 */
import type { ChainDirection } from '../chain/index.ts';
import { messageOf } from '../error-message.ts';
import type { NormalizedBpfProgram } from '../payload/index.ts';
import { chainPosition, type ChainPlan, type ChangeStep, type TailPlan } from './plan.ts';
import { bySeq, changedFields, isSelfLinking, nativeProblem, needsReload } from './program-diff.ts';
import type { EngineObserver, ProgramRef, ProgramResult, RunningProgram } from './types.ts';
import { UndoStack } from './undo-stack.ts';

type P = NormalizedBpfProgram;

/** Where the per-program results go. */
export interface ResultSink {
  set(name: string, outcome: ProgramResult['outcome'], reason?: string, cause?: unknown): void;
}

/** The operations one chain offers the applier (the engine binds them to its chain manager and supervisor). */
export interface ChainOps {
  readonly iface: string;
  readonly direction: ChainDirection;
  readonly ipv4: string;
  /** Names in the kernel chain, in chain order. */
  chainNames(): string[];
  inChain(name: string): boolean;
  /** `p` as the observer sees it when it is in its chain. */
  runningProgram(p: P): RunningProgram | undefined;
  /** Loads `p` into the chain at `position` (its map_args written before the switch); nothing stays on failure. */
  insert(p: P, position: number): Promise<void>;
  /** Hitless replace of `from` by `to`; returns its undo. */
  replace(from: P, to: P): Promise<() => Promise<void>>;
  /** Takes `name` out of the chain (and its object's probes). */
  unlink(name: string): Promise<void>;
  move(name: string, position: number): Promise<void>;
  writeMapArgs(p: P): void;
  initMonitored(p: P): void;
  stopUser(p: P): Promise<void>;
  startUser(p: P): Promise<void>;
  updateUser(p: P): Promise<void>;
  /** Why traffic will not reach `name` in its chain, if so. */
  reachNote(name: string): string | undefined;
  notify(event: Exclude<keyof EngineObserver, 'programRunning'>, arg: RunningProgram | ProgramRef, reason?: string): void;
  /** The runtime record of `name`: last error set (null clears), or the record dropped. */
  setLastError(name: string, reason: string | null): void;
  dropRuntime(name: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** Executes `plan` (computed from `current` and `target`) on one chain; returns the list that holds afterwards. */
export async function applyChainPlan(plan: ChainPlan, current: readonly P[], target: readonly P[], ops: ChainOps, results: ResultSink): Promise<P[]> {
  const { iface, direction, ipv4 } = ops;
  const applied = new Map(current.map((p) => [p.name, p]));
  const wanted = new Map(target.map((p) => [p.name, p]));
  const undo = new UndoStack((name, err) => ops.error({ iface, direction, name, err: messageOf(err) }, 'rollback failed'));
  const changedOk = new Set<string>();
  const fail = (name: string, reason: string, cause?: unknown): void => {
    results.set(name, 'failed', reason, cause);
    if (applied.has(name)) ops.setLastError(name, reason);
    ops.warn({ iface, direction, name, reason }, 'program change failed');
    const p = applied.get(name) ?? wanted.get(name);
    const ref: ProgramRef = { iface, direction, name, version: p?.version ?? '', ipv4 };
    // a program that still runs failed an update; one that does not run failed to deploy
    ops.notify(ops.inChain(name) ? 'updateFailed' : 'deployFailed', ref, reason);
  };
  const stopped = (rp: RunningProgram | undefined): void => {
    if (rp) ops.notify('programStopped', rp);
  };
  const running = (event: 'programStarted' | 'programUpdated', p: P): void => {
    const rp = ops.runningProgram(p);
    if (rp) ops.notify(event, rp);
  };
  const seqOf = (name: string): number => applied.get(name)?.seq_id ?? Number.MAX_SAFE_INTEGER;

  for (const step of plan.steps) {
    switch (step.kind) {
      case 'remove': {
        const c = step.program;
        try {
          const rp = ops.runningProgram(c);
          if (step.stopUser) await ops.stopUser(c);
          if (ops.inChain(c.name)) await ops.unlink(c.name);
          stopped(rp);
          applied.delete(c.name);
          ops.dropRuntime(c.name);
          results.set(c.name, 'removed');
        } catch (err) {
          fail(c.name, `removing it failed: ${messageOf(err)}`);
        }
        break;
      }
      case 'unchanged': {
        results.set(step.name, 'unchanged', step.reason);
        // the interface's address is one of its labels
        const t = wanted.get(step.name);
        if (step.relabel && t) running('programUpdated', t);
        break;
      }
      case 'fail':
        fail(step.name, step.reason);
        break;
      case 'disable': {
        const { from: c, to: t, live } = step;
        try {
          const rp = live && c ? ops.runningProgram(c) : undefined;
          if (c && step.stopUser) await ops.stopUser(c);
          if (live) await ops.unlink(t.name);
          stopped(rp);
          applied.set(t.name, t);
          ops.setLastError(t.name, null);
          if (c) results.set(t.name, 'updated', live ? 'admin_status disabled: unloaded, kept in the desired state' : `changed: ${step.changed.join(', ')}`);
          else results.set(t.name, 'added', 'admin_status disabled: stored, not loaded');
        } catch (err) {
          fail(t.name, `unloading it failed: ${messageOf(err)}`);
        }
        break;
      }
      case 'change': {
        const t = step.to;
        try {
          await change(step, ops, undo);
        } catch (err) {
          await undo.rollback(t.name);
          fail(t.name, messageOf(err), err);
          break;
        }
        if (step.move) {
          changedOk.add(t.name); // the move follows; its failure takes this change back
          break;
        }
        undo.commit(t.name);
        applied.set(t.name, t);
        ops.setLastError(t.name, null);
        results.set(t.name, 'updated', `changed: ${step.changed.join(', ')}`);
        running('programUpdated', t);
        break;
      }
      case 'move': {
        const name = step.to.name;
        if (!changedOk.has(name)) break;
        try {
          const chain = ops.chainNames();
          const now = chain.indexOf(name);
          const pos = chainPosition(chain, step.to.seq_id, seqOf, name);
          if (now !== pos) await ops.move(name, pos);
          undo.commit(name);
          applied.set(name, step.to);
          ops.setLastError(name, null);
          results.set(name, 'updated', `changed: ${step.changed.join(', ')}`);
          running('programUpdated', step.to);
        } catch (err) {
          const hadUndo = undo.count(name) > 0;
          await undo.rollback(name);
          // a replace and its undo load the old program anew: the observer gets its new id
          if (hadUndo && needsReload(step.changed)) running('programUpdated', step.from);
          fail(name, `moving it failed: ${messageOf(err)}`);
        }
        break;
      }
      case 'load': {
        const name = step.to.name;
        try {
          await ops.insert(step.to, chainPosition(ops.chainNames(), step.to.seq_id, seqOf, name));
          if (step.startUser) {
            // l3afd's order: the kernel program is live first, then its user program starts
            try {
              await ops.startUser(step.to);
            } catch (err) {
              await ops.unlink(name).catch((e: unknown) => ops.error({ iface, direction, name, err: messageOf(e) }, 'unloading after a failed user program start failed'));
              throw err;
            }
          }
          applied.set(name, step.to);
          ops.setLastError(name, null);
          const note = ops.reachNote(name);
          if (step.prev) results.set(name, 'updated', note === undefined ? step.reason : `${step.reason ?? 'loaded'}; ${note}`);
          else results.set(name, 'added', note);
          running('programStarted', step.to);
        } catch (err) {
          fail(name, messageOf(err), err);
        }
        break;
      }
    }
  }
  return bySeq([...applied.values()]);
}

/** A running program's in-place change, in l3afd's order: user program stops, kernel program changes, user program starts. */
async function change(step: ChangeStep, ops: ChainOps, undo: UndoStack): Promise<void> {
  const { from: c, to: t } = step;
  if (step.stopUser) {
    await ops.stopUser(c);
    undo.push(t.name, async () => ops.startUser(c));
  }
  if (step.replace) {
    undo.push(t.name, await ops.replace(c, t));
  } else if (step.writeMapArgs) {
    ops.writeMapArgs(t);
    undo.push(t.name, async () => ops.writeMapArgs(c));
  }
  if (step.initMonitored) ops.initMonitored(t);
  if (step.startUser) await ops.startUser(t);
  else if (step.updateUser) await ops.updateUser(t);
}

/** What the applier of a chain's self-linking tail needs (the engine binds it to its supervisor and roots). */
export interface TailOps {
  readonly iface: string;
  readonly direction: ChainDirection;
  readonly chaining: boolean;
  /** The supervisor holds `name`'s user program (any state). */
  supervised(name: string): boolean;
  /** `name`'s user program runs. */
  userRunning(name: string): boolean;
  stopUser(p: P): Promise<void>;
  updateUser(p: P): Promise<void>;
  /** Starts `p` as the chain's tail and waits until it linked itself; a note when its BPF part cannot be checked here. */
  startSelfLinking(p: P): Promise<string | undefined>;
  /** The agent holds a root for this chain (for a tail without native programs). */
  rootHeld(): boolean;
  releaseRoot(): void;
  /** Programs in the kernel chain. */
  chainLength(): number;
  setLastError(name: string, reason: string | null): void;
  dropRuntime(name: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/**
 * Executes a chain change with its self-linking tail ({@link planTail}): the running tail stops first
 * when what is before it (or itself) changes (it unlinks itself), the native chain is applied
 * (`applyNative`), then the tail starts again after the new last program (or after an agent-held
 * root); a tail that fails to start brings the previous version back. Returns what holds afterwards.
 */
export async function applyTailPlan(
  tail: TailPlan, current: readonly P[], target: readonly P[], ops: TailOps, results: ResultSink,
  applyNative: (current: readonly P[], target: readonly P[]) => Promise<P[]>,
): Promise<P[]> {
  const { iface, direction } = ops;
  const { running, refused, restarted } = tail;
  const curSelf = current.filter(isSelfLinking);
  const tgtSelf = target.filter(isSelfLinking);
  const fail = (name: string, reason: string, cause?: unknown): void => {
    results.set(name, 'failed', reason, cause);
    if (current.some((c) => c.name === name)) ops.setLastError(name, reason);
    ops.warn({ iface, direction, name, reason }, 'program change failed');
  };
  if (running && restarted) {
    try {
      await ops.stopUser(running);
    } catch (err) {
      ops.warn({ iface, direction, name: running.name, err: messageOf(err) }, 'stopping the self-linking user program failed');
    }
  }
  // the ChainManager attaches its own root with the first program it loads into this chain
  const nativeLoads = tail.nativeTarget.some((p) => p.admin_status === 'enabled' && !nativeProblem(p, ops.chaining));
  if (tail.nativeChanges && nativeLoads && ops.rootHeld() && ops.chainLength() === 0) ops.releaseRoot();

  const out = await applyNative(tail.nativeCurrent, tail.nativeTarget);
  for (const [name, reason] of refused) {
    if (isSelfLinking(target.find((p) => p.name === name) as P)) continue;
    fail(name, reason);
  }

  for (const c of curSelf) {
    if (target.some((t) => t.name === c.name)) continue;
    try {
      if (ops.supervised(c.name)) await ops.stopUser(c);
      ops.dropRuntime(c.name);
      results.set(c.name, 'removed');
    } catch (err) {
      out.push(c);
      fail(c.name, `stopping it failed: ${messageOf(err)}`);
    }
  }
  for (const t of tgtSelf) {
    const c = curSelf.find((x) => x.name === t.name);
    const changed = c ? changedFields(c, t) : [];
    const reason = refused.get(t.name);
    if (reason !== undefined) {
      if (c) out.push(c);
      if (c && changed.length === 0 && !ops.userRunning(t.name)) results.set(t.name, 'unchanged', `not running: ${reason}`);
      else fail(t.name, reason);
      continue;
    }
    if (t.admin_status !== 'enabled') {
      try {
        if (ops.supervised(t.name)) await ops.stopUser(t);
        out.push(t);
        ops.setLastError(t.name, null);
        if (!c) results.set(t.name, 'added', 'admin_status disabled: stored, not started');
        else results.set(t.name, changed.length === 0 ? 'unchanged' : 'updated', changed.length === 0 ? undefined : 'admin_status disabled: stopped, kept in the desired state');
      } catch (err) {
        if (c) out.push(c);
        fail(t.name, `stopping it failed: ${messageOf(err)}`);
      }
      continue;
    }
    if (c && !restarted && running?.name === t.name && ops.userRunning(t.name)) {
      try {
        if (changed.includes('update_args')) await ops.updateUser(t);
        out.push(t);
        results.set(t.name, changed.length === 0 ? 'unchanged' : 'updated', changed.length === 0 ? undefined : `changed: ${changed.join(', ')}`);
      } catch (err) {
        out.push(c);
        fail(t.name, `cmd_update failed: ${messageOf(err)}`);
      }
      continue;
    }
    try {
      const note = await ops.startSelfLinking(t);
      out.push(t);
      ops.setLastError(t.name, null);
      if (!c) results.set(t.name, 'added', note);
      else if (changed.length > 0) results.set(t.name, 'updated', `changed: ${changed.join(', ')}`);
      else results.set(t.name, running?.name === t.name ? 'unchanged' : 'updated', running?.name === t.name ? 'restarted after the programs before it changed' : 'started again (it was not running)');
    } catch (err) {
      fail(t.name, messageOf(err), err);
      if (c) {
        out.push(c);
        // the previous version ran before this change: bring it back
        if (running?.name === c.name && changed.length > 0) await ops.startSelfLinking(c).catch((e: unknown) => ops.error({ iface, direction, name: c.name, err: messageOf(e) }, 'restarting the previous version failed'));
      }
    }
  }
  if (ops.rootHeld() && !tgtSelf.some((p) => ops.userRunning(p.name))) ops.releaseRoot();
  return bySeq(out);
}
