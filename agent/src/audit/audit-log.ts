/**
 * The audit log of accepted changes (add / update / delete / revert): one JSON line per entry in
 * `<state dir>/audit.jsonl`, rotated by size (`audit.jsonl.1` … `.<keep>`, oldest dropped), ids
 * monotonic across restarts (zero-padded, so they sort as strings), counted by route and outcome (exported
 * as `l3af_audit_entries_total` by metrics/audit-metrics.ts) and told to a listener (OTel logs). Each line also keeps the desired state of the touched
 * interfaces before the change (what a revert applies); the API never shows it.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEntry, AuditPage, NormalizedL3afBpfPrograms } from '../payload/index.ts';

/** An entry as stored: the API's entry plus the state before it. */
export interface StoredAuditEntry extends AuditEntry {
  readonly before: NormalizedL3afBpfPrograms[];
}

export interface AuditLogOptions {
  /** Folder of audit.jsonl (the agent's state dir). */
  readonly dir: string;
  /** Size at which the file rotates (default 4 MiB). */
  readonly maxBytes?: number;
  /** Rotated files kept (default 4). */
  readonly keep?: number;
  /** Told every entry as it is stored (the agent exports them as OTel logs); its errors are the caller's. */
  readonly onAppend?: (entry: AuditEntry) => void;
}

/** Entries recorded by this process, per route and outcome. */
export interface AuditCount {
  readonly route: string;
  readonly outcome: string;
  readonly value: number;
}

export interface AuditFilter {
  readonly iface?: string;
  /** Epoch ms: entries at or after. */
  readonly since?: number;
  /** Epoch ms: entries before. */
  readonly until?: number;
  readonly limit?: number;
  /** Entries older than this id (a previous page's next_cursor). */
  readonly cursor?: string;
}

const ID_WIDTH = 16;

export class AuditLog {
  readonly #file: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #counts = new Map<string, AuditCount>();
  readonly #onAppend: ((entry: AuditEntry) => void) | undefined;
  #last = 0;

  constructor(opts: AuditLogOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.#file = join(opts.dir, 'audit.jsonl');
    this.#maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
    this.#keep = opts.keep ?? 4;
    this.#onAppend = opts.onAppend;
    for (const e of this.#read()) this.#last = Math.max(this.#last, Number(e.id) || 0);
  }

  get path(): string {
    return this.#file;
  }

  /** Records `entry` (id and time given here); returns it as stored. */
  append(entry: Omit<StoredAuditEntry, 'id' | 'time'>): StoredAuditEntry {
    this.#last += 1;
    const stored: StoredAuditEntry = { id: String(this.#last).padStart(ID_WIDTH, '0'), time: new Date().toISOString(), ...entry };
    const line = `${JSON.stringify(stored)}\n`;
    if (existsSync(this.#file) && statSync(this.#file).size + Buffer.byteLength(line) > this.#maxBytes) this.#rotate();
    appendFileSync(this.#file, line, { mode: 0o600 });
    const key = `${stored.route}\u0000${stored.outcome}`;
    this.#counts.set(key, { route: stored.route, outcome: stored.outcome, value: (this.#counts.get(key)?.value ?? 0) + 1 });
    const { before: _before, ...shown } = stored;
    this.#onAppend?.(shown);
    return stored;
  }

  /** Entries recorded since this process started, per route and outcome. */
  counts(): AuditCount[] {
    return [...this.#counts.values()];
  }

  /** The entry `id` as stored (with the state before it), if the log still holds it. */
  get(id: string): StoredAuditEntry | undefined {
    return this.#read().find((e) => e.id === id);
  }

  /** A page of entries, newest first. */
  list(f: AuditFilter = {}): AuditPage {
    const limit = f.limit ?? 100;
    const all = this.#read()
      .filter((e) => (f.iface === undefined || e.ifaces.includes(f.iface))
        && (f.since === undefined || Date.parse(e.time) >= f.since)
        && (f.until === undefined || Date.parse(e.time) < f.until)
        && (f.cursor === undefined || e.id < f.cursor))
      .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const page = all.slice(0, limit).map(({ before: _b, ...e }) => e);
    return { entries: page, next_cursor: all.length > limit ? (page.at(-1)?.id ?? null) : null };
  }

  #files(): string[] {
    const out: string[] = [];
    for (let i = this.#keep; i >= 1; i--) out.push(`${this.#file}.${i}`);
    out.push(this.#file);
    return out.filter((p) => existsSync(p));
  }

  #read(): StoredAuditEntry[] {
    const out: StoredAuditEntry[] = [];
    for (const p of this.#files()) {
      for (const line of readFileSync(p, 'utf8').split('\n')) {
        if (line.trim() === '') continue;
        try {
          out.push(JSON.parse(line) as StoredAuditEntry);
        } catch {
          // a torn last line (crash while appending) is skipped
        }
      }
    }
    return out;
  }

  #rotate(): void {
    rmSync(`${this.#file}.${this.#keep}`, { force: true });
    for (let i = this.#keep - 1; i >= 1; i--) {
      if (existsSync(`${this.#file}.${i}`)) renameSync(`${this.#file}.${i}`, `${this.#file}.${i + 1}`);
    }
    renameSync(this.#file, `${this.#file}.1`);
  }
}
