/**
 * Who a pid is on Linux: its start time (field 22 of /proc/<pid>/stat, clock ticks since boot)
 * and executable. A pid and its start time together name one process for the life of the
 * system, so a recycled pid is told apart from the process that wrote a PID file. On Windows the
 * start time is the process creation time (GetProcessTimes, FILETIME) and there is no /proc.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { processCreationTime } from '../bpf/win32/kernel32.ts';

/** A process as recorded in a PID / lock file. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Start time in clock ticks since boot; undefined when unknown (e.g. a file written by l3afd). */
  readonly startTime?: string;
}

/** The start time of `pid`, or undefined when there is no such process. */
export function startTimeOf(pid: number): string | undefined {
  if (process.platform === 'win32') return processCreationTime(pid);
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) is in parentheses and may hold spaces or ')': fields resume after the LAST ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19]; // field 22 = index 19 after state (field 3)
}

/** The executable of `pid` (undefined when unreadable). */
export function executableOf(pid: number): string | undefined {
  if (process.platform === 'win32') return undefined;
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** The command line of `pid` (undefined when unreadable). */
export function commandLineOf(pid: number): string[] | undefined {
  if (process.platform === 'win32') return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
  } catch {
    return undefined;
  }
}

/** This process. */
export function self(): Required<ProcessIdentity> {
  const startTime = startTimeOf(process.pid);
  if (startTime === undefined) throw new Error(process.platform === 'win32' ? 'GetProcessTimes gave no creation time for this process' : '/proc/self/stat is unreadable: this needs Linux with /proc');
  return { pid: process.pid, startTime };
}

/** Why a recorded process is not the one alive under that pid now, or undefined when it is. */
export function staleReason(rec: ProcessIdentity): string | undefined {
  const now = startTimeOf(rec.pid);
  if (now === undefined) return `process ${rec.pid} is not running`;
  if (rec.startTime !== undefined) {
    return now === rec.startTime ? undefined : `pid ${rec.pid} now belongs to another process (start time ${now}, recorded ${rec.startTime})`;
  }
  // No start time (a file written by l3afd or by hand): the same executable and an agent entry point count as ours.
  const exe = executableOf(rec.pid);
  const cmd = commandLineOf(rec.pid) ?? [];
  const ours = exe === process.execPath && cmd.some((a) => /(?:^|\/)(?:main\.ts|main\.js|l3afd|l3af-agent)$/.test(a));
  const theirs = cmd.some((a) => /(?:^|\/)l3afd$/.test(a));
  return ours || theirs ? undefined : `pid ${rec.pid} is another program (${exe ?? 'unknown executable'})`;
}
