/**
 * Per-program log files with size-based rotation. The child writes straight into the file
 * (an O_APPEND fd it inherits), so its output never depends on the agent: a daemon that outlives
 * an agent restart keeps logging. Rotation is copy-then-truncate: `f` → `f.1` → ... → `f.<keep>`,
 * then `f` is truncated to 0 and the child's appends continue at the new end. Bytes written
 * between the copy and the truncate are lost (a few at most; documented trade-off).
 */
import { closeSync, copyFileSync, openSync, readSync, renameSync, rmSync, statSync, truncateSync, fstatSync } from 'node:fs';

/** Rotation settings. */
export interface RotationOptions {
  /** Rotate when the file is larger than this (default 10 MiB). */
  readonly maxBytes?: number;
  /** Rotated files kept (default 3). */
  readonly keep?: number;
}

/** One rotated log file. */
export class RotatingLog {
  readonly path: string;
  readonly maxBytes: number;
  readonly keep: number;

  constructor(path: string, opts: RotationOptions = {}) {
    this.path = path;
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.keep = opts.keep ?? 3;
    if (!(this.maxBytes > 0) || !Number.isInteger(this.keep) || this.keep < 0) throw new Error(`bad log rotation settings for ${path}`);
  }

  /** Opens the file for appending (created 0640 if missing); the caller hands the fd to the child and closes its copy. */
  openForChild(): number {
    return openSync(this.path, 'a', 0o640);
  }

  /** Current size (0 when missing). */
  size(): number {
    try {
      return statSync(this.path).size;
    } catch {
      return 0;
    }
  }

  /** Rotates when over the size limit; true when it rotated. */
  rotateIfNeeded(): boolean {
    if (this.size() <= this.maxBytes) return false;
    this.rotate();
    return true;
  }

  /** Rotates now. */
  rotate(): void {
    if (this.keep === 0) {
      truncateSync(this.path, 0);
      return;
    }
    rmSync(`${this.path}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) {
      try {
        renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      } catch {
        // that generation does not exist yet
      }
    }
    copyFileSync(this.path, `${this.path}.1`);
    truncateSync(this.path, 0);
  }

  /** The last `bytes` bytes of the file as text (for error reports). */
  tail(bytes = 2048): string {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return '';
    }
    try {
      const size = fstatSync(fd).size;
      const len = Math.min(size, bytes);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  }
}
