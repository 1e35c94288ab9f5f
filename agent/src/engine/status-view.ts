/**
 * GET's view: every element with each program's live status (computed on change and on the sampling tick,
 * kept by the status cache, never per request), and what runs now as the observer sees it.
 */
import { CHAIN_DIRECTIONS, type ChainDescription } from '../chain/index.ts';
import { messageOf } from '../error-message.ts';
import type { NormalizedBpfProgram, NormalizedL3afBpfPrograms } from '../payload/index.ts';
import type { ProbeSetStatus } from '../probes/index.ts';
import type { UserProgramStatus } from '../supervisor/index.ts';
import type { EngineCore } from './core.ts';
import { keyString } from './program-key.ts';
import type { ProgramFigures } from '../observer/program.ts';
import type { ProgramStatus, RunningProgram, UserProgramView } from './types.ts';
import { selfLinkState } from './user-program-runner.ts';
import { hasUserProgram, isSelfLinking, selfLinkBpfProblem, userKey } from './user-programs.ts';

/** A program in GET: l3afd's fields plus what is live. */
export type ProgramWithStatus = NormalizedBpfProgram & { status: ProgramStatus };

/** `base` with the user program's state (and its limits as the OS reads them back): running only when attached and the process runs; restarts added. */
export function withUserStatus(base: ProgramStatus, u: UserProgramStatus | undefined, observed?: Readonly<Record<string, string>>): ProgramStatus {
  const view: UserProgramView = {
    state: u?.state ?? 'not started', running: u?.running ?? false, pid: u?.pid ?? null, restarts: u?.restarts ?? 0,
    last_exit_code: u?.lastExit?.code ?? null, last_exit_signal: u?.lastExit?.signal ?? null, limits: u?.limits?.method ?? 'none', adopted: u?.adopted ?? false,
    ...(observed && Object.keys(observed).length > 0 ? { observed_limits: observed } : {}),
  };
  return {
    ...base,
    last_error: base.last_error ?? (u?.state === 'running' ? null : u?.lastError ?? null),
    restarts: base.restarts + view.restarts,
    running: base.attached && view.running,
    user_program: view,
  };
}

/** A probe entry's status from its attached set (undefined: none) and its last error. */
export function probeStatus(set: ProbeSetStatus | undefined, lastError: string | null): ProgramStatus {
  const attached = set !== undefined && set.links.length > 0;
  // the first program by name (link order differs between an attach and an adoption)
  const first = [...(set?.links ?? [])].sort((a, b) => a.program.localeCompare(b.program))[0];
  return { attached, kernel_prog_id: first?.progId ?? 0, last_error: lastError, restarts: 0, running: attached };
}

/** Every element with its live status, from the kernel: what the status cache keeps. */
export function computeStatus(c: EngineCore): NormalizedL3afBpfPrograms[] {
  const els = c.elements();
  for (const e of els) {
    for (const p of (e.bpf_programs.probes ?? []) as ProgramWithStatus[]) {
      p.status = probeStatus(c.phase === 'running' ? c.probeManager?.status(p.name) : undefined, c.probeErrors.get(p.name) ?? null);
    }
    for (const d of CHAIN_DIRECTIONS) {
      const list = e.bpf_programs[d];
      if (!list) continue;
      let desc: ChainDescription | undefined;
      try {
        desc = c.chain?.chains().some((c) => c.iface === e.iface && c.direction === d) ? c.chain.describe(e.iface, d) : undefined;
      } catch (err) {
        c.log.warn({ iface: e.iface, direction: d, err: messageOf(err) }, 'describe failed');
      }
      for (const p of list as ProgramWithStatus[]) {
        const el = desc?.programs.find((x) => x.name === p.name);
        const rt = c.runtime.get(keyString(e.iface, d, p.name));
        let attached = el !== undefined && el.linked && desc?.root.linked === true;
        let progId = el?.id ?? 0;
        if (isSelfLinking(p) && p.admin_status === 'enabled' && c.phase === 'running') ({ attached, progId } = selfLinkState(c, e.iface, d, desc));
        const base: ProgramStatus = {
          attached, kernel_prog_id: progId, last_error: rt?.lastError ?? (isSelfLinking(p) ? selfLinkBpfProblem() ?? null : null), restarts: rt?.restarts ?? 0,
          ...(el ? { continues_chain: el.continues, reachable: el.reachable, verifier: verifierStatus(el.figures) } : {}),
          ...(el?.counted ? { packets_entered: Number(el.counted.packets) } : {}) };
        p.status = hasUserProgram(p) ? withUserStatus(base, c.supervisor?.snapshot(userKey(e.iface, d, p.name)), observedLimits(c, userKey(e.iface, d, p.name))) : base;
      }
    }
  }
  return els;
}

/** A user program's limits as the OS reports them (read errors: none shown, logged). */
function observedLimits(c: EngineCore, key: string): Record<string, string> | undefined {
  try {
    return c.supervisor?.observedLimits(key);
  } catch (err) {
    c.log.warn({ key, err: messageOf(err) }, 'reading back user program limits failed');
    return undefined;
  }
}

/** A chained program's figures as its status shows them. */
function verifierStatus(f: ProgramFigures): NonNullable<ProgramStatus['verifier']> {
  return {
    verified_insns: f.verifiedInstructions, xlated_bytes: f.xlatedBytes, jited_bytes: f.jitedBytes,
    ...(f.loadMs === undefined ? {} : { load_ms: Math.round(f.loadMs * 1000) / 1000 }) };
}

/** The programs that run now, as the observer sees them (empty until the engine runs). */
export function runningPrograms(c: EngineCore): RunningProgram[] {
  const out: RunningProgram[] = [];
  if (c.phase !== 'running') return out;
  for (const [iface, st] of c.state) {
    for (const d of CHAIN_DIRECTIONS) {
      for (const p of st.lists[d]) {
        if (p.admin_status !== 'enabled') continue;
        const rp = c.runningProgram(iface, d, p, st.ipv4_address);
        if (rp) out.push(rp);
      }
    }
  }
  return out;
}
