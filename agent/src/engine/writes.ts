/**
 * add, update and delete: per interface and direction a target list the chain is brought to
 * (chain-change.ts), l3afd's semantics (see engine.ts), If-Match and the audit record around each write.
 */
import { CHAIN_DIRECTIONS } from '../chain/index.ts';
import { messageOf } from '../error-message.ts';
import { checkAddUpdateSemantics, checkDeleteSemantics, normalizeL3afBpfPrograms, normalizeProgram, type AddUpdateBody, type DeleteBody } from '../payload/index.ts';
import { applyChain } from './chain-change.ts';
import { planChange, type ChangePlan } from './change-plan.ts';
import type { IfaceState, EngineCore } from './core.ts';
import { changeState, etag } from './dry-run.ts';
import { EngineError } from './errors.ts';
import { ifMatchMatches } from './etag.ts';
import { DISABLED_REMOVED, omittedBy, targetFor } from './plan.ts';
import { applyProbes } from './probe-programs.ts';
import { Results, PayloadHalt } from './results.ts';
import { reserve, persist } from './transaction.ts';
import type { InterfaceResult, WriteOptions, OperationResult, ProgramResult } from './types.ts';

/** An interface field the operation changed (programs unchanged or not): reported beside the program results. */
export function interfaceChange(c: EngineCore, iface: string, before: IfaceState | undefined, out: InterfaceResult[]): void {
  const now = c.state.get(iface);
  if (!before || !now || before.ipv4_address === now.ipv4_address) return;
  out.push({ iface, outcome: 'updated', reason: `changed: ipv4_address (${JSON.stringify(before.ipv4_address)} → ${JSON.stringify(now.ipv4_address)})` });
}

/**
 * A write in its turn of the queue: If-Match checked against the ETag of the state it finds
 * (so of two writers that read the same state, the second gets `conflict` and changes nothing),
 * then `run`; `opts.record` hears the plan, the ETags around the write and what it did.
 */
export async function checkedWrite(c: EngineCore, mode: 'add' | 'update' | 'delete', body: AddUpdateBody | DeleteBody, opts: WriteOptions | undefined, run: () => Promise<OperationResult>): Promise<OperationResult> {
  c.running();
  const etagBefore = etag(c);
  if (opts?.ifMatch !== undefined && !ifMatchMatches(opts.ifMatch, etagBefore)) throw new EngineError('precondition failed: desired state changed', 'conflict');
  const record = opts?.record;
  if (!record) return run();
  let plan: ChangePlan = { programs: [], chains: [], ifaces: [...new Set((body as { iface: string }[]).map((e) => e.iface))] };
  try {
    plan = planChange(mode, body, changeState(c));
  } catch (err) {
    c.log.warn({ err: messageOf(err) }, 'planning the change for the audit log failed');
  }
  const before = c.elements().filter((e) => plan.ifaces.includes(e.iface));
  const told = (r: { result?: OperationResult; error?: unknown }): void => {
    try {
      record({ plan: plan.programs.map((p) => p.item), etagBefore, etagAfter: etag(c), ifaces: plan.ifaces, before, ...r });
    } catch (err) {
      c.log.error({ err: messageOf(err) }, 'recording the change failed');
    }
  };
  try {
    const result = await run();
    told({ result });
    return result;
  } catch (err) {
    told({ error: err });
    throw err;
  }
}

/**
 * add and update: per interface and direction, each program of the payload in its order gives a
 * target list ({@link targetFor}) that the chain is brought to; as l3afd, the first failure ends
 * the interface's payload. update first drops what a named chain omits, and at the end forgets
 * the interfaces it does not name (the host's whole desired state).
 */
export async function addOrUpdate(c: EngineCore, mode: 'add' | 'update', body: AddUpdateBody, opts?: WriteOptions): Promise<OperationResult> {
  c.running();
  const problems = opts?.validated === true ? [] : checkAddUpdateSemantics(body);
  if (problems.length > 0) throw new EngineError(`invalid ${mode} body: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, 'invalid');
  const before = c.snapshot();
  const reservation = await reserve(c, body.map(normalizeL3afBpfPrograms));
  const out: ProgramResult[] = [];
  const ifaces: InterfaceResult[] = [];
  try {
    for (const e of body) {
      const st = c.ifaceState(e.iface);
      const next: IfaceState = { host_name: e.host_name, ipv4_address: e.ipv4_address ?? st.ipv4_address, lists: { ...st.lists } };
      c.state.set(e.iface, next); // the new address holds from here (labels of what this payload loads)
      const halt = new PayloadHalt(e.iface);
      const firstResult = out.length;
      // l3afd without chaining refuses an add that lists more than one program for a direction (the whole interface)
      const crowded = mode !== 'add' || c.config.l3afd.bpfChainingEnabled ? undefined : CHAIN_DIRECTIONS.find((d) => (e.bpf_programs?.[d]?.length ?? 0) > 1);
      if (crowded) halt.reason = `bpf-chaining-enabled is false: one program per direction, and ${crowded} lists ${e.bpf_programs?.[crowded]?.length ?? 0} (l3afd refuses the interface's add)`;
      for (const d of CHAIN_DIRECTIONS) {
        const asked = (e.bpf_programs?.[d] ?? []).map(normalizeProgram);
        // programs an update omits on a named interface go first (l3af prunes them; l3afd's pruning no longer finds them)
        const omitted = mode === 'update' ? omittedBy(next.lists[d], asked) : [];
        if (omitted.length > 0) {
          const results = new Results(e.iface, d);
          const current = next.lists[d];
          next.lists[d] = await applyChain(c, e.iface, d, current, current.filter((c) => !omitted.includes(c)), results, next.ipv4_address);
          out.push(...omitted.flatMap((c) => results.get(c.name) ?? []));
        }
        for (const p of asked) {
          if (halt.skip(out, d, p.name)) continue;
          const current = next.lists[d];
          const ask = targetFor(mode, d, current, p);
          if (ask.kind === 'skip') {
            out.push({ iface: e.iface, direction: d, name: p.name, outcome: 'unchanged', reason: ask.reason });
            continue;
          }
          const results = new Results(e.iface, d);
          next.lists[d] = await applyChain(c, e.iface, d, current, ask.target, results, next.ipv4_address);
          const r = results.get(p.name) ?? { iface: e.iface, direction: d, name: p.name, outcome: 'unchanged' as const };
          halt.record(out, ask.disables && r.outcome === 'removed' ? { ...r, outcome: 'updated', reason: DISABLED_REMOVED } : r);
        }
      }
      // as l3afd, an add's probes are applied even when a program of the interface failed; an update's are not
      if (mode === 'add' || halt.reason === undefined) await applyProbes(c, e.bpf_programs?.probes, e.iface, out, mode);
      else for (const p of e.bpf_programs?.probes ?? []) halt.skip(out, 'probes', p.name);
      c.setIface(e.iface, next);
      if (st.ipv4_address !== next.ipv4_address) relabel(c, e.iface, next, out.slice(firstResult));
      interfaceChange(c, e.iface, before.state.get(e.iface), ifaces);
    }
    // update is the host's whole desired state (l3afd): interfaces it does not name are stopped and forgotten
    if (mode === 'update') {
      for (const iface of [...c.state.keys()]) {
        if (!body.some((e) => e.iface === iface)) await forgetIface(c, iface, out);
      }
    }
  } catch (err) {
    await reservation?.release();
    throw err;
  }
  await persist(c, reservation, before);
  return { results: out, ...(ifaces.length > 0 ? { interfaces: ifaces } : {}) };
}

/** The interface's address changed: the observer hears it for running programs this payload did not load or change (one of their labels). */
export function relabel(c: EngineCore, iface: string, st: IfaceState, results: readonly ProgramResult[]): void {
  for (const d of CHAIN_DIRECTIONS) {
    for (const p of st.lists[d]) {
      const r = results.find((x) => x.direction === d && x.name === p.name);
      if (r && (r.outcome === 'added' || r.outcome === 'updated')) continue;
      c.notifyRunning('programUpdated', iface, d, p, st.ipv4_address);
    }
  }
}

/** Removes every program of an interface an update did not name, then forgets it (kept while probes are kept with it). */
export async function forgetIface(c: EngineCore, iface: string, out: ProgramResult[]): Promise<void> {
  const st = c.ifaceState(iface);
  const next: IfaceState = { ...st, lists: { ...st.lists } };
  for (const d of CHAIN_DIRECTIONS) {
    const current = st.lists[d];
    if (current.length === 0) continue;
    const results = new Results(iface, d);
    next.lists[d] = await applyChain(c, iface, d, current, [], results, st.ipv4_address);
    out.push(...results.ordered(current.map((c) => c.name)).map((r) => (r.outcome === 'removed' ? { ...r, reason: 'the update does not name this interface (l3afd stops it)' } : r)));
  }
  const left = CHAIN_DIRECTIONS.some((d) => next.lists[d].length > 0) || [...c.probesWanted.values()].some((w) => w.iface === iface);
  if (left) c.state.set(iface, next);
  else c.state.delete(iface);
}

export async function deletePrograms(c: EngineCore, body: DeleteBody, opts?: WriteOptions): Promise<OperationResult> {
  {
    c.running();
    const problems = opts?.validated === true ? [] : checkDeleteSemantics(body);
    if (problems.length > 0) throw new EngineError(`invalid delete body: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, 'invalid');
    const before = c.snapshot();
    const reservation = await reserve(c, []);
    const out: ProgramResult[] = [];
    try {
    for (const e of body) {
      const st = c.ifaceState(e.iface);
      const next: IfaceState = { ...st, lists: { ...st.lists } };
      for (const d of CHAIN_DIRECTIONS) {
        const names = e.bpf_programs?.[d] ?? [];
        if (names.length === 0) continue;
        const results = new Results(e.iface, d);
        const current = st.lists[d];
        next.lists[d] = await applyChain(c, e.iface, d, current, current.filter((p) => !names.includes(p.name)), results, st.ipv4_address);
        for (const n of names) out.push(results.get(n) ?? { iface: e.iface, direction: d, name: n, outcome: 'unchanged', reason: 'not present' });
      }
      for (const n of e.bpf_programs?.probes ?? []) {
        if (!c.probesWanted.has(n)) {
          out.push({ iface: e.iface, direction: 'probes', name: n, outcome: 'unchanged', reason: 'not present' });
          continue;
        }
        try {
          c.probeMgr().remove(n);
          const from = c.probesWanted.get(n)?.iface;
          c.probesWanted.delete(n);
          c.probeErrors.delete(n);
          if (from !== undefined && from !== e.iface) c.setIface(from, c.ifaceState(from));
          out.push({ iface: e.iface, direction: 'probes', name: n, outcome: 'removed' });
        } catch (err) {
          out.push({ iface: e.iface, direction: 'probes', name: n, outcome: 'failed', reason: `detaching it failed: ${messageOf(err)}` });
        }
      }
      if (c.state.has(e.iface)) c.setIface(e.iface, next);
    }
    } catch (err) {
      await reservation?.release();
      throw err;
    }
    await persist(c, reservation, before);
    return { results: out };
  }
}
