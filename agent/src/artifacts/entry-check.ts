/**
 * Safety rules for archive entries, shared by the tar and zip extractors. An archive is checked
 * completely before anything is written: every entry path must stay inside the extraction folder,
 * links must point inside it, no entry may live under a symbolic link of the archive, no device
 * or FIFO entries, and the entry count and total uncompressed size are bounded.
 */
import { posix } from 'node:path';
import { ArtifactError } from './errors.ts';

/** Bounds applied to one archive. */
export interface ExtractLimits {
  /** Largest sum of uncompressed entry sizes. */
  maxBytes: number;
  /** Most entries (files, directories, links). */
  maxEntries: number;
  /** Largest single entry (default: maxBytes). */
  maxEntryBytes?: number;
  /**
   * Largest expansion of the archive file (decompressed bytes / archive bytes) once more than
   * {@link RATIO_FLOOR} bytes came out (default {@link DEFAULT_MAX_RATIO}).
   */
  maxRatio?: number;
}

/** Expansion below this many bytes is never refused for its ratio (small archives compress well). */
export const RATIO_FLOOR = 32 * 1024 * 1024;
/** Default largest expansion ratio; a gzip of zeros expands about 1000 times, real packages 2 to 20. */
export const DEFAULT_MAX_RATIO = 200;

/** Kind of an archive entry after classification. */
export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'device' | 'other';

/** One entry as the checker sees it. */
export interface EntryInfo {
  path: string;
  kind: EntryKind;
  size: number;
  /** Symlink target (relative to the link's folder) or hardlink target (relative to the archive root). */
  linkpath?: string;
}

/**
 * Normalises an entry path (`./a//b/` → `a/b`) and refuses absolute paths, drive letters,
 * backslashes, NUL and `..` segments. Returns "" for the archive root itself (`./`).
 */
export function safeEntryPath(raw: string, url: string): string {
  if (raw.includes('\0')) throw new ArtifactError('UNSAFE_ENTRY', url, `entry name contains NUL: ${JSON.stringify(raw)}`);
  if (raw.includes('\\')) throw new ArtifactError('UNSAFE_ENTRY', url, `entry name contains a backslash: ${JSON.stringify(raw)}`);
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw new ArtifactError('UNSAFE_ENTRY', url, `absolute entry path ${JSON.stringify(raw)}`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ArtifactError('UNSAFE_ENTRY', url, `entry path with "..": ${JSON.stringify(raw)}`);
  return parts.join('/');
}

/** Collects entries and checks the archive as a whole. */
export class ArchiveChecker {
  private count = 0;
  private bytes = 0;
  private readonly entries: EntryInfo[] = [];
  private readonly url: string;
  private readonly limits: ExtractLimits;

  constructor(url: string, limits: ExtractLimits) {
    this.url = url;
    this.limits = limits;
  }

  /** Adds one entry; throws on the first rule it breaks. Returns its normalised path. */
  add(e: EntryInfo): string {
    const path = safeEntryPath(e.path, this.url);
    this.count += 1;
    if (this.count > this.limits.maxEntries) {
      throw new ArtifactError('TOO_LARGE', this.url, `archive has more than ${this.limits.maxEntries} entries`);
    }
    this.bytes += Math.max(0, e.size);
    if (this.bytes > this.limits.maxBytes) {
      throw new ArtifactError('TOO_LARGE', this.url, `archive expands to more than ${this.limits.maxBytes} bytes`);
    }
    const maxEntry = this.limits.maxEntryBytes ?? this.limits.maxBytes;
    if (e.size > maxEntry) {
      throw new ArtifactError('TOO_LARGE', this.url, `entry ${JSON.stringify(e.path)} is ${e.size} bytes (limit ${maxEntry} per entry)`);
    }
    if (e.kind === 'device') throw new ArtifactError('UNSAFE_ENTRY', this.url, `device or FIFO entry ${JSON.stringify(e.path)}`);
    if (e.kind === 'other') throw new ArtifactError('UNSAFE_ENTRY', this.url, `unsupported entry type for ${JSON.stringify(e.path)}`);
    if (e.kind === 'symlink' || e.kind === 'hardlink') {
      const target = e.linkpath ?? '';
      if (target === '' || target.startsWith('/') || target.includes('\0') || target.includes('\\')) {
        throw new ArtifactError('UNSAFE_ENTRY', this.url, `link ${JSON.stringify(e.path)} -> ${JSON.stringify(target)} points outside the package`);
      }
      const base = e.kind === 'symlink' ? posix.dirname(path) : '.';
      const resolved = posix.normalize(posix.join(base, target));
      if (resolved === '..' || resolved.startsWith('../') || path === '') {
        throw new ArtifactError('UNSAFE_ENTRY', this.url, `link ${JSON.stringify(e.path)} -> ${JSON.stringify(target)} points outside the package`);
      }
    }
    this.entries.push({ ...e, path });
    return path;
  }

  /** Final rules that need every entry: nothing may live under a symbolic link of the archive. */
  finish(): { entries: number; bytes: number } {
    const links = new Set(this.entries.filter((e) => e.kind === 'symlink').map((e) => e.path));
    for (const e of this.entries) {
      const parts = e.path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const prefix = parts.slice(0, i).join('/');
        if (links.has(prefix)) {
          throw new ArtifactError('UNSAFE_ENTRY', this.url, `entry ${JSON.stringify(e.path)} lies under symbolic link ${JSON.stringify(prefix)}`);
        }
      }
      if (e.kind === 'hardlink' && links.has(posix.normalize(e.linkpath ?? ''))) {
        throw new ArtifactError('UNSAFE_ENTRY', this.url, `hard link ${JSON.stringify(e.path)} targets symbolic link ${JSON.stringify(e.linkpath)}`);
      }
    }
    return { entries: this.count, bytes: this.bytes };
  }
}
