/**
 * Pins: kernel objects kept alive by a name on bpffs (Linux) or in eBPF-for-Windows' pin
 * table. A prog array must be pinned (or held open) or the kernel empties it when its last
 * reference closes — every chain this agent builds keeps its arrays pinned.
 */
import { mkdirSync, readFileSync, realpathSync, rmSync, unlinkSync, existsSync, rmdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { C, lastErrno, libcCalls } from './ffi.ts';
import { BpfError, check } from './errors.ts';
import { platform } from './platform.ts';

export type PinKind = 'map' | 'program' | 'link';

/** Pins `fd` at `path`, creating parent directories; EEXIST if something is pinned there. */
export function pinObject(fd: number, path: string, subject: Record<string, string | number>): void {
  if (platform.pinsAreFiles) mkdirSync(dirname(path), { recursive: true });
  const ret = C.bpf_obj_pin(fd, path) as number;
  if (ret < 0) {
    const hint = ret === -17 ? 'something is already pinned at that path; unpin it first'
      : ret === -1 || ret === -22 ? 'is the path on a mounted bpffs?' : undefined;
    throw new BpfError({ op: 'bpf_obj_pin', subject: { ...subject, path }, errno: -ret, ...(hint ? { hint } : {}) });
  }
}

/** Opens what is pinned at `path` and returns a new fd the caller owns. */
export function openPinned(path: string, kind: PinKind): number {
  const ret = C.bpf_obj_get(path) as number;
  if (ret < 0) throw new BpfError({ op: 'bpf_obj_get', subject: { [kind]: path }, errno: -ret });
  return ret;
}

/** Removes the pin at `path` (the object lives on while other references exist); false if none. */
export function unpin(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return false;
    throw new BpfError({ op: 'unpin', subject: { path }, errno: e.errno ? -e.errno : 5 });
  }
}

/** Removes a pin directory tree (every pin below it) and empty parents up to `stopAt`. */
export function unpinTree(dir: string, stopAt?: string): void {
  rmSync(dir, { recursive: true, force: true });
  if (!stopAt) return;
  let d = dirname(resolve(dir));
  const stop = resolve(stopAt);
  while (d.startsWith(stop) && d !== stop) {
    try {
      rmdirSync(d);
    } catch {
      break;
    }
    d = dirname(d);
  }
}

interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
}

function mounts(): MountEntry[] {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    const fields = pre?.split(' ') ?? [];
    const mountPoint = fields[4]?.replace(/\\040/g, ' ');
    const fsType = post?.split(' ')[0];
    if (mountPoint && fsType) out.push({ mountPoint, fsType });
  }
  return out;
}

/** The filesystem type that `dir` lives on (the innermost mount containing it). */
export function filesystemOf(dir: string): string | undefined {
  const real = realpathSync(dir);
  let best: MountEntry | undefined;
  for (const m of mounts()) {
    const inside = real === m.mountPoint || real.startsWith(m.mountPoint === '/' ? '/' : `${m.mountPoint}/`);
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best?.fsType;
}

/** bpffs: check and mount. Pins only work on a directory of a mounted bpffs. */
export const Bpffs = {
  /** True when `dir` exists and lies on a bpffs mount. */
  isMounted(dir: string): boolean {
    if (!platform.pinsAreFiles) return true;
    return existsSync(dir) && filesystemOf(dir) === 'bpf';
  },
  /** Mounts a bpffs at `dir` (created if missing) unless `dir` is already on one. */
  ensure(dir: string): void {
    if (!platform.pinsAreFiles || Bpffs.isMounted(dir)) return;
    mkdirSync(dir, { recursive: true });
    mountFs('bpf', dir, 'bpf');
  },
  /** Unmounts the bpffs mounted at `dir`. */
  unmount(dir: string): void {
    if (!platform.pinsAreFiles) return;
    const ret = libcCalls.umount2(dir, 2 /* MNT_DETACH */) as number;
    if (ret !== 0) throw new BpfError({ op: 'umount2', subject: { path: dir }, errno: lastErrno() });
  },
};

/** tracefs, needed by tracepoint attach; mounted at /sys/kernel/tracing when missing. */
export const Tracefs = {
  path: '/sys/kernel/tracing',
  ensure(): void {
    if (!platform.hooks.tracepoint) return;
    if (existsSync(`${Tracefs.path}/events`)) return;
    mountFs('tracefs', Tracefs.path, 'tracefs');
  },
};

function mountFs(source: string, target: string, fstype: string): void {
  const ret = libcCalls.mount(source, target, fstype, 0, null) as number;
  if (ret !== 0) check(-lastErrno(), 'mount', { fstype, path: target });
}
