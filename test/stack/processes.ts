/**
 * Child processes of the live stack test (the agent, Prometheus, node_exporter): output kept for
 * error messages, a wait for an HTTP endpoint, and a stop that escalates to SIGKILL. Every child is
 * also killed at exit if the test never stopped it.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
export { freePort } from '../harness/net.ts';

const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of alive) c.kill('SIGKILL');
});

/** A TCP port that was free a moment ago on 127.0.0.1. */

/** A started child with its output. */
export class StackProcess {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(readonly name: string, command: string, args: string[], options: SpawnOptions = {}) {
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    alive.add(this.child);
    const keep = (d: Buffer): void => {
      this.output = (this.output + d.toString('utf8')).slice(-20_000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => { this.output += `\nspawn error: ${err.message}`; alive.delete(this.child); resolve(-1); });
      this.child.once('exit', (code) => { alive.delete(this.child); resolve(code); });
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && alive.has(this.child);
  }

  /** Resolves when `url` answers 200; rejects (with the process output) after `ms` or if it exits. */
  async waitHttp(url: string, ms: number): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited before ${url} answered:\n${this.output}`);
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
        if (r.ok) return;
      } catch {
        // not yet
      }
      if (Date.now() > end) throw new Error(`${this.name}: ${url} did not answer within ${ms} ms:\n${this.output}`);
      await sleep(200);
    }
  }

  /** SIGTERM, then SIGKILL after `ms`; resolves with the exit code. */
  async stop(ms = 15_000): Promise<number | null> {
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
