/**
 * Supervision of user programs (a payload program's `cmd_start`).
 *
 * - `user_program_daemon: true`: a supervised daemon in its own session and process group. Its
 *   stdout/stderr go straight into per-program rotated log files. A crash restarts it after an
 *   exponential backoff; at most `maxRestarts` restarts within `windowMs`, then it is `failed`.
 *   A run that lasted `healthyAfterMs` clears the restart budget (l3afd's counter never resets).
 * - `user_program_daemon: false`: a one-shot that must exit 0 within `commandTimeoutMs`; any other
 *   end is a failure carrying the exit code or signal and the tail of its stderr.
 * - Stop: cmd_stop (if given) and a wait; then SIGTERM to the process group, SIGKILL after
 *   `stopTimeoutMs`. Processes are never found by name: each is tracked by pid, process group
 *   and start time (/proc/<pid>/stat field 22), recorded in a state file. After an agent restart
 *   {@link Supervisor.recover} adopts a recorded process (same pid and start time) or stops it;
 *   a pid that now belongs to another process is never signalled.
 * - Status: with cmd_status, running iff its output, trimmed, is RUNNING (any case); otherwise
 *   iff the daemon is alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../store/atomic-file.ts';
import { dirname, join } from 'node:path';
import {
  UserProgramArgsError, resolveCommand, startArgv, statusArgv, stopArgv, updateArgv, writeRulesFile,
  type UserProgramContext, type UserProgramFields } from './args.ts';
import { Limits, cgroupLeaf, type LimitPlan, type LimitsOptions } from './limits.ts';
import { processHost, type ProcessHost } from './process-host.ts';
import { RotatingLog, type RotationOptions } from './rotating-log.ts';
import { messageOf } from '../error-message.ts';
import type { Logger } from '../logger.ts';

/** One user program to supervise. */
export interface UserProgramSpec {
  /** Unique identity, e.g. `eth0/xdp_ingress/ratelimiting`. */
  readonly key: string;
  readonly program: UserProgramFields;
  readonly context: UserProgramContext;
  /** Extra environment for the program (added to the agent's). */
  readonly env?: Readonly<Record<string, string>>;
}

/** Restart policy of crashed daemons. */
export interface RestartPolicy {
  /** First delay (ms); default 1000. */
  readonly initialDelayMs: number;
  /** Delay cap (ms); default 30000. */
  readonly maxDelayMs: number;
  /** Growth per restart in the window; default 2. */
  readonly factor: number;
  /** Restarts allowed within `windowMs`; default 5. */
  readonly maxRestarts: number;
  /** default 300000. */
  readonly windowMs: number;
  /** A run at least this long clears the restart history; default 60000. */
  readonly healthyAfterMs: number;
}

/** What the supervisor tells its observer (metrics, logs, tests). */
export type SupervisorEvent =
  | { readonly type: 'started'; readonly key: string; readonly pid: number; readonly at: number; readonly restart: boolean }
  | { readonly type: 'exited'; readonly key: string; readonly code: number | null; readonly signal: string | null; readonly at: number; readonly expected: boolean }
  | { readonly type: 'restart-scheduled'; readonly key: string; readonly delayMs: number; readonly attempt: number; readonly at: number }
  | { readonly type: 'gave-up'; readonly key: string; readonly reason: string; readonly at: number }
  | { readonly type: 'adopted' | 'stopped'; readonly key: string; readonly pid: number; readonly at: number };

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  /** JSON file recording every daemon (pid, group, start time, spec); written atomically. */
  readonly stateFile: string;
  /** Folder of the per-program log files `<key>.stdout.log` / `<key>.stderr.log`. */
  readonly logDir: string;
  readonly rotation?: RotationOptions;
  readonly restart?: Partial<RestartPolicy>;
  /** SIGTERM → SIGKILL delay, and the wait after cmd_stop (default 10000). */
  readonly stopTimeoutMs?: number;
  /** A daemon that exits within this after start failed to start (no restart); default 500. */
  readonly startGraceMs?: number;
  /** Limit of one-shots, cmd_stop, cmd_status, cmd_update (default 30000). */
  readonly commandTimeoutMs?: number;
  /** Liveness of adopted daemons and log rotation checks (default 1000). */
  readonly pollMs?: number;
  readonly limits?: Limits | LimitsOptions;
  /** The OS half (default: this platform's, built from `limits`). */
  readonly processHost?: ProcessHost;
  readonly logger?: Logger;
  readonly onEvent?: (e: SupervisorEvent) => void;
  /**
   * Called right before every spawn of cmd_start (first start and each restart); a throw fails
   * that start. The engine removes a crashed self-linking program's stale pins here.
   */
  readonly beforeSpawn?: (spec: UserProgramSpec) => void;
}

/** Life of one program. */
export type UserProgramState = 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped' | 'failed' | 'completed';

/** How a process ended. */
export interface ExitInfo {
  /** Exit code, null when killed by a signal or unknown (an adopted process). */
  readonly code: number | null;
  readonly signal: string | null;
  readonly at: string;
  /** How long it ran (ms), null when unknown. */
  readonly uptimeMs: number | null;
}

/** Status of one program. */
export interface UserProgramStatus {
  readonly key: string;
  readonly name: string;
  readonly daemon: boolean;
  readonly state: UserProgramState;
  /** Daemon alive (or cmd_status said RUNNING at the last {@link Supervisor.status} call). */
  readonly running: boolean;
  readonly pid: number | null;
  readonly pgid: number | null;
  /** /proc/<pid>/stat start time (ticks since boot). */
  readonly startTime: string | null;
  readonly startedAt: string | null;
  /** Adopted from the state file after an agent restart. */
  readonly adopted: boolean;
  /** Restarts since it was first started (never reset; the budget is separate). */
  readonly restarts: number;
  readonly lastExit: ExitInfo | null;
  readonly lastError: string | null;
  readonly limits: LimitPlan | null;
  /** The cmd_status output of the last check, trimmed (null when never run). */
  readonly statusOutput: string | null;
  readonly logs: { readonly stdout: string; readonly stderr: string };
}

/** A start, stop or command that failed; carries the exit code and stderr tail when there are some. */
export class SupervisorError extends Error {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stderrTail: string;
  constructor(message: string, details: { code?: number | null; signal?: string | null; stderrTail?: string } = {}) {
    super(message);
    this.name = 'SupervisorError';
    this.code = details.code ?? null;
    this.signal = details.signal ?? null;
    this.stderrTail = details.stderrTail ?? '';
  }
}

/** What {@link Supervisor.recover} found in the state file. */
export interface RecoveryReport {
  /** Same pid and start time, kept and supervised again. */
  readonly adopted: string[];
  /** Same pid and start time, but not wanted: stopped. */
  readonly stopped: string[];
  /** Recorded process no longer exists. */
  readonly gone: string[];
  /** The pid exists but started at another time: someone else's process, left alone. */
  readonly reused: Array<{ key: string; pid: number; recorded: string; actual: string }>;
}

interface StateRecord {
  readonly key: string;
  readonly spec: UserProgramSpec;
  readonly pid: number;
  readonly pgid: number;
  readonly startTime: string;
  readonly startedAt: string;
  readonly restarts: number;
  readonly limits: LimitPlan | null;
}

interface Instance {
  spec: UserProgramSpec;
  state: UserProgramState;
  gen: number;
  pid: number | null;
  pgid: number | null;
  startTime: string | null;
  startedAtMs: number | null;
  child: ChildProcess | null;
  adopted: boolean;
  restarts: number;
  /** Times of restarts inside the current budget window. */
  recent: number[];
  lastExit: ExitInfo | null;
  lastError: string | null;
  plan: LimitPlan | null;
  statusOutput: string | null;
  statusRunning: boolean | null;
  out: RotatingLog;
  err: RotatingLog;
  timer: NodeJS.Timeout | null;
}

const DEFAULT_POLICY: RestartPolicy = { initialDelayMs: 1000, maxDelayMs: 30_000, factor: 2, maxRestarts: 5, windowMs: 300_000, healthyAfterMs: 60_000 };
const NOOP_LOGGER: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


function describeExit(code: number | null, signal: string | null): string {
  return signal ? `killed by ${signal}` : code === null ? 'exited (status unknown: adopted process)' : `exited with code ${code}`;
}

function tailLines(text: string, max = 400): string {
  const t = text.trim();
  return t.length <= max ? t : `…${t.slice(-max)}`;
}

/** Supervises the user programs of the agent. */
export class Supervisor {
  readonly #opts: SupervisorOptions;
  readonly #policy: RestartPolicy;
  /** The OS half: process groups and cgroups/rlimits (Linux) or Job Objects (Windows). */
  readonly #host: ProcessHost;
  readonly #log: Logger;
  readonly #programs = new Map<string, Instance>();
  readonly #stopTimeoutMs: number;
  readonly #startGraceMs: number;
  readonly #commandTimeoutMs: number;
  #poll: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(opts: SupervisorOptions) {
    this.#opts = opts;
    this.#policy = { ...DEFAULT_POLICY, ...opts.restart };
    this.#host = opts.processHost ?? processHost(opts.limits);
    this.#log = opts.logger ?? NOOP_LOGGER;
    this.#stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
    this.#startGraceMs = opts.startGraceMs ?? 500;
    this.#commandTimeoutMs = opts.commandTimeoutMs ?? 30_000;
    mkdirSync(opts.logDir, { recursive: true });
    mkdirSync(dirname(opts.stateFile), { recursive: true });
    const p = this.#policy;
    if (!(p.initialDelayMs >= 0 && p.maxDelayMs >= p.initialDelayMs && p.factor >= 1 && p.maxRestarts >= 0 && p.windowMs > 0 && p.healthyAfterMs >= 0)) {
      throw new Error(`bad restart policy: ${JSON.stringify(p)}`);
    }
  }

  /** The restart policy in force. */
  get policy(): RestartPolicy {
    return this.#policy;
  }

  // ------------------------------------------------------------ start

  /**
   * Starts a program. A daemon resolves once it survived `startGraceMs`; a one-shot once it
   * exited 0. A program already supervised under the same key with the same spec is left as it is.
   */
  async start(spec: UserProgramSpec): Promise<UserProgramStatus> {
    this.#open();
    const existing = this.#programs.get(spec.key);
    if (existing && (existing.state === 'running' || existing.state === 'backoff' || existing.state === 'starting')) {
      if (JSON.stringify(existing.spec) === JSON.stringify(spec)) return this.snapshot(spec.key) as UserProgramStatus;
      throw new SupervisorError(`user program '${spec.key}' is already supervised with another spec; stop it first`);
    }
    const inst = this.#newInstance(spec);
    this.#programs.set(spec.key, inst);
    if (!spec.program.user_program_daemon) return this.#runOneShot(inst);
    try {
      await this.#spawn(inst);
    } catch (err) {
      inst.state = 'failed';
      inst.lastError = messageOf(err);
      throw err;
    }
    const early = await this.#exitWithin(inst, this.#startGraceMs);
    if (early) {
      inst.state = 'failed';
      const tail = tailLines(inst.err.tail());
      inst.lastError = `${describeExit(early.code, early.signal)} during start${tail ? `: ${tail}` : ''}`;
      this.#persist();
      throw new SupervisorError(`user program '${spec.key}' ${inst.lastError}`, { code: early.code, signal: early.signal, stderrTail: tail });
    }
    inst.state = 'running';
    this.#persist();
    this.#ensurePoll();
    return this.snapshot(spec.key) as UserProgramStatus;
  }

  #newInstance(spec: UserProgramSpec): Instance {
    const leaf = cgroupLeaf(spec.key);
    return {
      spec, state: 'starting', gen: 0, pid: null, pgid: null, startTime: null, startedAtMs: null, child: null, adopted: false,
      restarts: 0, recent: [], lastExit: null, lastError: null, plan: null, statusOutput: null, statusRunning: null,
      out: new RotatingLog(join(this.#opts.logDir, `${leaf}.stdout.log`), this.#opts.rotation),
      err: new RotatingLog(join(this.#opts.logDir, `${leaf}.stderr.log`), this.#opts.rotation),
      timer: null };
  }

  /** Spawns cmd_start with the contract's arguments under the program's limits. */
  async #spawn(inst: Instance): Promise<void> {
    const { program: p, context: ctx } = inst.spec;
    const command = resolveCommand(ctx.packageDir, p.cmd_start, 'cmd_start');
    const args = startArgv(ctx, p);
    this.#opts.beforeSpawn?.(inst.spec);
    writeRulesFile(ctx, p);
    const plan = this.#host.plan(inst.spec.key, p);
    this.#host.prepare(plan);
    inst.plan = plan;
    const wrapped = this.#host.command(plan, command, args);
    inst.out.rotateIfNeeded();
    inst.err.rotateIfNeeded();
    const outFd = inst.out.openForChild();
    const errFd = inst.err.openForChild();
    let child: ChildProcess;
    try {
      child = spawn(wrapped.command, wrapped.args, {
        cwd: ctx.packageDir, detached: this.#host.detached, windowsHide: true, stdio: ['ignore', outFd, errFd], env: { ...process.env, ...inst.spec.env } });
    } finally {
      closeSync(outFd);
      closeSync(errFd);
    }
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => reject(new SupervisorError(`starting '${inst.spec.key}' (${command}) failed: ${e.message}`)));
    });
    const pid = child.pid as number;
    child.unref();
    try {
      this.#host.started(inst.spec.key, pid, plan);
    } catch (err) {
      throw new SupervisorError(`starting '${inst.spec.key}' (${command}): its limits could not be applied: ${messageOf(err)}`);
    }
    inst.gen++;
    const gen = inst.gen;
    inst.child = child;
    inst.pid = pid;
    inst.pgid = pid; // Linux: detached, the child leads its own session and process group
    inst.startTime = this.#host.startTimeOf(pid) ?? null;
    inst.startedAtMs = Date.now();
    inst.adopted = false;
    child.once('exit', (code, signal) => this.#onExit(inst, gen, code, signal));
    this.#emit({ type: 'started', key: inst.spec.key, pid, at: inst.startedAtMs, restart: inst.restarts > 0 });
    this.#log.info({ key: inst.spec.key, pid, command, args }, 'user program started');
  }

  /** Resolves with the exit if the current process of `inst` ends within `ms`, else undefined. */
  async #exitWithin(inst: Instance, ms: number): Promise<ExitInfo | undefined> {
    const gen = inst.gen;
    const deadline = Date.now() + ms;
    for (;;) {
      if (inst.gen !== gen || inst.pid === null) return inst.lastExit ?? undefined;
      if (Date.now() >= deadline) return undefined;
      await sleep(Math.min(20, Math.max(1, deadline - Date.now())));
    }
  }

  async #runOneShot(inst: Instance): Promise<UserProgramStatus> {
    try {
      await this.#spawn(inst);
    } catch (err) {
      inst.state = 'failed';
      inst.lastError = messageOf(err);
      throw err;
    }
    inst.state = 'running';
    const exit = await this.#exitWithin(inst, this.#commandTimeoutMs);
    if (!exit) {
      this.#signal(inst, 'SIGKILL');
      await this.#exitWithin(inst, 2000);
      inst.state = 'failed';
      inst.lastError = `one-shot did not exit within ${this.#commandTimeoutMs} ms (killed)`;
      throw new SupervisorError(`user program '${inst.spec.key}' ${inst.lastError}`, { stderrTail: tailLines(inst.err.tail()) });
    }
    if (exit.code === 0) {
      inst.state = 'completed';
      inst.lastError = null;
      return this.snapshot(inst.spec.key) as UserProgramStatus;
    }
    inst.state = 'failed';
    const tail = tailLines(inst.err.tail());
    inst.lastError = `one-shot ${describeExit(exit.code, exit.signal)}${tail ? `: ${tail}` : ''}`;
    throw new SupervisorError(`user program '${inst.spec.key}' ${inst.lastError}`, { code: exit.code, signal: exit.signal, stderrTail: tail });
  }

  // ------------------------------------------------------------ exits and restarts

  #onExit(inst: Instance, gen: number, code: number | null, signal: string | null): void {
    if (gen !== inst.gen) return;
    const now = Date.now();
    const uptimeMs = inst.startedAtMs === null ? null : now - inst.startedAtMs;
    inst.lastExit = { code, signal, at: new Date(now).toISOString(), uptimeMs };
    const pgid = inst.pgid;
    inst.pid = null;
    inst.child = null;
    const expected = inst.state === 'stopping' || inst.state === 'stopped' || !inst.spec.program.user_program_daemon || inst.state === 'failed';
    this.#emit({ type: 'exited', key: inst.spec.key, code, signal, at: now, expected });
    // leftovers of its group or job (children it started)
    if (inst.spec.program.user_program_daemon) this.#host.leftovers(inst.spec.key, pgid);
    if (expected || this.#closed) return;
    this.#crashed(inst, describeExit(code, signal), uptimeMs);
  }

  /** A daemon ended on its own (or could not be restarted): schedule a restart or give up. */
  #crashed(inst: Instance, what: string, uptimeMs: number | null): void {
    const now = Date.now();
    const p = this.#policy;
    const tail = tailLines(inst.err.tail(), 300);
    inst.lastError = `${what}${tail ? `: ${tail}` : ''}`;
    if (uptimeMs !== null && uptimeMs >= p.healthyAfterMs) inst.recent = [];
    inst.recent = inst.recent.filter((t) => now - t < p.windowMs);
    if (inst.recent.length >= p.maxRestarts) {
      inst.state = 'failed';
      inst.lastError = `gave up after ${inst.recent.length} restarts within ${p.windowMs} ms; last: ${inst.lastError}`;
      if (inst.plan) this.#host.release(inst.spec.key, inst.plan);
      this.#persist();
      this.#emit({ type: 'gave-up', key: inst.spec.key, reason: inst.lastError, at: now });
      this.#log.error({ key: inst.spec.key, err: inst.lastError }, 'user program failed');
      return;
    }
    const delayMs = Math.min(p.maxDelayMs, Math.round(p.initialDelayMs * p.factor ** inst.recent.length));
    inst.recent.push(now);
    inst.state = 'backoff';
    this.#persist();
    this.#emit({ type: 'restart-scheduled', key: inst.spec.key, delayMs, attempt: inst.recent.length, at: now });
    this.#log.warn({ key: inst.spec.key, err: inst.lastError, delayMs }, 'user program crashed; restart scheduled');
    inst.timer = setTimeout(() => {
      inst.timer = null;
      if (inst.state !== 'backoff' || this.#closed) return;
      inst.restarts++;
      this.#spawn(inst).then(() => {
        if (inst.state === 'backoff') inst.state = 'running';
        this.#persist();
      }, (err: unknown) => this.#crashed(inst, `restart failed: ${messageOf(err)}`, null));
    }, delayMs);
    inst.timer.unref();
  }

  // ------------------------------------------------------------ stop

  /** Signals the program's group (or only its pid if it left the group) after checking it is still ours. */
  #signal(inst: Instance, sig: NodeJS.Signals): boolean {
    if (inst.pid === null || inst.startTime === null || !this.#host.isSameProcess(inst.pid, inst.startTime)) return false;
    return this.#host.signal(inst.spec.key, inst.pid, inst.pgid, sig);
  }

  async #waitGone(inst: Instance, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (inst.pid === null || inst.startTime === null || !this.#host.isSameProcess(inst.pid, inst.startTime)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(Math.min(20, Math.max(1, deadline - Date.now())));
    }
  }

  /**
   * Stops a program: cmd_stop (if any) and a wait, then SIGTERM to its process group and SIGKILL
   * after `stopTimeoutMs`. Forgets it (state file included). Returns its last status.
   */
  async stop(key: string): Promise<UserProgramStatus | undefined> {
    const inst = this.#programs.get(key);
    if (!inst) return undefined;
    if (inst.timer) clearTimeout(inst.timer);
    inst.timer = null;
    inst.state = 'stopping';
    const pid = inst.pid;
    if (pid !== null && inst.spec.program.cmd_stop !== '') {
      try {
        await this.#command(inst, 'cmd_stop', stopArgv(inst.spec.context, inst.spec.program));
      } catch (err) {
        inst.lastError = `cmd_stop: ${messageOf(err)}`;
      }
      await this.#waitGone(inst, this.#stopTimeoutMs);
    }
    if (this.#signal(inst, 'SIGTERM') && !(await this.#waitGone(inst, this.#stopTimeoutMs))) {
      this.#log.warn({ key, pid }, `user program ignored SIGTERM for ${this.#stopTimeoutMs} ms; SIGKILL`);
      this.#signal(inst, 'SIGKILL');
      await this.#waitGone(inst, 5000);
    }
    if (inst.adopted && inst.pid !== null) {
      // not our child: no exit event
      this.#onExit(inst, inst.gen, null, null);
    }
    await this.#settle(inst);
    inst.state = 'stopped';
    if (inst.plan) this.#host.release(key, inst.plan);
    const status = this.snapshot(key) as UserProgramStatus;
    this.#programs.delete(key);
    this.#persist();
    if (pid !== null) this.#emit({ type: 'stopped', key, pid, at: Date.now() });
    return status;
  }

  /** Waits briefly for node to report the exit of a child that is gone. */
  async #settle(inst: Instance): Promise<void> {
    for (let i = 0; i < 100 && inst.pid !== null && inst.child !== null; i++) await sleep(10);
  }

  /** Stops every program. */
  async stopAll(): Promise<void> {
    for (const key of [...this.#programs.keys()]) await this.stop(key);
  }

  // ------------------------------------------------------------ commands and status

  /** Runs cmd_status / cmd_stop / cmd_update of a program; resolves with its trimmed output, rejects on a non-zero exit. */
  async #command(inst: Instance, field: 'cmd_stop' | 'cmd_status' | 'cmd_update', args: string[]): Promise<string> {
    const { program: p, context: ctx } = inst.spec;
    const command = resolveCommand(ctx.packageDir, p[field], field);
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { cwd: ctx.packageDir, detached: this.#host.detached, windowsHide: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...inst.spec.env } });
      let out = '';
      let err = '';
      const cap = (s: string, d: Buffer): string => (s.length > 65536 ? s : s + d.toString());
      child.stdout?.on('data', (d: Buffer) => { out = cap(out, d); });
      child.stderr?.on('data', (d: Buffer) => { err = cap(err, d); });
      const timer = setTimeout(() => {
        if (child.pid) this.#host.killCommand(child.pid);
      }, this.#commandTimeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new SupervisorError(`${field} '${p[field]}' could not run: ${e.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const combined = `${out}${err}`;
        if (code === 0) resolve(combined.trim());
        else reject(new SupervisorError(`${field} ${describeExit(code, signal)}${err.trim() ? `: ${tailLines(err)}` : ''}`, { code, signal, stderrTail: tailLines(err) }));
      });
    });
  }

  /**
   * Status of a program; with cmd_status, runs it (running iff it prints RUNNING, trimmed, any
   * case). Undefined for an unknown key.
   */
  async status(key: string): Promise<UserProgramStatus | undefined> {
    const inst = this.#programs.get(key);
    if (!inst) return undefined;
    if (inst.spec.program.cmd_status !== '' && inst.spec.program.user_program_daemon) {
      try {
        const out = await this.#command(inst, 'cmd_status', statusArgv(inst.spec.program));
        inst.statusOutput = out;
        inst.statusRunning = out.toUpperCase() === 'RUNNING';
      } catch (err) {
        inst.statusOutput = messageOf(err);
        inst.statusRunning = false;
      }
    }
    return this.snapshot(key);
  }

  /** Runs cmd_update with the contract's update arguments (for an update_args change); the spec is updated. */
  async update(key: string, program: UserProgramFields): Promise<string> {
    const inst = this.#programs.get(key);
    if (!inst) throw new SupervisorError(`user program '${key}' is not supervised`);
    if (program.cmd_update === '') throw new UserProgramArgsError(`program '${program.name}' has no cmd_update`);
    inst.spec = { ...inst.spec, program };
    const out = await this.#command(inst, 'cmd_update', updateArgv(inst.spec.context, program));
    this.#persist();
    return out;
  }

  /** Status without running cmd_status (the last check's result is included). */
  snapshot(key: string): UserProgramStatus | undefined {
    const i = this.#programs.get(key);
    if (!i) return undefined;
    const alive = i.pid !== null && i.startTime !== null && this.#host.isSameProcess(i.pid, i.startTime);
    const running = i.spec.program.cmd_status !== '' && i.statusRunning !== null ? i.statusRunning && alive : alive;
    return {
      key: i.spec.key, name: i.spec.program.name, daemon: i.spec.program.user_program_daemon, state: i.state, running,
      pid: alive ? i.pid : null, pgid: alive ? i.pgid : null, startTime: alive ? i.startTime : null,
      startedAt: alive && i.startedAtMs !== null ? new Date(i.startedAtMs).toISOString() : null,
      adopted: i.adopted, restarts: i.restarts, lastExit: i.lastExit, lastError: i.lastError, limits: i.plan,
      statusOutput: i.statusOutput, logs: { stdout: i.out.path, stderr: i.err.path } };
  }

  /** Every supervised program's status (no cmd_status run). */
  list(): UserProgramStatus[] {
    return [...this.#programs.keys()].map((k) => this.snapshot(k) as UserProgramStatus);
  }

  /** What the kernel reports as the limits of a running program (cgroup files, /proc/<pid>/limits). */
  observedLimits(key: string): Record<string, string> | undefined {
    const i = this.#programs.get(key);
    if (!i || i.pid === null || !i.plan) return undefined;
    return this.#host.observedLimits(key, i.pid, i.plan);
  }

  // ------------------------------------------------------------ state file and recovery

  #persist(): void {
    const records: StateRecord[] = [];
    for (const i of this.#programs.values()) {
      if (!i.spec.program.user_program_daemon || i.pid === null || i.pgid === null || i.startTime === null) continue;
      records.push({
        key: i.spec.key, spec: i.spec, pid: i.pid, pgid: i.pgid, startTime: i.startTime,
        startedAt: new Date(i.startedAtMs ?? Date.now()).toISOString(), restarts: i.restarts, limits: i.plan });
    }
    const file = this.#opts.stateFile;
    writeFileAtomicSync(file, `${JSON.stringify({ version: 1, programs: records }, null, 2)}\n`);
  }

  #readState(): StateRecord[] {
    let text: string;
    try {
      text = readFileSync(this.#opts.stateFile, 'utf8');
    } catch {
      return [];
    }
    const doc = JSON.parse(text) as { version?: number; programs?: StateRecord[] };
    if (doc.version !== 1 || !Array.isArray(doc.programs)) throw new SupervisorError(`state file ${this.#opts.stateFile} is not a version 1 supervisor state`);
    return doc.programs;
  }

  /**
   * After an agent restart: for each recorded daemon, adopt it (same pid and start time, and
   * `decide` says 'adopt' — the default), or stop it ('stop'). A recorded pid that now has
   * another start time belongs to someone else and is left alone.
   */
  async recover(decide: (spec: UserProgramSpec) => 'adopt' | 'stop' = () => 'adopt'): Promise<RecoveryReport> {
    this.#open();
    const report: RecoveryReport = { adopted: [], stopped: [], gone: [], reused: [] };
    for (const r of this.#readState()) {
      if (this.#programs.has(r.key)) continue;
      const actual = this.#host.startTimeOf(r.pid);
      if (actual === undefined || !this.#host.isSameProcess(r.pid, actual)) {
        report.gone.push(r.key);
        continue;
      }
      if (actual !== r.startTime) {
        report.reused.push({ key: r.key, pid: r.pid, recorded: r.startTime, actual });
        this.#log.warn({ key: r.key, pid: r.pid }, 'recorded pid now belongs to another process; left alone');
        continue;
      }
      const inst = this.#newInstance(r.spec);
      Object.assign(inst, { pid: r.pid, pgid: r.pgid, startTime: r.startTime, startedAtMs: Date.parse(r.startedAt), adopted: true, restarts: r.restarts, plan: r.limits, state: 'running' as const, gen: 1 });
      this.#programs.set(r.key, inst);
      if (decide(r.spec) === 'adopt') {
        report.adopted.push(r.key);
        this.#emit({ type: 'adopted', key: r.key, pid: r.pid, at: Date.now() });
      } else {
        await this.stop(r.key);
        report.stopped.push(r.key);
      }
    }
    this.#persist();
    this.#ensurePoll();
    return report;
  }

  // ------------------------------------------------------------ housekeeping

  #ensurePoll(): void {
    if (this.#poll || this.#closed) return;
    this.#poll = setInterval(() => this.#tick(), this.#opts.pollMs ?? 1000);
    this.#poll.unref();
  }

  #tick(): void {
    for (const i of this.#programs.values()) {
      try {
        i.out.rotateIfNeeded();
        i.err.rotateIfNeeded();
      } catch (err) {
        this.#log.warn({ key: i.spec.key, err: messageOf(err) }, 'log rotation failed');
      }
      // adopted daemons are not our children: their end is seen by polling
      if (i.adopted && i.pid !== null && i.startTime !== null && i.state === 'running' && !this.#host.isSameProcess(i.pid, i.startTime)) {
        this.#onExit(i, i.gen, null, null);
      }
    }
  }

  #emit(e: SupervisorEvent): void {
    try {
      this.#opts.onEvent?.(e);
    } catch (err) {
      this.#log.warn({ err: messageOf(err) }, 'supervisor observer threw');
    }
  }

  #open(): void {
    if (this.#closed) throw new SupervisorError('the supervisor is closed');
  }

  /**
   * Stops supervising without stopping anything: daemons keep running and stay in the state file
   * for the next agent to adopt (timers and pending restarts are dropped).
   */
  close(): void {
    this.#closed = true;
    if (this.#poll) clearInterval(this.#poll);
    this.#poll = null;
    for (const i of this.#programs.values()) {
      if (i.timer) clearTimeout(i.timer);
      i.timer = null;
    }
  }
}
