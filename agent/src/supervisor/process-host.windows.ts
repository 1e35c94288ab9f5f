import { availableParallelism } from 'node:os';
import { JobObject, processCreationTime } from '../bpf/win32/kernel32.ts';
import type { ProcessHost } from './process-host.ts';
import { LimitsError, type CpuMeaning, type LimitPlan, type LimitSetting } from './limits.ts';

/** CpuRate (1/100 % of all processors) for `percent` of one CPU on `cpus` processors, 1..10000. */
export function cpuRateFor(percent: number, cpus: number): number {
  return Math.min(10_000, Math.max(1, Math.round((percent * 100) / cpus)));
}

/** Windows: one Job Object per program (kill-on-close, limits), creation-time identity. */
export class WindowsProcessHost implements ProcessHost {
  readonly name = 'windows' as const;
  readonly detached = false;
  readonly #cpuMeaning: CpuMeaning;
  readonly #jobs = new Map<string, JobObject>();

  constructor(opts: { readonly cpuMeaning?: CpuMeaning } = {}) {
    this.#cpuMeaning = opts.cpuMeaning ?? 'percent';
  }

  plan(_key: string, req: { readonly cpu: number; readonly memory: number }): LimitPlan {
    for (const [n, v] of [['cpu', req.cpu], ['memory', req.memory]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new LimitsError(`${n} ${v}: must be a non-negative integer`);
    }
    const none: LimitSetting = { requested: 0, enforcedBy: null, value: null };
    let cpu = none;
    if (req.cpu > 0) {
      cpu = this.#cpuMeaning === 'rlimit-seconds'
        ? { requested: req.cpu, enforcedBy: 'JobObject.PerProcessUserTimeLimit', value: String(req.cpu) }
        : { requested: req.cpu, enforcedBy: 'JobObject.CpuRate', value: String(cpuRateFor(req.cpu, availableParallelism())) };
    }
    const memory: LimitSetting = req.memory > 0 ? { requested: req.memory, enforcedBy: 'JobObject.ProcessMemoryLimit', value: String(req.memory) } : none;
    // every program gets a job (kill-on-close), limits or not
    return { method: 'job', cgroup: null, cpu, memory, fallbackReason: null };
  }
  prepare(): void {
    // the job is created once the pid is known
  }
  command(_plan: LimitPlan, command: string, args: readonly string[]): { command: string; args: string[] } {
    return { command, args: [...args] };
  }
  started(key: string, pid: number, plan: LimitPlan): void {
    this.#jobs.get(key)?.close();
    this.#jobs.delete(key);
    const job = new JobObject({
      processMemory: plan.memory.enforcedBy === 'JobObject.ProcessMemoryLimit' ? Number(plan.memory.value) : 0,
      cpuRate: plan.cpu.enforcedBy === 'JobObject.CpuRate' ? Number(plan.cpu.value) : 0,
      userTimeSeconds: plan.cpu.enforcedBy === 'JobObject.PerProcessUserTimeLimit' ? Number(plan.cpu.value) : 0,
    });
    try {
      job.assign(pid);
    } catch (err) {
      // it must not run outside its job: kill it by pid (it is our child)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      job.close();
      throw err;
    }
    this.#jobs.set(key, job);
  }
  startTimeOf(pid: number): string | undefined {
    return processCreationTime(pid);
  }
  isSameProcess(pid: number, startTime: string): boolean {
    return processCreationTime(pid) === startTime;
  }
  signal(key: string, pid: number): boolean {
    // Windows has no SIGTERM for a console-less program: the job ends all of its processes
    const job = this.#jobs.get(key);
    if (job) return job.terminate(1);
    try {
      process.kill(pid, 'SIGKILL');
      return true;
    } catch {
      return false;
    }
  }
  leftovers(key: string): void {
    this.#jobs.get(key)?.terminate(1);
  }
  killCommand(pid: number): void {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  release(key: string): void {
    this.#jobs.get(key)?.close();
    this.#jobs.delete(key);
  }
  observedLimits(key: string): Record<string, string> {
    const job = this.#jobs.get(key);
    if (!job) return {};
    const r = job.read();
    const out: Record<string, string> = {
      LimitFlags: `0x${r.limitFlags.toString(16)}`,
      ProcessMemoryLimit: String(r.processMemoryLimit),
      PerProcessUserTimeLimit: r.perProcessUserTimeLimit100ns,
      ActiveProcesses: String(r.activeProcesses),
    };
    if (r.cpuRate) out.CpuRate = `${r.cpuRate.cpuRate} (flags 0x${r.cpuRate.controlFlags.toString(16)})`;
    if (r.cpuRateError) out.CpuRateError = r.cpuRateError;
    return out;
  }
}
