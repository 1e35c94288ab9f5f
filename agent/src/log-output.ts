/**
 * Where and how the agent's log lines go, after l3afd's `[l3afd]` keys:
 *
 * - `json-format-logs`: true = one JSON object per line; false = console lines
 *   (`<time> <LVL> <msg> key=value ...`), as l3afd's console writer prints them;
 * - `file-log-location`: when set, every line also goes to that file, rotated by size
 *   (`file-log-max-size`, MB) into `<file>.1` … `<file>.<file-log-max-backups>` (0 = keep all),
 *   rotated files older than `file-log-max-age` days removed (0 = no age limit), as lumberjack
 *   does for l3afd.
 *
 * The sink is synchronous (lines are never lost at exit), like the agent's stdout destination.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** File logging settings (l3afd's file-log-* keys). */
export interface LogFileOptions {
  readonly path: string;
  /** Rotate when the file would grow past this many bytes. */
  readonly maxBytes: number;
  /** Rotated files kept; 0 = all. */
  readonly maxBackups: number;
  /** Rotated files older than this many days are removed; 0 = no limit. */
  readonly maxAgeDays: number;
}

const LEVELS: Record<number, string> = { 10: 'TRC', 20: 'DBG', 30: 'INF', 40: 'WRN', 50: 'ERR', 60: 'FTL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'name', 'hostname']);

function show(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v) ?? String(v);
}

/** One pino JSON line as a console line (`<time> <LVL> <msg> key=value ...`); non-JSON text is passed through. */
export function consoleLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const fields = Object.entries(o).filter(([k]) => !HIDDEN.has(k)).map(([k, v]) => `${k}=${show(v)}`);
  const level = LEVELS[Number(o.level)] ?? String(o.level);
  return `${String(o.time ?? '')} ${level} ${String(o.msg ?? '')}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}\n`;
}

/** A size-rotated, age-pruned log file written synchronously. */
export class RotatingFile {
  readonly opts: LogFileOptions;
  #fd: number;
  #size: number;

  constructor(opts: LogFileOptions) {
    if (!(opts.maxBytes > 0)) throw new RangeError(`file-log-max-size must be positive (got ${opts.maxBytes} bytes)`);
    this.opts = opts;
    mkdirSync(dirname(opts.path), { recursive: true });
    this.#fd = openSync(opts.path, 'a', 0o640);
    this.#size = fstatSync(this.#fd).size;
    this.#prune();
  }

  write(text: string): void {
    const bytes = Buffer.byteLength(text);
    if (this.#size > 0 && this.#size + bytes > this.opts.maxBytes) this.#rotate();
    writeSync(this.#fd, text);
    this.#size += bytes;
  }

  /** The rotated files present, newest first. */
  backups(): string[] {
    const dir = dirname(this.opts.path);
    const base = basename(this.opts.path);
    return readdirSync(dir)
      .map((f) => ({ f, n: f.startsWith(`${base}.`) ? Number(f.slice(base.length + 1)) : Number.NaN }))
      .filter((x) => Number.isInteger(x.n) && x.n > 0)
      .sort((a, b) => a.n - b.n)
      .map((x) => join(dir, x.f));
  }

  #rotate(): void {
    closeSync(this.#fd);
    const existing = this.backups();
    for (let i = existing.length; i >= 1; i--) renameSync(`${this.opts.path}.${i}`, `${this.opts.path}.${i + 1}`);
    renameSync(this.opts.path, `${this.opts.path}.1`);
    this.#fd = openSync(this.opts.path, 'a', 0o640);
    this.#size = 0;
    this.#prune();
  }

  #prune(): void {
    const now = Date.now();
    this.backups().forEach((f, i) => {
      const tooMany = this.opts.maxBackups > 0 && i >= this.opts.maxBackups;
      let tooOld = false;
      if (this.opts.maxAgeDays > 0) {
        try {
          tooOld = now - statSync(f).mtimeMs > this.opts.maxAgeDays * 86_400_000;
        } catch {
          tooOld = false;
        }
      }
      if (tooMany || tooOld) rmSync(f, { force: true });
    });
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** A pino destination: JSON or console lines to `fd` (stdout), and to a rotating file when given. */
export class LogSink {
  readonly #json: boolean;
  readonly #fd: number;
  readonly #file: RotatingFile | undefined;

  constructor(opts: { json: boolean; fd?: number; file?: LogFileOptions }) {
    this.#json = opts.json;
    this.#fd = opts.fd ?? 1;
    this.#file = opts.file ? new RotatingFile(opts.file) : undefined;
  }

  write(line: string): boolean {
    const text = this.#json ? line : consoleLine(line);
    writeSync(this.#fd, text);
    this.#file?.write(text);
    return true;
  }
}
