/**
 * The payloads' global probes list (tracepoints, uprobes): apply, keep with the interface their payload
 * named, adopt at start.
 */
import { isDeepStrictEqual } from 'node:util';
import { messageOf } from '../error-message.ts';
import { normalizeProgram, type BpfProgram, type NormalizedBpfProgram } from '../payload/index.ts';
import type { EngineCore } from './core.ts';
import { EngineError } from './errors.ts';
import { objectIn, packageDir } from './packages.ts';
import { PROBES_REASON, changedFields } from './program-diff.ts';
import { repositoryErrorCode } from './results.ts';
import type { ProgramResult } from './types.ts';

/** Fetches a probe's package and attaches (or keeps) its set; the result for the payload. */
export async function applyProbe(c: EngineCore, p: NormalizedBpfProgram, iface: string): Promise<ProgramResult> {
  const result = (outcome: ProgramResult['outcome'], reason?: string): ProgramResult => ({ iface, direction: 'probes', name: p.name, outcome, ...(reason === undefined ? {} : { reason }) });
  const had = c.probesWanted.get(p.name);
  try {
    if (p.admin_status !== 'enabled') {
      c.probeMgr().remove(p.name);
      c.probesWanted.set(p.name, { iface, p });
      c.probeErrors.delete(p.name);
      return had ? result(isDeepStrictEqual(had.p, p) ? 'unchanged' : 'updated', 'admin_status disabled: detached, kept in the desired state') : result('added', 'admin_status disabled: stored, not attached');
    }
    if (p.object_file === '') throw new EngineError(PROBES_REASON, 'invalid');
    const dir = await packageDir(c, p);
    const r = c.probeMgr().apply({ name: p.name, version: p.version, objectPath: objectIn(dir, p.object_file) });
    if (r.outcome === 'failed') throw new EngineError(r.reason ?? 'attaching the probes failed', 'kernel');
    c.probesWanted.set(p.name, { iface: had?.iface ?? iface, p });
    c.probeErrors.delete(p.name);
    if (r.outcome === 'unchanged' && had && !isDeepStrictEqual(had.p, p)) return result('updated', `changed: ${changedFields(had.p, p).join(', ')} (the attached probes stay as they are)`);
    return result(r.outcome === 'removed' ? 'updated' : r.outcome, r.reason);
  } catch (err) {
    if (had) c.probeErrors.set(p.name, messageOf(err));
    c.log.warn({ name: p.name, err: messageOf(err) }, 'probe change failed');
    const code = repositoryErrorCode(err);
    return { ...result('failed', messageOf(err)), ...(code === undefined ? {} : { error_code: code }) };
  }
}

/**
 * The payload's probes: global, not per interface (kept with the interface their payload named).
 * `add` leaves a probe already present as it is; `update` re-applies it (unchanged when the same
 * object and targets are attached). Probes an update omits stay (they are removed by delete).
 */
export async function applyProbes(c: EngineCore, list: readonly BpfProgram[] | null | undefined, iface: string, out: ProgramResult[], mode: 'add' | 'update'): Promise<void> {
  for (const raw of list ?? []) {
    const p = normalizeProgram(raw);
    if (mode === 'add' && c.probesWanted.has(p.name)) {
      out.push({ iface, direction: 'probes', name: p.name, outcome: 'unchanged', reason: 'already present (add does not change programs; use update)' });
      continue;
    }
    out.push(await applyProbe(c, p, iface));
  }
}

/** At start: adopts the probe links a previous agent pinned, attaches stored probes that are missing, drops unwanted sets. */
export async function startProbes(c: EngineCore): Promise<void> {
  const pm = c.probeMgr();
  try {
    pm.adopt();
  } catch (err) {
    c.log.warn({ err: messageOf(err) }, 'adopting pinned probes failed');
  }
  for (const s of pm.list()) {
    if (!c.probesWanted.has(s.name)) {
      pm.remove(s.name);
      c.log.info({ name: s.name }, 'removed pinned probes the desired state does not hold');
    }
  }
  for (const { iface, p } of [...c.probesWanted.values()]) {
    const r = await applyProbe(c, p, iface);
    if (r.outcome === 'failed') c.probeErrors.set(p.name, r.reason ?? 'failed');
  }
}
