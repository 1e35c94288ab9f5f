/**
 * Safe extraction of package archives (`.tar.gz` through `tar`, `.zip` through `yauzl`). Each
 * archive is checked completely first ({@link ArchiveChecker}); only then is it written, into a
 * folder the caller owns (normally a temporary one that is renamed into place afterwards).
 * Extracted files keep their permission bits minus setuid/setgid/sticky and group/other write.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, readdir, realpath, stat, symlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar';
import { createGunzip } from 'node:zlib';
import yauzl from 'yauzl';
import { ArchiveChecker, DEFAULT_MAX_RATIO, RATIO_FLOOR, type EntryInfo, type EntryKind, type ExtractLimits } from './entry-check.ts';
import { ArtifactError } from './errors.ts';

export { archiveFormat, type ArchiveFormat } from './archive-format.ts';

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

/** The events of node-tar's Parser / Unpack that {@link feedTar} waits on. */
type TarSink = tar.Parser;

/**
 * Streams the gzip `file` through zlib into `sink` (a node-tar Parser or Unpack that must not
 * decompress again), enforcing the limits as bytes flow: the decompressed tar stream is bounded
 * (entry data plus header and padding blocks), the expansion ratio is bounded once past
 * {@link RATIO_FLOOR}, nested compression is refused, and feeding stops at the tar end-of-archive
 * marker (node-tar buffers, quadratically, everything written after it). Memory stays at a few
 * stream buffers (64 KiB reads) whatever the archive's size.
 */
async function feedTar(file: string, sink: TarSink, limits: ExtractLimits, url: string): Promise<void> {
  const { size } = await stat(file);
  const bound = limits.maxBytes + 1024 * (limits.maxEntries + 2);
  const maxRatio = limits.maxRatio ?? DEFAULT_MAX_RATIO;
  let eof = false;
  let failure: unknown;
  const finished = new Promise<void>((resolve, reject) => {
    sink.on('eof', () => { eof = true; });
    sink.on('end', () => resolve());
    sink.on('error', (e: unknown) => {
      failure ??= e;
      reject(e);
    });
  });
  finished.catch(() => undefined);
  const gunzip = createGunzip({ chunkSize: 64 * 1024 });
  const source = createReadStream(file, { highWaterMark: 64 * 1024 });
  source.on('error', (e) => gunzip.destroy(e));
  source.pipe(gunzip);
  let out = 0;
  try {
    for await (const c of gunzip) {
      const chunk = c as Buffer;
      if (out === 0 && chunk.length >= 2 && ((chunk[0] === 0x1f && chunk[1] === 0x8b) || chunk.readUInt32LE(0) === 0xfd2fb528)) {
        throw new ArtifactError('BAD_ARCHIVE', url, 'the .tar.gz holds another compressed stream, not a tar');
      }
      out += chunk.length;
      if (out > bound) throw new ArtifactError('TOO_LARGE', url, `archive expands to more than ${bound} bytes`);
      if (out > RATIO_FLOOR && out > maxRatio * Math.max(size, 1)) {
        throw new ArtifactError('TOO_LARGE', url, `archive expands more than ${maxRatio} times its ${size} bytes`);
      }
      if (failure || eof) break;
      if (!sink.write(chunk)) {
        await new Promise<void>((resolve) => {
          const go = (): void => {
            sink.off('drain', go); sink.off('eof', go); sink.off('error', go); sink.off('end', go);
            resolve();
          };
          sink.on('drain', go); sink.on('eof', go); sink.on('error', go); sink.on('end', go);
        });
      }
      if (failure || eof) break;
    }
  } catch (e) {
    sink.abort(e instanceof Error ? e : new Error(String(e)));
    if (e instanceof ArtifactError) throw e;
    throw new ArtifactError('BAD_ARCHIVE', url, `not a readable .tar.gz: ${(e as Error).message}`, { cause: e });
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  if (failure) throw failure;
  sink.end();
  await finished;
}

/**
 * Checks then extracts a gzip-compressed tar archive into `dest` (created; must not exist): a
 * first streaming pass lists and checks every entry, a second writes them; both bounded by
 * {@link feedTar}. Links are then resolved for real ({@link checkLinks}).
 */
export async function extractTarGz(file: string, dest: string, limits: ExtractLimits, url: string): Promise<{ entries: number; bytes: number }> {
  const checker = new ArchiveChecker(url, limits);
  let failure: unknown;
  const lister = new tar.Parser({
    strict: true,
    maxMetaEntrySize: 64 * 1024,
    onReadEntry: (entry) => {
      entry.resume();
      if (failure) return;
      try {
        checker.add({ path: entry.path, kind: tarKind(entry.type), size: entry.size ?? 0, linkpath: entry.linkpath });
      } catch (e) {
        failure = e;
        lister.abort(e as Error);
      }
    },
  });
  try {
    await feedTar(file, lister, limits, url);
  } catch (e) {
    if (failure) throw failure;
    if (e instanceof ArtifactError) throw e;
    throw new ArtifactError('BAD_ARCHIVE', url, `not a readable .tar.gz: ${(e as Error).message}`, { cause: e });
  }
  if (failure) throw failure;
  const totals = checker.finish();
  await mkdir(dest, { recursive: false });
  try {
    await feedTar(file, new tar.Unpack({ cwd: dest, strict: true, preserveOwner: false, preservePaths: false, maxMetaEntrySize: 64 * 1024 }), limits, url);
  } catch (e) {
    if (e instanceof ArtifactError) throw e;
    // node-tar refuses on its own to write through, or link through, a symbolic link
    if ((e as { code?: string }).code === 'TAR_SYMLINK_ERROR') throw new ArtifactError('UNSAFE_ENTRY', url, `link through a symbolic link: ${(e as Error).message}`, { cause: e });
    throw new ArtifactError('BAD_ARCHIVE', url, `extracting failed: ${(e as Error).message}`, { cause: e });
  }
  await checkLinks(dest, url);
  await sanitizeModes(dest);
  return totals;
}

/**
 * Resolves every symbolic link under `root` for real (the whole chain, through other links and
 * `..`) and refuses the package when one does not resolve, or resolves outside `root`: a chain of
 * links that each look inside on their own can still lead out.
 */
export async function checkLinks(root: string, url: string): Promise<void> {
  const realRoot = await realpath(root);
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isSymbolicLink()) continue;
    const p = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    const shown = relative(root, p);
    let real: string;
    try {
      real = await realpath(p);
    } catch (err) {
      throw new ArtifactError('UNSAFE_ENTRY', url, `link ${JSON.stringify(shown)} does not resolve inside the package (${(err as { code?: string }).code ?? (err as Error).message})`, { cause: err });
    }
    if (real !== realRoot && !real.startsWith(realRoot + sep)) {
      throw new ArtifactError('UNSAFE_ENTRY', url, `link ${JSON.stringify(shown)} resolves outside the package`);
    }
  }
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
  const { size } = await stat(file);
  const maxRatio = limits.maxRatio ?? DEFAULT_MAX_RATIO;
  if (totals.bytes > RATIO_FLOOR && totals.bytes > maxRatio * Math.max(size, 1)) {
    throw new ArtifactError('TOO_LARGE', url, `archive expands more than ${maxRatio} times its ${size} bytes`);
  }
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
  await checkLinks(dest, url);
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
