/**
 * Writing packages into a local l3afd package repository:
 *   {repo}/{name}/{version}/{platform}/{artifact}          the .tar.gz
 *   {repo}/{name}/{version}/{platform}/{artifact}.sha256   "<hex>  <artifact>\n" (sha256sum format)
 *
 * Archives are deterministic: entries sorted, fixed mtime, fixed modes, no owner/host metadata
 * (tar "portable" mode, which also leaves the gzip header's time and OS fields fixed), so the same
 * objects always give the same bytes and the same sha256.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, utimesSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { create as tarCreate } from 'tar';
import type { PackageSpec } from './packages.ts';

/** The mtime stored for every entry (2020-01-01T00:00:00Z): any fixed value keeps builds reproducible. */
export const ARCHIVE_MTIME = new Date(Date.UTC(2020, 0, 1));
/** The version alias every package is also published under. */
export const LATEST = 'latest';

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The folder l3afd expects inside an artifact: its name up to the first '.'. */
export function artifactFolder(artifact: string): string {
  const folder = artifact.split('.')[0] ?? '';
  if (!SEGMENT.test(folder)) throw new Error(`artifact name ${JSON.stringify(artifact)} gives no usable folder name`);
  return folder;
}

/** The sha256sum line written beside an artifact. */
export function sha256Line(hex: string, artifact: string): string {
  return `${hex}  ${artifact}\n`;
}

function checkSpec(spec: PackageSpec): void {
  for (const [what, v] of [['name', spec.name], ['version', spec.version], ['artifact', spec.artifact]] as const) {
    if (!SEGMENT.test(v)) throw new Error(`package ${spec.name}: ${what} ${JSON.stringify(v)} is not a plain path segment`);
  }
  if (!spec.artifact.endsWith('.tar.gz')) throw new Error(`package ${spec.name}: artifact ${spec.artifact} must end in .tar.gz`);
  if (spec.files.length === 0) throw new Error(`package ${spec.name}: no files`);
  const names = new Set<string>();
  for (const f of [...spec.files, ...(spec.trees ?? [])]) {
    if (!SEGMENT.test(f.name)) throw new Error(`package ${spec.name}: file name ${JSON.stringify(f.name)} is not a plain file name`);
    if (names.has(f.name)) throw new Error(`package ${spec.name}: ${f.name} listed twice`);
    names.add(f.name);
  }
}

/** Every entry under `dir` (folders with a trailing '/') relative to `base`, mtimes fixed (reproducible bytes). */
export function walkTree(dir: string, base: string): string[] {
  const out = [`${relative(base, dir)}/`];
  utimesSync(dir, ARCHIVE_MTIME, ARCHIVE_MTIME);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walkTree(p, base));
    else {
      utimesSync(p, ARCHIVE_MTIME, ARCHIVE_MTIME);
      out.push(relative(base, p));
    }
  }
  return out;
}

/** Builds a package's .tar.gz in memory (deterministic bytes). Missing inputs fail with their path. */
export async function buildArtifact(spec: PackageSpec): Promise<Buffer> {
  checkSpec(spec);
  const folder = artifactFolder(spec.artifact);
  const stage = await mkdtemp(join(tmpdir(), `l3af-pkg-${process.pid}-`));
  try {
    const dir = join(stage, folder);
    await mkdir(dir);
    const files = [...spec.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const f of files) {
      const st = await stat(f.source).catch(() => undefined);
      if (!st?.isFile()) {
        throw new Error(`package ${spec.name}: ${f.source} is missing (build the programs first: make -C programs)`);
      }
      const dest = join(dir, f.name);
      await copyFile(f.source, dest);
      await chmod(dest, f.mode ?? (st.mode & 0o111 ? 0o755 : 0o644));
      await utimes(dest, ARCHIVE_MTIME, ARCHIVE_MTIME);
    }
    const treeEntries: string[] = [];
    for (const t of spec.trees ?? []) {
      if (!existsSync(t.source)) throw new Error(`package ${spec.name}: ${t.source} is missing (build the programs first: make -C programs)`);
      cpSync(t.source, join(dir, t.name), { recursive: true });
      treeEntries.push(...walkTree(join(dir, t.name), stage));
    }
    await chmod(dir, 0o755);
    await utimes(dir, ARCHIVE_MTIME, ARCHIVE_MTIME);
    const out = join(stage, spec.artifact);
    await tarCreate(
      { file: out, cwd: stage, gzip: { level: 9 }, portable: true, mtime: ARCHIVE_MTIME, noDirRecurse: true },
      [`${folder}/`, ...[...files.map((f) => `${folder}/${f.name}`), ...treeEntries].sort()],
    );
    return await readFile(out);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** One artifact written into the repository. */
export interface WrittenArtifact {
  readonly name: string;
  readonly version: string;
  readonly platform: string;
  /** Absolute path of the .tar.gz. */
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

async function writeAtomically(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/**
 * Writes a package into `repo` for `platform`, under `latest` and under its own version,
 * each with its .sha256 beside it.
 */
export async function writePackage(repo: string, platform: string, spec: PackageSpec): Promise<WrittenArtifact[]> {
  if (!SEGMENT.test(platform)) throw new Error(`platform ${JSON.stringify(platform)} is not a plain path segment`);
  const data = await buildArtifact(spec);
  const sha256 = createHash('sha256').update(data).digest('hex');
  const written: WrittenArtifact[] = [];
  for (const version of [...new Set([LATEST, spec.version])]) {
    const dir = join(repo, spec.name, version, platform);
    await mkdir(dir, { recursive: true });
    const path = join(dir, spec.artifact);
    await writeAtomically(path, data);
    await writeAtomically(`${path}.sha256`, sha256Line(sha256, spec.artifact));
    written.push({ name: spec.name, version, platform, path, sha256, bytes: data.length });
  }
  return written;
}

/** Writes every package; returns what was written, in order. */
export async function writeRepository(repo: string, platform: string, specs: readonly PackageSpec[]): Promise<WrittenArtifact[]> {
  const all: WrittenArtifact[] = [];
  for (const spec of specs) all.push(...(await writePackage(repo, platform, spec)));
  return all;
}
