/**
 * The audit log of accepted changes (add / update / delete / revert): one JSON line per entry in
 * `<state dir>/audit.jsonl`, rotated by size (`audit.jsonl.1` … `.<keep>`, oldest dropped), ids
 * monotonic across restarts (zero-padded, so they sort as strings), counted in
 * `l3af_audit_entries_total{route,outcome}`. Each line also keeps the desired state of the touched
 * interfaces before the change (what a revert applies); the API never shows it.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, type Registry } from 'prom-client';
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
  /** Registry of the `l3af_audit_entries_total` counter (none: not exported). */
  readonly registry?: Registry;
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
  #counter: Counter<'route' | 'outcome'> | undefined;
  /** Entries recorded by this process per `route\0outcome` (a re-created counter starts from them). */
  readonly #tally = new Map<string, number>();
  readonly #listeners = new Set<(e: AuditEntry) => void>();
  #last = 0;

  constructor(opts: AuditLogOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.#file = join(opts.dir, 'audit.jsonl');
    this.#maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
    this.#keep = opts.keep ?? 4;
    if (opts.registry) this.useRegistry(opts.registry);
    for (const e of this.#read()) this.#last = Math.max(this.#last, Number(e.id) || 0);
  }

  /**
   * Registers `l3af_audit_entries_total` in `registry` (again after observability was re-created,
   * e.g. after a failed hand-over), carrying over what this process counted so far.
   */
  useRegistry(registry: Registry): void {
    const counter = new Counter({ name: 'l3af_audit_entries_total', help: 'Changes recorded in the audit log, by route and outcome.', labelNames: ['route', 'outcome'], registers: [registry] });
    for (const [key, n] of this.#tally) {
      const [route = '', outcome = ''] = key.split('\0');
      counter.inc({ route, outcome }, n);
    }
    this.#counter = counter;
  }

  /** Calls `onEntry` (as the API shows it) after each append; returns the unsubscribe. */
  subscribe(onEntry: (e: AuditEntry) => void): () => void {
    this.#listeners.add(onEntry);
    return () => this.#listeners.delete(onEntry);
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
    const key = `${stored.route}\0${stored.outcome}`;
    this.#tally.set(key, (this.#tally.get(key) ?? 0) + 1);
    this.#counter?.inc({ route: stored.route, outcome: stored.outcome });
    if (this.#listeners.size > 0) {
      const { before: _b, ...shown } = stored;
      for (const l of this.#listeners) {
        try {
          l(shown);
        } catch {
          // an exporter's failure never fails the change it records
        }
      }
    }
    return stored;
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
