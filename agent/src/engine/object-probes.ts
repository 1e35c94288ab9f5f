/**
 * Probe programs inside a chained program's object (a tracepoint beside the XDP entry): attached with it
 * from the same loaded object (sharing its maps), dropped with it.
 */
import { BpfProgram as KernelProgram, type BpfObject } from '../bpf/index.ts';
import { CHAIN_DIRECTIONS, type ChainDirection } from '../chain/index.ts';
import { messageOf } from '../error-message.ts';
import type { NormalizedBpfProgram } from '../payload/index.ts';
import type { ProbeSetStatus } from '../probes/index.ts';
import type { EngineCore } from './core.ts';

/** Owner of the probe set of a chained program's object: one per interface, direction and program. */
export function objectProbeOwner(iface: string, direction: ChainDirection, name: string): string {
  return `${iface}_${direction}_${name}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** True when every program of the set uses only maps of `obj` (so it counts into the object's maps). */
export function usesMapsOf(set: ProbeSetStatus, obj: BpfObject): boolean {
  const ids = new Set(obj.maps().map((m) => m.id));
  return set.links.every((l) => {
    try {
      using prog = KernelProgram.fromId(l.progId);
      return prog.info().mapIds.every((id) => ids.has(id));
    } catch {
      return false;
    }
  });
}

/**
 * Attaches the probe programs of a chained program's freshly loaded object (sharing its maps),
 * replacing the set its previous instance attached; a set that counts into other maps (a load
 * with fresh maps) or an object without probe programs drops the previous set. Throws (and the
 * load is undone) when a probe cannot attach.
 */
export function attachObjectProbes(c: EngineCore, iface: string, direction: ChainDirection, p: NormalizedBpfProgram, obj: BpfObject): void {
  const pm = c.objProbes();
  const owner = objectProbeOwner(iface, direction, p.name);
  const current = pm.status(owner);
  if (current && !usesMapsOf(current, obj)) pm.remove(owner);
  const r = pm.attachObjectProbes(owner, p.version, obj);
  if (r.status === undefined && pm.status(owner)) pm.remove(owner);
  if (r.status) c.log.info({ iface, direction, name: p.name, outcome: r.outcome, probes: r.status.links.map((l) => l.target) }, 'probes of the object attached');
}

/** Detaches the probes of a chained program's object (after it left its chain). */
export function dropObjectProbes(c: EngineCore, iface: string, direction: ChainDirection, name: string): void {
  const pm = c.objectProbes;
  const owner = objectProbeOwner(iface, direction, name);
  if (!pm?.status(owner)) return;
  try {
    pm.remove(owner);
  } catch (err) {
    c.log.warn({ iface, direction, name, err: messageOf(err) }, 'detaching the probes of the object failed');
  }
}

/** At start: drops the object probe sets of programs that are not in their chain any more. */
export function pruneObjectProbes(c: EngineCore): void {
  const pm = c.objProbes();
  const wanted = new Set<string>();
  for (const [iface, st] of c.state) {
    for (const d of CHAIN_DIRECTIONS) {
      for (const p of st.lists[d]) if (c.inChain(iface, d, p.name)) wanted.add(objectProbeOwner(iface, d, p.name));
    }
  }
  for (const set of pm.list()) {
    if (wanted.has(set.name)) continue;
    pm.remove(set.name);
    c.log.info({ owner: set.name }, 'removed pinned probes of an object whose program is not in its chain');
  }
}
