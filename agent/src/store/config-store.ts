/**
 * The config store: the desired state as l3afd writes it (a JSON array of `L3afBPFPrograms`, root
 * programs excluded), kept in one file. Unlike l3afd, writes are atomic (temp file in the same
 * directory, fsync, rename, fsync of the directory), so a crash leaves the old or the new state,
 * never a torn one; and a file that cannot be read is a startup error, not silently dropped.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Value } from 'typebox/value';
import {
  L3afBpfPrograms, checkAddUpdateSemantics, normalizeL3afBpfPrograms, type NormalizedL3afBpfPrograms,
} from '../api/schemas/index.ts';

/** Why the stored state could not be read or written. */
export class StoreError extends Error {
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`config store ${path}: ${message}`, options);
    this.name = 'StoreError';
    this.path = path;
  }
}

/** The largest store file read (a bound against reading something that is not a store). */
const MAX_STORE_BYTES = 64 * 1024 * 1024;

/**
 * Parses and checks store text: a JSON array of `L3afBPFPrograms` that passes the same schema and
 * semantic checks as an add/update body. Returns the elements normalised to l3afd's shape.
 * Throws {@link StoreError} naming the first problems.
 */
export function parseStore(text: string, path = '(text)'): NormalizedL3afBpfPrograms[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new StoreError(path, `is not valid JSON (${err instanceof Error ? err.message : String(err)}); fix or remove the file`, { cause: err });
  }
  if (!Array.isArray(data)) throw new StoreError(path, 'must hold a JSON array of L3afBPFPrograms elements');
  const problems: string[] = [];
  data.forEach((el, i) => {
    for (const e of Value.Errors(L3afBpfPrograms, el)) {
      problems.push(`/${i}${e.instancePath}: ${e.message}`);
      if (problems.length >= 10) break;
    }
  });
  if (problems.length === 0) {
    for (const e of checkAddUpdateSemantics(data as L3afBpfPrograms[])) problems.push(`${e.path}: ${e.message}`);
  }
  if (problems.length > 0) throw new StoreError(path, `does not hold valid desired state: ${problems.slice(0, 10).join('; ')}`);
  return (data as L3afBpfPrograms[]).map(normalizeL3afBpfPrograms);
}

/** One JSON file holding the desired state. */
export class ConfigStore {
  /** Absolute or relative path of the file. */
  readonly path: string;

  constructor(path: string) {
    if (typeof path !== 'string' || path === '') throw new StoreError(String(path), 'path must be a non-empty string');
    this.path = path;
  }

  /** The stored elements, or an empty list when the file does not exist. Throws {@link StoreError}. */
  async read(): Promise<NormalizedL3afBpfPrograms[]> {
    let text: string;
    try {
      const buf = await readFile(this.path);
      if (buf.length > MAX_STORE_BYTES) throw new StoreError(this.path, `is larger than ${MAX_STORE_BYTES} bytes`);
      text = buf.toString('utf8');
    } catch (err) {
      if (err instanceof StoreError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new StoreError(this.path, `cannot be read: ${(err as Error).message}`, { cause: err });
    }
    if (text.trim() === '') throw new StoreError(this.path, 'is empty (a store holds at least "[]"); fix or remove the file');
    return parseStore(text, this.path);
  }

  /**
   * Replaces the file's content with `elements`: written to a temporary file beside it, flushed,
   * renamed over it, and the directory flushed, so readers see the old or the new state.
   */
  async write(elements: readonly NormalizedL3afBpfPrograms[]): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const text = `${JSON.stringify(elements, null, 2)}\n`;
    try {
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(text, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new StoreError(this.path, `cannot be written: ${(err as Error).message}`, { cause: err });
    }
    // Windows cannot flush a directory handle (NTFS journals the rename itself)
    if (process.platform === 'win32') return;
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}
