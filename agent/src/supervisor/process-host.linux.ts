import type { ProcessHost } from './process-host.ts';
import { Limits, observedLimits, type LimitPlan } from './limits.ts';
import { groupMembers, isSameProcess, procStat, startTimeOf } from './proc.ts';

/** Linux: process groups, cgroup v2 or rlimits, /proc identity. */
export class LinuxProcessHost implements ProcessHost {
  readonly name = 'linux' as const;
  readonly detached = true;
  readonly #limits: Limits;

  constructor(limits: Limits) {
    this.#limits = limits;
  }

  plan(key: string, req: { readonly cpu: number; readonly memory: number }): LimitPlan {
    return this.#limits.plan(key, req);
  }
  prepare(plan: LimitPlan): void {
    this.#limits.prepare(plan);
  }
  command(plan: LimitPlan, command: string, args: readonly string[]): { command: string; args: string[] } {
    return this.#limits.wrap(plan, command, args);
  }
  started(): void {
    // the wrapper placed the process in its cgroup before exec
  }
  startTimeOf(pid: number): string | undefined {
    return startTimeOf(pid);
  }
  isSameProcess(pid: number, startTime: string): boolean {
    return isSameProcess(pid, startTime);
  }
  signal(_key: string, pid: number, pgid: number | null, sig: NodeJS.Signals): boolean {
    // the group, unless the program left it
    const st = procStat(pid);
    const target = st && pgid !== null && st.pgid === pgid ? -pgid : pid;
    try {
      process.kill(target, sig);
      return true;
    } catch {
      return false;
    }
  }
  leftovers(_key: string, pgid: number | null): void {
    // children it forked: the group id cannot be reused while they exist
    if (pgid === null || groupMembers(pgid).length === 0) return;
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  killCommand(pid: number): void {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  release(_key: string, plan: LimitPlan): void {
    this.#limits.release(plan);
  }
  observedLimits(_key: string, pid: number, plan: LimitPlan): Record<string, string> {
    return observedLimits(pid, plan);
  }
}
