/**
 * Resource limits of user programs (`cpu`, `memory` of a payload program).
 *
 * With cgroup v2 (the `cpu` and `memory` controllers listed in `<cgroupRoot>/cgroup.controllers`)
 * each program gets its own child cgroup `<cgroupRoot>/<parent>/<program>`:
 *   - `memory` (bytes) → `memory.max`;
 *   - `cpu` → `cpu.max`, with the meaning chosen by {@link LimitsOptions.cpuMeaning}:
 *       'percent' (default): percent of one CPU, e.g. 50 = half a CPU, 200 = two CPUs
 *                            (`cpu.max` = "<cpu × period / 100> <period>");
 *       'rlimit-seconds':    l3afd's meaning, total CPU-seconds (RLIMIT_CPU), applied with prlimit
 *                            even when cgroups are there (compat option).
 * Without cgroup v2 (or with mode 'rlimit') the limits become rlimits set by `prlimit` (util-linux)
 * on the command before it executes: `memory` → RLIMIT_AS (bytes of address space, as l3afd),
 * `cpu` → RLIMIT_CPU seconds when cpuMeaning is 'rlimit-seconds'; a 'percent' cpu has no rlimit
 * equivalent and is reported as not enforced.
 *
 * The process is placed in its cgroup by a tiny `sh` wrapper that writes its own pid to
 * `cgroup.procs` and then execs the command, so it never runs a moment outside its limits; prlimit
 * likewise sets the limits and then execs. The pid of the spawned child is the program's pid.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';

/** How `cpu` is read. */
export type CpuMeaning = 'percent' | 'rlimit-seconds';

/** Options of {@link Limits}. */
export interface LimitsOptions {
  /** auto (default): cgroup v2 when usable, else rlimits; 'cgroup' fails when unusable; 'rlimit' forces rlimits. */
  readonly mode?: 'auto' | 'cgroup' | 'rlimit';
  /** cgroup v2 mount (default /sys/fs/cgroup). */
  readonly cgroupRoot?: string;
  /** Parent cgroup under the root for every program (default 'l3af-user-programs'). */
  readonly parent?: string;
  /** Meaning of `cpu` (default 'percent'). */
  readonly cpuMeaning?: CpuMeaning;
  /** cpu.max period in µs (default 100000). */
  readonly cpuPeriodUs?: number;
  /** The prlimit binary (default 'prlimit' from PATH). */
  readonly prlimit?: string;
}

/** One limit and how it is enforced. */
export interface LimitSetting {
  /** The payload's value (0 = none). */
  readonly requested: number;
  /** Where it is enforced: a cgroup file or an rlimit; null = not enforced. */
  readonly enforcedBy: 'cpu.max' | 'memory.max' | 'RLIMIT_CPU' | 'RLIMIT_AS'
    | 'JobObject.CpuRate' | 'JobObject.ProcessMemoryLimit' | 'JobObject.PerProcessUserTimeLimit' | null;
  /** The value written (e.g. "50000 100000", "67108864"), null when not enforced. */
  readonly value: string | null;
  /** Why it is not enforced, when requested but not enforced. */
  readonly note?: string;
}

/** The limits of one program, as planned and applied. */
export interface LimitPlan {
  /** cgroup: a child cgroup holds at least one limit; rlimit: prlimit only; job: a Windows Job Object; none: nothing requested. */
  readonly method: 'cgroup' | 'rlimit' | 'job' | 'none';
  /** The program's cgroup folder (cgroup method). */
  readonly cgroup: string | null;
  readonly cpu: LimitSetting;
  readonly memory: LimitSetting;
  /** Why cgroup v2 was not used (auto mode), when it was not. */
  readonly fallbackReason: string | null;
}

/** A limit that cannot be applied as asked. */
export class LimitsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LimitsError';
  }
}

/** Whether cgroup v2 at `root` offers the cpu and memory controllers; undefined = usable, else why not. */
export function cgroupV2Problem(root = '/sys/fs/cgroup'): string | undefined {
  let controllers: string[];
  try {
    controllers = readFileSync(join(root, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return `no cgroup v2 hierarchy at ${root} (${join(root, 'cgroup.controllers')} is missing: cgroup v1 or hybrid)`;
  }
  const missing = ['cpu', 'memory'].filter((c) => !controllers.includes(c));
  if (missing.length > 0) return `cgroup v2 at ${root} lacks the ${missing.join(' and ')} controller${missing.length > 1 ? 's' : ''} (available: ${controllers.join(' ') || 'none'}; bound to cgroup v1?)`;
  return undefined;
}

/** cpu.max for `percent` of one CPU: "<quota> <period>" ("max <period>" for 0). */
export function cpuMax(percent: number, periodUs = 100_000): string {
  if (!Number.isInteger(percent) || percent < 0) throw new LimitsError(`cpu ${percent}: must be a non-negative integer (percent of one CPU)`);
  if (percent === 0) return `max ${periodUs}`;
  const quota = Math.max(1000, Math.round((percent * periodUs) / 100)); // the kernel's minimum quota is 1 ms
  return `${quota} ${periodUs}`;
}

/** A cgroup folder name for a program key (letters, digits, '-', '_', '.'; never '..'). */
export function cgroupLeaf(key: string): string {
  const s = key.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^\.+/, '_');
  return s === '' ? '_' : s.slice(0, 200);
}

/** Plans, applies and reads back the limits of user programs. */
export class Limits {
  readonly mode: 'auto' | 'cgroup' | 'rlimit';
  readonly cgroupRoot: string;
  readonly parent: string;
  readonly cpuMeaning: CpuMeaning;
  readonly cpuPeriodUs: number;
  readonly prlimit: string;

  constructor(opts: LimitsOptions = {}) {
    this.mode = opts.mode ?? 'auto';
    this.cgroupRoot = resolve(opts.cgroupRoot ?? '/sys/fs/cgroup');
    this.parent = opts.parent ?? 'l3af-user-programs';
    if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(this.parent) || this.parent.split('/').some((s) => s === '..' || s === '.')) {
      throw new LimitsError(`cgroup parent '${this.parent}' must be a relative path of plain names`);
    }
    this.cpuMeaning = opts.cpuMeaning ?? 'percent';
    this.cpuPeriodUs = opts.cpuPeriodUs ?? 100_000;
    this.prlimit = opts.prlimit ?? 'prlimit';
  }

  /** Decides how `cpu` and `memory` of program `key` are enforced (nothing is changed yet). */
  plan(key: string, req: { readonly cpu: number; readonly memory: number }): LimitPlan {
    for (const [n, v] of [['cpu', req.cpu], ['memory', req.memory]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new LimitsError(`${n} ${v}: must be a non-negative integer`);
    }
    const none: LimitSetting = { requested: 0, enforcedBy: null, value: null };
    if (req.cpu === 0 && req.memory === 0) return { method: 'none', cgroup: null, cpu: none, memory: none, fallbackReason: null };
    let problem: string | undefined;
    if (this.mode !== 'rlimit') {
      problem = cgroupV2Problem(this.cgroupRoot);
      if (problem && this.mode === 'cgroup') throw new LimitsError(`cgroup limits were asked for but ${problem}`);
    } else {
      problem = 'rlimit mode forced by configuration';
    }
    const useCgroup = problem === undefined;
    const cpuSeconds = this.cpuMeaning === 'rlimit-seconds';
    let cpu: LimitSetting = none;
    if (req.cpu > 0) {
      if (cpuSeconds) cpu = { requested: req.cpu, enforcedBy: 'RLIMIT_CPU', value: String(req.cpu) };
      else if (useCgroup) cpu = { requested: req.cpu, enforcedBy: 'cpu.max', value: cpuMax(req.cpu, this.cpuPeriodUs) };
      else cpu = { requested: req.cpu, enforcedBy: null, value: null, note: `cpu as percent of a CPU needs cgroup v2 (${problem}); set cpuMeaning 'rlimit-seconds' for l3afd's RLIMIT_CPU seconds` };
    }
    let memory: LimitSetting = none;
    if (req.memory > 0) memory = useCgroup ? { requested: req.memory, enforcedBy: 'memory.max', value: String(req.memory) } : { requested: req.memory, enforcedBy: 'RLIMIT_AS', value: String(req.memory) };
    const inCgroup = cpu.enforcedBy === 'cpu.max' || memory.enforcedBy === 'memory.max';
    return {
      method: inCgroup ? 'cgroup' : cpu.enforcedBy || memory.enforcedBy ? 'rlimit' : 'none',
      cgroup: inCgroup ? join(this.cgroupRoot, this.parent, cgroupLeaf(key)) : null,
      cpu,
      memory,
      fallbackReason: useCgroup ? null : (problem ?? null),
    };
  }

  /** Creates the program's cgroup (enabling the controllers on the way) and writes its limits. */
  prepare(plan: LimitPlan): void {
    if (!plan.cgroup) return;
    const dir = plan.cgroup;
    if (!resolve(dir).startsWith(this.cgroupRoot + sep)) throw new LimitsError(`cgroup ${dir} is outside ${this.cgroupRoot}`);
    const wanted = [plan.cpu.enforcedBy === 'cpu.max' ? 'cpu' : '', plan.memory.enforcedBy === 'memory.max' ? 'memory' : ''].filter(Boolean);
    // enable the controllers from the root down to the parent of the program's cgroup
    let at = this.cgroupRoot;
    for (const seg of [...this.parent.split('/'), null]) {
      this.#enable(at, wanted);
      if (seg === null) break;
      at = join(at, seg);
      mkdirSync(at, { recursive: true });
    }
    mkdirSync(dir, { recursive: true });
    try {
      if (plan.cpu.enforcedBy === 'cpu.max' && plan.cpu.value) writeFileSync(join(dir, 'cpu.max'), plan.cpu.value);
      if (plan.memory.enforcedBy === 'memory.max' && plan.memory.value) writeFileSync(join(dir, 'memory.max'), plan.memory.value);
    } catch (err) {
      throw new LimitsError(`writing the limits of ${dir} failed: ${(err as Error).message}`);
    }
  }

  #enable(dir: string, controllers: string[]): void {
    const file = join(dir, 'cgroup.subtree_control');
    const on = readFileSync(file, 'utf8').trim().split(/\s+/);
    const add = controllers.filter((c) => !on.includes(c));
    if (add.length === 0) return;
    try {
      writeFileSync(file, add.map((c) => `+${c}`).join(' '));
    } catch (err) {
      throw new LimitsError(`enabling ${add.join(', ')} in ${file} failed: ${(err as Error).message}`);
    }
  }

  /**
   * The command line that runs `command args` under `plan`: the cgroup wrapper and/or prlimit in
   * front, each exec'ing the next, so the final program keeps the spawned pid.
   */
  wrap(plan: LimitPlan, command: string, args: readonly string[]): { command: string; args: string[] } {
    let cmd = command;
    let argv = [...args];
    const rl: string[] = [];
    if (plan.cpu.enforcedBy === 'RLIMIT_CPU') rl.push(`--cpu=${plan.cpu.value}:${plan.cpu.value}`);
    if (plan.memory.enforcedBy === 'RLIMIT_AS') rl.push(`--as=${plan.memory.value}:${plan.memory.value}`);
    if (rl.length > 0) {
      argv = [...rl, '--', cmd, ...argv];
      cmd = this.prlimit;
    }
    if (plan.cgroup) {
      argv = ['-c', 'echo $$ > "$0/cgroup.procs" || exit 125; exec "$@"', plan.cgroup, cmd, ...argv];
      cmd = '/bin/sh';
    }
    return { command: cmd, args: argv };
  }

  /** Removes the program's cgroup (once its processes are gone); false if it still holds some. */
  release(plan: LimitPlan): boolean {
    if (!plan.cgroup || !existsSync(plan.cgroup)) return true;
    try {
      rmdirSync(plan.cgroup);
      return true;
    } catch {
      return false;
    }
  }
}

/** The limits the kernel reports for a process: cgroup files or /proc/<pid>/limits, for status and tests. */
export function observedLimits(pid: number, plan: LimitPlan): Record<string, string> {
  const out: Record<string, string> = {};
  if (plan.cgroup) {
    for (const f of ['cpu.max', 'memory.max']) {
      try {
        out[f] = readFileSync(join(plan.cgroup, f), 'utf8').trim();
      } catch {
        // controller not enabled there
      }
    }
  }
  try {
    const text = readFileSync(`/proc/${pid}/limits`, 'utf8');
    for (const [label, name] of [['Max cpu time', 'RLIMIT_CPU'], ['Max address space', 'RLIMIT_AS']] as const) {
      const m = new RegExp(`^${label}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(text);
      if (m) out[name] = `${m[1]}:${m[2]}`;
    }
  } catch {
    // the process is gone
  }
  return out;
}
