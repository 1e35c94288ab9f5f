/**
 * Process identity from /proc: a pid alone can be reused, so a process is identified by its pid
 * and its start time (field 22 of /proc/<pid>/stat, clock ticks since boot), which no later
 * process with the same pid can share.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** What /proc/<pid>/stat says about a process. */
export interface ProcStat {
  readonly pid: number;
  /** Executable name (truncated by the kernel to 15 bytes); for messages only, never for matching. */
  readonly comm: string;
  /** R, S, D, Z, T, ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgid: number;
  /** Start time in clock ticks after boot (field 22). */
  readonly startTime: string;
}

/** Parses a /proc/<pid>/stat line (comm may hold spaces and parentheses: fields resume after the last ')'). */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`unparsable /proc stat line: ${text.slice(0, 80)}`);
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state), so field N is rest[N - 3]
  const field = (n: number): string => {
    const v = rest[n - 3];
    if (v === undefined) throw new Error(`/proc stat line has no field ${n}`);
    return v;
  };
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: field(3),
    ppid: Number(field(4)),
    pgid: Number(field(5)),
    startTime: field(22),
  };
}

/** The process's stat, or undefined when no such process exists. */
export function procStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Start time (ticks since boot) of a process, or undefined when it does not exist. */
export function startTimeOf(pid: number): string | undefined {
  return procStat(pid)?.startTime;
}

/**
 * Whether `pid` is still the process that started at `startTime` and has not exited
 * (a zombie counts as exited).
 */
export function isSameProcess(pid: number, startTime: string): boolean {
  const st = procStat(pid);
  return st !== undefined && st.startTime === startTime && st.state !== 'Z' && st.state !== 'X';
}

/** Whether any process is in process group `pgid` (scans /proc). */
export function groupHasMembers(pgid: number): boolean {
  return groupMembers(pgid).length > 0;
}

/** Pids of the live (non-zombie) processes of group `pgid`. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirNumeric();
  } catch {
    return out;
  }
  for (const n of names) {
    const st = procStat(Number(n));
    if (st && st.pgid === pgid && st.state !== 'Z') out.push(st.pid);
  }
  return out;
}

function readdirNumeric(): string[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n));
}
