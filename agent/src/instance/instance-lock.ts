/**
 * Single instance: the PID file (`[l3afd] pid-file`: the pid alone and a newline, as l3afd
 * writes it, so `[ $(cat pidfile) -eq $pid ]` and systemd's PIDFile work) and a lock file in the
 * state directory (`[l3af] state-dir`/agent.lock: the pid, then `start-time <ticks>`). Both are
 * created atomically (a temp file hard-linked into place, which fails when the name exists), so
 * two agents sharing either the PID file or the state directory cannot both start; the second
 * one is refused naming the pid of the first.
 *
 * A stale file — its process dead, or its pid now used by another program (start time differs,
 * or, without a recorded start time, another executable) — is taken over with a log line. The
 * PID file's start time is the one the state lock recorded for the same pid (read before the
 * lock is taken); a PID file in the older two-line form is still read. Both files are removed on
 * a clean stop (and released before a hand-over to another build).
 */
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { self, staleReason, type ProcessIdentity } from './process-identity.ts';
import { messageOf } from '../error-message.ts';
import type { Logger } from '../logger.ts';

/** Another live agent holds the PID file or the state directory. */
export class InstanceConflictError extends Error {
  constructor(readonly file: string, readonly holder: number, readonly what: string) {
    super(`another agent (pid ${holder}) is running with the same ${what} (${file}): stop it first, or give this one its own [l3afd] pid-file and [l3af] state-dir`);
    this.name = 'InstanceConflictError';
  }
}

/** An instance file that cannot be written (a full or read-only file system, no permission): names the file and the cause. */
export class InstanceFileError extends Error {
  constructor(readonly file: string, readonly what: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'ENOSPC' ? ' (the file system holding it is full)' : code === 'EROFS' ? ' (the file system holding it is read-only)' : '';
    super(`the ${what} file ${file} cannot be written${why}: ${messageOf(cause)}`, { cause });
    this.name = 'InstanceFileError';
  }
}

/** Parses a PID / lock file; undefined for an empty file (ignored, as l3afd). */
export function parseRecord(text: string, file: string): ProcessIdentity | undefined {
  const lines = text.split('\n').map((l) => l.trim());
  if ((lines[0] ?? '') === '') return undefined;
  if (!/^\d{1,10}$/.test(lines[0] ?? '')) throw new Error(`${file}: first line is not a pid (${JSON.stringify(lines[0]?.slice(0, 40))}): remove the file if no agent is running`);
  const pid = Number(lines[0]);
  const st = /^start-time (\d+)$/.exec(lines[1] ?? '');
  return st ? { pid, startTime: st[1] } : { pid };
}

/** The state lock's record: pid and start time. */
function formatRecord(rec: Required<ProcessIdentity>): string {
  return `${rec.pid}\nstart-time ${rec.startTime}\n`;
}

/** The PID file's record: the pid alone (l3afd's format). */
function formatPid(rec: ProcessIdentity): string {
  return `${rec.pid}\n`;
}

/** Creates `file` holding `text` if it does not exist; false when it exists. */
function createExclusive(file: string, text: string): boolean {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The PID file and the state-directory lock, held by this process. */
export class InstanceLock {
  readonly #files: { file: string; what: string; format: (rec: Required<ProcessIdentity>) => string }[];
  readonly #log: Logger;
  readonly #record: Required<ProcessIdentity>;
  #held: string[] = [];

  constructor(opts: { pidFile: string; stateDir: string; logger: Logger }) {
    this.#files = [
      { file: join(opts.stateDir, 'agent.lock'), what: 'state directory', format: formatRecord },
      { file: opts.pidFile, what: 'PID file', format: formatPid },
    ];
    this.#log = opts.logger;
    this.#record = self();
  }

  /** The lock file inside the state directory. */
  get lockFile(): string {
    return this.#files[0]?.file ?? '';
  }

  /** Takes both files (throws InstanceConflictError naming the other pid; releases what it took on failure). */
  acquire(): void {
    // the start time of the process the state lock names, for judging a PID file naming the same pid
    let known: ProcessIdentity | undefined;
    try {
      const text = readOrUndefined(this.lockFile);
      known = text === undefined ? undefined : parseRecord(text, this.lockFile);
    } catch {
      known = undefined;
    }
    try {
      for (const f of this.#files) {
        try {
          this.#take(f.file, f.what, f.format(this.#record), known);
        } catch (err) {
          if (err instanceof InstanceConflictError || !(err as NodeJS.ErrnoException).code) throw err;
          throw new InstanceFileError(f.file, f.what, err);
        }
      }
    } catch (err) {
      this.release();
      throw err;
    }
  }

  #take(file: string, what: string, mine: string, known: ProcessIdentity | undefined): void {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (createExclusive(file, mine)) {
        this.#held.push(file);
        return;
      }
      const text = readOrUndefined(file);
      if (text === undefined) continue; // removed meanwhile: try again
      const read = parseRecord(text, file);
      const rec = read !== undefined && read.startTime === undefined && known?.pid === read.pid && known.startTime !== undefined
        ? { pid: read.pid, startTime: known.startTime } : read;
      if (rec !== undefined && rec.pid === process.pid) {
        writeFileSync(file, mine);
        this.#held.push(file);
        return;
      }
      const stale = rec === undefined ? 'the file is empty' : staleReason(rec);
      if (stale === undefined) throw new InstanceConflictError(file, rec?.pid ?? 0, what);
      // take over only the file we judged (another agent may have taken it over meanwhile)
      if (readOrUndefined(file) === text) {
        try { unlinkSync(file); } catch { /* gone already */ }
        this.#log.warn({ file, stalePid: rec?.pid, reason: stale }, `stale ${what} taken over`);
      }
    }
    throw new Error(`${file}: could not be taken after 3 attempts (another agent starting at the same time?)`);
  }

  /** Removes the files this process holds (only if they still name this process). */
  release(): void {
    for (const file of this.#held.reverse()) {
      try {
        const text = readOrUndefined(file);
        if (text !== undefined && parseRecord(text, file)?.pid === process.pid) unlinkSync(file);
      } catch (err) {
        this.#log.warn({ file, err: messageOf(err) }, 'could not remove the instance file');
      }
    }
    this.#held = [];
  }

  /** Whether the files are held. */
  get held(): boolean {
    return this.#held.length === this.#files.length;
  }
}
