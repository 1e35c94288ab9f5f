/**
 * Safe extraction of package archives (`.tar.gz` through `tar`, `.zip` through `yauzl`). Each
 * archive is checked completely first ({@link ArchiveChecker}); only then is it written, into a
 * folder the caller owns (normally a temporary one that is renamed into place afterwards).
 * Extracted files keep their permission bits minus setuid/setgid/sticky and group/other write.
 */
import { createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, readdir, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar';
import yauzl from 'yauzl';
import { ArchiveChecker, type EntryInfo, type EntryKind, type ExtractLimits } from './entry-check.ts';
import { ArtifactError } from './errors.ts';

/** Archive formats by file-name suffix (as l3afd decides). */
export type ArchiveFormat = 'tar.gz' | 'zip';

/** The format of an artifact file name, or undefined for unsupported suffixes. */
export function archiveFormat(artifact: string): ArchiveFormat | undefined {
  if (artifact.endsWith('.tar.gz')) return 'tar.gz';
  if (artifact.endsWith('.zip')) return 'zip';
  return undefined;
}

function tarKind(type: string): EntryKind {
  switch (type) {
    case 'File': case 'OldFile': case 'ContiguousFile': return 'file';
    case 'Directory': return 'directory';
    case 'SymbolicLink': return 'symlink';
    case 'Link': return 'hardlink';
    case 'CharacterDevice': case 'BlockDevice': case 'FIFO': return 'device';
    default: return 'other';
  }
}

/** Checks then extracts a gzip-compressed tar archive into `dest` (created; must not exist). */
export async function extractTarGz(file: string, dest: string, limits: ExtractLimits, url: string): Promise<{ entries: number; bytes: number }> {
  const checker = new ArchiveChecker(url, limits);
  let failure: unknown;
  try {
    await tar.list({
      file,
      strict: true,
      onReadEntry: (entry) => {
        if (failure) return;
        try {
          checker.add({ path: entry.path, kind: tarKind(entry.type), size: entry.size ?? 0, linkpath: entry.linkpath });
        } catch (e) {
          failure = e;
        }
      },
    });
  } catch (e) {
    if (failure) throw failure;
    throw new ArtifactError('BAD_ARCHIVE', url, `not a readable .tar.gz: ${(e as Error).message}`, { cause: e });
  }
  if (failure) throw failure;
  const totals = checker.finish();
  await mkdir(dest, { recursive: false });
  try {
    await tar.extract({ file, cwd: dest, strict: true, preserveOwner: false, preservePaths: false });
  } catch (e) {
    throw new ArtifactError('BAD_ARCHIVE', url, `extracting failed: ${(e as Error).message}`, { cause: e });
  }
  await sanitizeModes(dest);
  return totals;
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true, strictFileNames: false }, (err, zf) => {
      if (err || !zf) reject(err ?? new Error('cannot open zip'));
      else resolve(zf);
    });
  });
}

function openEntry(zf: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zf.openReadStream(entry, (err, stream) => {
      if (err || !stream) reject(err ?? new Error('cannot read entry'));
      else resolve(stream);
    });
  });
}

async function readSmall(stream: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > limit) {
      stream.destroy();
      throw new Error(`link target longer than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Iterates the entries of a zip one at a time (lazyEntries), awaiting `visit` for each. */
async function eachZipEntry(zf: yauzl.ZipFile, visit: (e: yauzl.Entry) => Promise<void>): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let done = false;
    const fail = (e: unknown) => {
      if (done) return;
      done = true;
      reject(e);
    };
    zf.on('error', fail);
    zf.on('end', () => {
      if (!done) {
        done = true;
        resolve();
      }
    });
    zf.on('entry', (entry: yauzl.Entry) => {
      visit(entry).then(() => zf.readEntry(), fail);
    });
    zf.readEntry();
  });
}

function zipMode(entry: yauzl.Entry): number {
  const madeByUnix = entry.versionMadeBy >> 8 === 3;
  return madeByUnix ? (entry.externalFileAttributes >>> 16) & 0xffff : 0;
}

function zipKind(entry: yauzl.Entry): EntryKind {
  if (entry.fileName.endsWith('/')) return 'directory';
  const type = zipMode(entry) & 0o170000;
  switch (type) {
    case 0: case 0o100000: return 'file';
    case 0o040000: return 'directory';
    case 0o120000: return 'symlink';
    case 0o020000: case 0o060000: case 0o010000: case 0o140000: return 'device';
    default: return 'other';
  }
}

function zipError(e: unknown, url: string): ArtifactError {
  if (e instanceof ArtifactError) return e;
  const msg = (e as Error).message ?? String(e);
  if (/invalid relative path|absolute path|invalid characters in fileName/i.test(msg)) {
    return new ArtifactError('UNSAFE_ENTRY', url, `unsafe zip entry: ${msg}`, { cause: e });
  }
  return new ArtifactError('BAD_ARCHIVE', url, `not a readable .zip: ${msg}`, { cause: e });
}

/** Checks then extracts a zip archive into `dest` (created; must not exist). */
export async function extractZip(file: string, dest: string, limits: ExtractLimits, url: string): Promise<{ entries: number; bytes: number }> {
  const checker = new ArchiveChecker(url, limits);
  const links = new Map<string, string>();
  let zf: yauzl.ZipFile | undefined;
  try {
    zf = await openZip(file);
    if (zf.entryCount > limits.maxEntries) throw new ArtifactError('TOO_LARGE', url, `archive has ${zf.entryCount} entries (limit ${limits.maxEntries})`);
    const z = zf;
    await eachZipEntry(z, async (entry) => {
      const kind = zipKind(entry);
      const info: EntryInfo = { path: entry.fileName, kind, size: entry.uncompressedSize };
      if (kind === 'symlink') info.linkpath = await readSmall(await openEntry(z, entry), 4096);
      const path = checker.add(info);
      if (kind === 'symlink' && info.linkpath !== undefined) links.set(path, info.linkpath);
    });
  } catch (e) {
    throw zipError(e, url);
  } finally {
    zf?.close();
  }
  const totals = checker.finish();
  await mkdir(dest, { recursive: false });
  try {
    zf = await openZip(file);
    const z = zf;
    await eachZipEntry(z, async (entry) => {
      const kind = zipKind(entry);
      const rel = entry.fileName.split('/').filter((p) => p !== '' && p !== '.').join('/');
      if (rel === '') return;
      const target = join(dest, rel);
      if (kind === 'directory') {
        await mkdir(target, { recursive: true });
        return;
      }
      await mkdir(dirname(target), { recursive: true });
      if (kind === 'symlink') {
        await symlink(links.get(rel) ?? '', target);
        return;
      }
      const mode = (zipMode(entry) & 0o777) || 0o644;
      await pipeline(await openEntry(z, entry), createWriteStream(target, { flags: 'wx', mode }));
    });
  } catch (e) {
    throw zipError(e, url);
  } finally {
    zf?.close();
  }
  await sanitizeModes(dest);
  return totals;
}

/** Clears setuid/setgid/sticky and group/other write bits of everything under `root` (links untouched). */
export async function sanitizeModes(root: string): Promise<void> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (e.isSymbolicLink()) continue;
    const p = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    const st = await lstat(p);
    const mode = st.mode & 0o7777;
    const safe = mode & 0o755 & ~0o7000;
    if (safe !== mode) await chmod(p, safe | (e.isDirectory() ? 0o700 : 0o600));
  }
}
