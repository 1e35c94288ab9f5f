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
} from '../payload/index.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { messageOf } from '../error-message.ts';

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
    throw new StoreError(path, `is not valid JSON (${messageOf(err)}); fix or remove the file`, { cause: err });
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

  /** The text {@link write} stores for `elements`. */
  static text(elements: readonly NormalizedL3afBpfPrograms[]): string {
    return `${JSON.stringify(elements, null, 2)}\n`;
  }

  /**
   * Reserves the space of a later write of at most `bytes` bytes, before anything else changes:
   * a temporary file beside the store, written with `bytes` bytes and flushed. A full file system
   * fails here (StoreError naming the path and the cause), while nothing was changed yet;
   * {@link Reservation.commit} then writes into the blocks already allocated.
   */
  async reserve(bytes: number): Promise<Reservation> {
    const dir = dirname(this.path);
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await mkdir(dir, { recursive: true });
      const fh = await open(tmp, 'wx', 0o644);
      try {
        const chunk = Buffer.alloc(Math.min(bytes, 1 << 20), 0x20);
        for (let done = 0; done < bytes; done += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, bytes - done), done);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      await rm(tmp, { force: true });
      throw new StoreError(this.path, `cannot be written (reserving ${bytes} bytes in ${dir} failed): ${(err as Error).message}`, { cause: err });
    }
    return new Reservation(this.path, tmp, bytes);
  }

  /**
   * Replaces the file's content with `elements`: written to a temporary file beside it, flushed,
   * renamed over it, and the directory flushed, so readers see the old or the new state.
   */
  async write(elements: readonly NormalizedL3afBpfPrograms[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    try {
      await writeFileAtomic(this.path, ConfigStore.text(elements), 0o644);
    } catch (err) {
      throw new StoreError(this.path, `cannot be written: ${(err as Error).message}`, { cause: err });
    }
  }

}

/** Space held for one write of the store (see {@link ConfigStore.reserve}); commit or release it once. */
export class Reservation {
  #done = false;
  constructor(readonly path: string, readonly tmp: string, readonly bytes: number) {}

  /**
   * Writes `elements` into the reserved file (over the blocks it holds; more only when the text
   * is longer than reserved), flushes it, renames it over the store and flushes the directory.
   */
  async commit(elements: readonly NormalizedL3afBpfPrograms[]): Promise<void> {
    if (this.#done) throw new StoreError(this.path, 'this reservation was already used');
    this.#done = true;
    const text = Buffer.from(ConfigStore.text(elements), 'utf8');
    const dir = dirname(this.path);
    try {
      const fh = await open(this.tmp, 'r+');
      try {
        await fh.write(text, 0, text.length, 0);
        await fh.truncate(text.length);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(this.tmp, this.path);
      // Windows cannot flush a directory handle (NTFS journals the rename itself)
      if (process.platform !== 'win32') {
        const dh = await open(dir, 'r');
        try {
          await dh.sync();
        } finally {
          await dh.close();
        }
      }
    } catch (err) {
      await rm(this.tmp, { force: true });
      throw new StoreError(this.path, `cannot be written: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Gives the space back without writing. */
  async release(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await rm(this.tmp, { force: true });
  }
}
