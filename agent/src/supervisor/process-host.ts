/**
 * What the supervisor needs from the operating system, as one interface with a Linux and a
 * Windows half chosen at start (`process.platform`):
 *   - Linux: each program leads its own process group (detached spawn), limits are a cgroup v2
 *     leaf or rlimits set by prlimit in front of the command, identity is the start time of
 *     /proc/<pid>/stat, stop signals the group.
 *   - Windows: each program is spawned directly (no shell wrapper) and put into its own Job
 *     Object (kill-on-close, ProcessMemoryLimit, CpuRate hard cap or PerProcessUserTimeLimit),
 *     identity is the process creation time (GetProcessTimes), stop is TerminateJobObject.
 */
import type { LimitPlan, LimitsOptions } from './limits.ts';
import { Limits } from './limits.ts';
import { LinuxProcessHost } from './process-host.linux.ts';
import { WindowsProcessHost } from './process-host.windows.ts';

export interface ProcessHost {
  readonly name: 'linux' | 'windows';
  /** Whether a program is spawned detached (its own session and process group on Linux). */
  readonly detached: boolean;
  /** Decides how the program's `cpu` and `memory` are enforced. */
  plan(key: string, req: { readonly cpu: number; readonly memory: number }): LimitPlan;
  /** Prepares what must exist before the spawn (a cgroup). */
  prepare(plan: LimitPlan): void;
  /** The command line to spawn (Linux: cgroup / prlimit wrappers; Windows: unchanged). */
  command(plan: LimitPlan, command: string, args: readonly string[]): { command: string; args: string[] };
  /** Right after the spawn (Windows: the Job Object); a throw means the program must not run. */
  started(key: string, pid: number, plan: LimitPlan): void;
  /** Identity of a live process: its start or creation time; undefined when gone. */
  startTimeOf(pid: number): string | undefined;
  /** Whether `pid` is still the process that started at `startTime`. */
  isSameProcess(pid: number, startTime: string): boolean;
  /** Asks the program (and what it started) to end: SIGTERM/SIGKILL to its group, or TerminateJobObject. */
  signal(key: string, pid: number, pgid: number | null, sig: NodeJS.Signals): boolean;
  /** After the program's exit: ends what it left behind (its group's members / the job's processes). */
  leftovers(key: string, pgid: number | null): void;
  /** Kills a short-lived command (cmd_stop/status/update) that overran. */
  killCommand(pid: number): void;
  /** Frees the program's limit holder (cgroup folder / job handle). */
  release(key: string, plan: LimitPlan): void;
  /** The limits as the system reports them for a running program. */
  observedLimits(key: string, pid: number, plan: LimitPlan): Record<string, string>;
}

/** The process host of this platform. */
export function processHost(limits: Limits | LimitsOptions | undefined, platform: NodeJS.Platform = process.platform): ProcessHost {
  if (platform === 'win32') return new WindowsProcessHost(limits instanceof Limits ? { cpuMeaning: limits.cpuMeaning } : limits);
  return new LinuxProcessHost(limits instanceof Limits ? limits : new Limits(limits));
}
