/**
 * Whole-file replacement that readers never see half done: the content goes to a temporary file beside
 * the target, is flushed, and is renamed over it (then, on Linux, the directory is flushed so the rename
 * survives a crash). The agent's state files (desired state, supervisor, probes) are written this way.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

function tmpPath(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Flushes a directory's entries (a rename in it); Windows has no directory handles to flush (NTFS journals). */
function syncDir(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `file` with `text` atomically (synchronous). */
export function writeFileAtomicSync(file: string, text: string, mode = 0o600): void {
  const tmp = tmpPath(file);
  try {
    writeFileSync(tmp, text, { mode, flag: 'wx' });
    const fd = openSync(tmp, 'r+'); // Windows flushes only a handle opened for writing
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dirname(file));
}

/** Replaces `file` with `text` atomically. */
export async function writeFileAtomic(file: string, text: string, mode = 0o600): Promise<void> {
  const tmp = tmpPath(file);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  syncDir(dirname(file));
}
