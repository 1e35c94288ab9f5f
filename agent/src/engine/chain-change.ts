/**
 * One chain brought from what holds to a target list: plan (plan.ts), then execute (apply.ts) with the
 * kernel steps of chain-steps.ts and the user programs of user-program-runner.ts.
 */
import { libbpfUnavailable } from '../bpf/index.ts';
import type { ChainDirection } from '../chain/index.ts';
import { pinsIn } from '../chain/pin-layout.ts';
import type { NormalizedBpfProgram } from '../payload/index.ts';
import { applyChainPlan, applyTailPlan, type ChainOps, type TailOps } from './apply.ts';
import { initMonitored, insert, moveInChain, reachNote, removeFromChain, replace, writeMapArgs } from './chain-steps.ts';
import type { EngineCore } from './core.ts';
import { mapsInDir } from './map-args.ts';
import { planChain, planTail } from './plan.ts';
import { keyString } from './program-key.ts';
import { Results } from './results.ts';
import { startUser, startSelfLinking, stopUser } from './user-program-runner.ts';
import { isSelfLinking, userKey } from './user-programs.ts';

/**
 * Brings one chain from `current` towards `target` (see {@link applyNative}), with its
 * self-linking user program (cmd_start without object_file, l3afd's v1 path). That program links
 * itself after its predecessor, so it must be the chain's tail (highest seq_id of the enabled
 * programs; one per chain): the agent cannot link a program after one it did not load. When the
 * programs before it change, it is stopped first (it unlinks itself) and started again after
 * the new last program (or after an agent-held root when the chain has no other program).
 */
export async function applyChain(c: EngineCore, iface: string, direction: ChainDirection, current: readonly NormalizedBpfProgram[], target: readonly NormalizedBpfProgram[], results: Results, ipv4: string): Promise<NormalizedBpfProgram[]> {
  const curSelf = current.filter(isSelfLinking);
  const tgtSelf = target.filter(isSelfLinking);
  if (curSelf.length === 0 && tgtSelf.length === 0) return applyNative(c, iface, direction, current, target, results, ipv4);
  const sup = c.sup();
  const chaining = c.config.l3afd.bpfChainingEnabled;
  const keyOf = (name: string): string => userKey(iface, direction, name);
  const supervised = (name: string): boolean => sup.snapshot(keyOf(name)) !== undefined;
  const tail = planTail({
    iface, direction, current, target, chaining,
    supervised: new Set(curSelf.filter((p) => supervised(p.name)).map((p) => p.name)),
    live: new Set(c.running().programs(iface, direction).map((el) => el.name)) });
  const ops: TailOps = {
    iface, direction, chaining, supervised,
    userRunning: (name) => sup.snapshot(keyOf(name))?.running ?? false,
    stopUser: (p) => stopUser(c, iface, direction, p),
    updateUser: async (p) => { await sup.update(keyOf(p.name), p); },
    startSelfLinking: (p) => startSelfLinking(c, iface, direction, p),
    rootHeld: () => c.userRoots?.get(iface, direction) !== undefined,
    releaseRoot: () => c.userRoots?.release(iface, direction),
    chainLength: () => c.running().programs(iface, direction).length,
    setLastError: (name, reason) => { c.rt(iface, direction, name).lastError = reason; },
    dropRuntime: (name) => { c.runtime.delete(keyString(iface, direction, name)); },
    warn: (obj, msg) => c.log.warn(obj, msg),
    error: (obj, msg) => c.log.error(obj, msg) };
  return applyTailPlan(tail, current, target, ops, results, (cur, tgt) => applyNative(c, iface, direction, cur, tgt, results, ipv4));
}

/**
 * Brings one chain from `current` (what holds) towards `target`; returns what holds afterwards
 * and a result per program that was touched or named.
 */
export async function applyNative(c: EngineCore, iface: string, direction: ChainDirection, current: readonly NormalizedBpfProgram[], target: readonly NormalizedBpfProgram[], results: Results, ipv4: string): Promise<NormalizedBpfProgram[]> {
  const cm = c.running();
  const live = new Set(cm.programs(iface, direction).map((el) => el.name));
  // without a libbpf API (Windows without eBPF-for-Windows) each program fails on its own, before any step
  const plan = planChain({
    current, target, live, chaining: c.config.l3afd.bpfChainingEnabled,
    loadProblem: libbpfUnavailable(),
    ipv4Changed: c.ifaceState(iface).ipv4_address !== ipv4 });
  return applyChainPlan(plan, current, target, chainOps(c, iface, direction, ipv4), results);
}

/** The chain and user program operations of one chain, as the applier uses them. */
export function chainOps(c: EngineCore, iface: string, direction: ChainDirection, ipv4: string): ChainOps {
  const cm = c.running();
  return {
    iface, direction, ipv4,
    chainNames: () => cm.programs(iface, direction).map((el) => el.name),
    inChain: (name) => c.inChain(iface, direction, name),
    runningProgram: (p) => c.runningProgram(iface, direction, p, ipv4),
    insert: (p, position) => insert(c, iface, direction, p, position),
    replace: (from, to) => replace(c, iface, direction, from, to),
    unlink: (name) => removeFromChain(c, iface, direction, name),
    move: (name, position) => moveInChain(c, iface, direction, name, position),
    writeMapArgs: (p) => writeMapArgs(c, iface, direction, p),
    initMonitored: (p) => initMonitored(c, mapsInDir(cm.layout.mapDir(iface, direction, p.name, p.version), pinsIn), p),
    stopUser: (p) => stopUser(c, iface, direction, p),
    startUser: (p) => startUser(c, iface, direction, p),
    updateUser: async (p) => { await c.sup().update(userKey(iface, direction, p.name), p); },
    reachNote: (name) => reachNote(c, iface, direction, name),
    notify: (event, arg, reason) => c.notify(event, arg, reason),
    setLastError: (name, reason) => { c.rt(iface, direction, name).lastError = reason; },
    dropRuntime: (name) => { c.runtime.delete(keyString(iface, direction, name)); },
    warn: (obj, msg) => c.log.warn(obj, msg),
    error: (obj, msg) => c.log.error(obj, msg) };
}
