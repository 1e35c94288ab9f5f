/**
 * An operation as a transaction over the store: space reserved before anything changes, the desired
 * state written after, and the kernel rolled back when even that write fails.
 */
import { isDeepStrictEqual } from 'node:util';
import { CHAIN_DIRECTIONS } from '../chain/index.ts';
import { messageOf } from '../error-message.ts';
import type { NormalizedL3afBpfPrograms } from '../payload/index.ts';
import { ConfigStore, StoreError, type Reservation } from '../store/index.ts';
import { applyChain } from './chain-change.ts';
import { type Snapshot, emptyLists, type EngineCore } from './core.ts';
import { applyProbe } from './probe-programs.ts';
import { Results } from './results.ts';

/**
 * Before an operation changes anything: holds the store space its result needs at most (the
 * current state plus `incoming`, the elements it may add), so a full file system refuses the
 * operation while nothing has changed yet. Undefined without a store.
 */
export async function reserve(c: EngineCore, incoming: readonly NormalizedL3afBpfPrograms[]): Promise<Reservation | undefined> {
  if (!c.store) return undefined;
  const bytes = Buffer.byteLength(ConfigStore.text(c.elements())) + Buffer.byteLength(ConfigStore.text(incoming)) + 4096;
  try {
    return await c.store.reserve(bytes);
  } catch (err) {
    c.log.error({ err: messageOf(err) }, 'the desired state cannot be written; the operation was refused, nothing was changed');
    throw err;
  }
}

/**
 * Writes the desired state into the space reserved before the operation. When even that fails,
 * the operation is rolled back (kernel, probes and desired state as in `before`), so the error
 * the client gets means nothing changed.
 */
export async function persist(c: EngineCore, reservation: Reservation | undefined, before: Snapshot): Promise<void> {
  if (!reservation) return;
  try {
    await reservation.commit(c.elements());
  } catch (err) {
    c.log.error({ err: messageOf(err) }, 'the desired state could not be written; rolling the operation back');
    const left = await rollback(c, before);
    throw new StoreError(reservation.path, `${messageOf(err).replace(/^config store \S+: /, '')}; ${left.length === 0 ? 'the operation was rolled back, nothing was changed' : `rolling the operation back failed for ${left.join(', ')}`}`, { cause: err });
  }
}

/** Brings kernel and desired state back to `before`; returns what could not be brought back. */
export async function rollback(c: EngineCore, before: Snapshot): Promise<string[]> {
  const left: string[] = [];
  for (const iface of new Set([...before.state.keys(), ...c.state.keys()])) {
    const was = before.state.get(iface);
    const now = c.ifaceState(iface);
    const lists = emptyLists();
    for (const d of CHAIN_DIRECTIONS) {
      const target = was?.lists[d] ?? [];
      lists[d] = now.lists[d];
      if (isDeepStrictEqual(now.lists[d], target)) continue;
      const results = new Results(iface, d);
      lists[d] = await applyChain(c, iface, d, now.lists[d], target, results, was?.ipv4_address ?? now.ipv4_address)
        .catch((err: unknown) => { c.log.error({ iface, direction: d, err: messageOf(err) }, 'rollback failed'); return now.lists[d]; });
      if (!isDeepStrictEqual(lists[d], target)) left.push(`${iface} ${d}`);
    }
    c.state.set(iface, { host_name: was?.host_name ?? now.host_name, ipv4_address: was?.ipv4_address ?? now.ipv4_address, lists });
  }
  const probesNow = new Map(c.probesWanted);
  c.probesWanted.clear();
  for (const [name, w] of before.probes) c.probesWanted.set(name, w);
  for (const [name, w] of probesNow) {
    const prev = before.probes.get(name);
    if (prev && isDeepStrictEqual(prev, w)) continue;
    try {
      if (!prev) c.probeMgr().remove(name);
      else if ((await applyProbe(c, prev.p, prev.iface)).outcome === 'failed') left.push(`probe ${name}`);
    } catch (err) {
      left.push(`probe ${name}`);
      c.log.error({ name, err: messageOf(err) }, 'rollback failed');
    }
  }
  for (const [iface, st] of [...c.state]) c.setIface(iface, st);
  return left;
}
