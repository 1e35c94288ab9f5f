/**
 * GET's per-program status, the parts that are pure: a program's status with its user program's
 * (supervisor snapshot) folded in, and a probe set's status.
 */
import type { ProbeSetStatus } from '../probes/index.ts';
import type { UserProgramStatus } from '../supervisor/index.ts';
import type { ProgramStatus } from './types.ts';

/** `base` with the user program's state (and its limits as the OS reads them back): running only when attached and the process runs; restarts added. */
export function withUserStatus(base: ProgramStatus, u: UserProgramStatus | undefined, observed?: Readonly<Record<string, string>>): ProgramStatus {
  const view = {
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
