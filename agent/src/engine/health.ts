/**
 * The health check of programs with a user program: tells the observer when one stops or starts
 * running (its kernel program present AND its user program up: down while it restarts, for good
 * when the supervisor gave up), and a self-linking one's new program id after it relinked. Keeps
 * the running state it last told, per supervisor key.
 */
import type { UserProgramStatus } from '../supervisor/index.ts';
import { messageOf } from '../error-message.ts';
import type { ChainDirection } from '../chain/index.ts';
import type { NormalizedBpfProgram } from '../payload/index.ts';
import type { ProgramRef, RunningProgram } from './types.ts';

/** A program with a user program, as the check visits it. */
export interface WatchedProgram {
  readonly key: string;
  readonly iface: string;
  readonly direction: ChainDirection;
  readonly ipv4: string;
  readonly program: NormalizedBpfProgram;
}

export interface HealthContext {
  /** Every enabled program with a user program. */
  watched(): Iterable<WatchedProgram>;
  snapshot(key: string): UserProgramStatus | undefined;
  /** The program as the observer sees it when it runs in the kernel (throws: logged, skipped). */
  runningProgram(w: WatchedProgram): RunningProgram | undefined;
  updated(rp: RunningProgram): void;
  runningState(ref: ProgramRef, running: boolean): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export class RunningStates {
  readonly #last = new Map<string, { running: boolean; progId: number }>();

  /** Records what the observer was told when a program started (by key). */
  started(key: string, progId: number): void {
    this.#last.set(key, { running: true, progId });
  }

  forget(key: string): void {
    this.#last.delete(key);
  }

  /** One pass of the check (see the module comment). */
  check(ctx: HealthContext): void {
    const seen = new Set<string>();
    for (const w of ctx.watched()) {
      const u = ctx.snapshot(w.key);
      // not started (refused, or removed), or being stopped on purpose (the observer hears programStopped)
      if (!u || u.state === 'stopping' || u.state === 'stopped') continue;
      seen.add(w.key);
      let rp: RunningProgram | undefined;
      try {
        rp = ctx.runningProgram(w);
      } catch (err) {
        ctx.warn({ iface: w.iface, direction: w.direction, name: w.program.name, err: messageOf(err) }, 'health check failed');
        continue;
      }
      const running = rp !== undefined && u.running;
      const last = this.#last.get(w.key);
      if (rp && running && last && last.progId !== 0 && rp.progId !== last.progId) ctx.updated(rp);
      if (last?.running !== running) ctx.runningState({ iface: w.iface, direction: w.direction, name: w.program.name, version: w.program.version, ipv4: w.ipv4 }, running);
      this.#last.set(w.key, { running, progId: running && rp ? rp.progId : last?.progId ?? 0 });
    }
    for (const k of this.#last.keys()) if (!seen.has(k)) this.#last.delete(k);
  }
}
