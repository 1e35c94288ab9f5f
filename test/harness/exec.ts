/**
 * Running external commands (ip, mount, sysctl, …) for the harness, with bounded time and errors that say
 * which command failed and what it printed.
 */
import { execFile, spawnSync } from 'node:child_process';

/** What a finished command printed. */
export interface CommandOutput {
  stdout: string;
  stderr: string;
}

/** A command that could not be run, timed out or exited with a non-zero status. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    /** The program that was run. */
    readonly command: string,
    /** Its arguments. */
    readonly args: readonly string[],
    /** Exit status, or null when it was killed or never started. */
    readonly status: number | null,
    /** What it wrote to stderr (trimmed). */
    readonly stderr: string,
    /** Why it failed when it did not simply exit non-zero (spawn error, timeout signal). */
    readonly reason?: string,
  ) {
    const what = [command, ...args].join(' ');
    const detail = stderr !== '' ? `: ${stderr}` : reason !== undefined ? `: ${reason}` : '';
    super(`command failed (${status === null ? 'no exit status' : `exit ${status}`}): ${what}${detail}`);
  }
}

/** Options for {@link run}. */
export interface RunOptions {
  /** Kill the command after this many milliseconds (default 10 000). */
  timeoutMs?: number;
  /** Text written to the command's stdin (which is then closed). */
  input?: string;
}

/** Runs a command without a shell and resolves with its output; rejects with {@link CommandError}. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandOutput> {
  const timeout = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const child = execFile(command, [...args], { timeout, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ stdout, stderr });
          return;
        }
        const code = (err as NodeJS.ErrnoException & { code?: unknown }).code;
        const status = typeof code === 'number' ? code : null;
        const reason = err.killed ? `killed after ${timeout} ms` : typeof code === 'string' ? code : err.message;
        reject(new CommandError(command, args, status, stderr.trim(), reason));
      });
    child.stdin?.on('error', () => undefined); // a command that exits early must not crash us with EPIPE
    child.stdin?.end(options.input ?? '');
  });
}

/**
 * Runs a command synchronously and reports whether it succeeded. Used only by exit-time cleanup, where
 * asynchronous work is impossible; failures are returned, never thrown.
 */
export function runSyncQuiet(command: string, args: readonly string[], timeoutMs = 5_000): boolean {
  const res = spawnSync(command, [...args], { stdio: 'ignore', timeout: timeoutMs, killSignal: 'SIGKILL' });
  return res.status === 0;
}
