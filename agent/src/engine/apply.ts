/**
 * The applier of a chain plan ({@link planChain}): executes its steps through the chain and user
 * program operations the engine hands it, with ONE undo stack (a change that fails is taken back,
 * the program keeps running as it was), and turns each step's outcome into a result and an
 * observer event. Returns what holds afterwards.
 */
import type { ChainDirection } from '../chain/index.ts';
import { messageOf } from '../error-message.ts';
import type { NormalizedBpfProgram } from '../payload/index.ts';
import { chainPosition, type ChainPlan, type ChangeStep } from './plan.ts';
import { bySeq, needsReload } from './program-diff.ts';
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
