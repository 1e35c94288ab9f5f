/**
 * A private bpffs per test: mounted on a fresh temporary directory, unmounted and removed on dispose (or at
 * process exit if the test never got that far). Pins made inside vanish with the mount.
 */
import { mkdtemp, rmdir, statfs } from 'node:fs/promises';
import { rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, isAbsolute } from 'node:path';
import { run, runSyncQuiet } from './exec.ts';
import { registerExitCleanup } from './cleanup.ts';
import { mountsAt } from './system.ts';

/** statfs f_type of a bpffs (BPF_FS_MAGIC in linux/magic.h). */
export const BPF_FS_MAGIC = 0xcafe4a11;

/** A bpffs mounted on a temporary directory owned by one test. */
export class PrivateBpffs {
  #disposed = false;
  readonly #unregister: () => void;

  private constructor(
    /** The mount point (an absolute path under the OS temp directory). */
    readonly path: string,
  ) {
    this.#unregister = registerExitCleanup(`bpffs ${path}`, () => {
      if (!runSyncQuiet('umount', [path])) runSyncQuiet('umount', ['-l', path]);
      try {
        rmdirSync(path);
      } catch {
        // best effort
      }
    });
  }

  /** Makes a temporary directory and mounts a new bpffs instance on it; checks that it really is a bpffs. */
  static async create(): Promise<PrivateBpffs> {
    const dir = await mkdtemp(join(tmpdir(), `l3af-bpffs-${process.pid}-`));
    try {
      await run('mount', ['-t', 'bpf', 'bpf', dir]);
    } catch (err) {
      await rmdir(dir).catch(() => undefined);
      throw err;
    }
    const fs = new PrivateBpffs(dir);
    const st = await statfs(dir).catch(async (err: unknown) => {
      await fs.dispose();
      throw err;
    });
    if (st.type !== BPF_FS_MAGIC) {
      await fs.dispose();
      throw new Error(`mounted bpffs at ${dir} but statfs reports type 0x${st.type.toString(16)}, not bpffs`);
    }
    return fs;
  }

  /** A path inside the mount; refuses parts that would leave it. */
  join(...parts: string[]): string {
    const p = join(this.path, ...parts);
    const rel = relative(this.path, p);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new Error(`bpffs path ${JSON.stringify(parts.join('/'))} is not inside ${this.path}`);
    }
    return p;
  }

  /** True until {@link dispose} has run. */
  get mounted(): boolean {
    return !this.#disposed;
  }

  /**
   * Unmounts (lazily if the mount is busy) and removes the directory. Idempotent. The directory is removed with
   * rmdir only, never recursively, so a failed unmount can never delete pinned objects through the mount.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    try {
      for (let i = 0; i < 8 && mountsAt(this.path).length > 0; i++) {
        try {
          await run('umount', [this.path]);
        } catch {
          await run('umount', ['-l', this.path]);
        }
      }
      await rmdir(this.path);
    } finally {
      this.#unregister();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Runs `fn` with a fresh private bpffs and disposes of it afterwards, also when `fn` throws. */
export async function withBpffs<T>(fn: (bpffs: PrivateBpffs) => Promise<T> | T): Promise<T> {
  const bpffs = await PrivateBpffs.create();
  try {
    return await fn(bpffs);
  } finally {
    await bpffs.dispose();
  }
}
