/**
 * Helpers of the container tests: host bpffs at /sys/fs/bpf, what bpftool sees of an interface and
 * a pinned map, free loopback ports, polling.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { run } from '../harness/index.ts';
import { entries } from '../harness/docker.ts';

/** The host's bpffs where the compose file and the DaemonSet keep the pins. */
export const HOST_BPFFS = '/sys/fs/bpf';

function isBpffs(path: string): boolean {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => {
    const f = l.split(' ');
    return f[1] === path && f[2] === 'bpf';
  });
}

/**
 * Propagation of the mount at `path` (shared, slave, or private) from /proc/self/mountinfo.
 * systemd hosts have every mount shared; this VM has them private, which Docker refuses for the
 * compose file's `rslave` binds (`/` of node_exporter, /sys/fs/bpf of the agent).
 */
export function propagation(path: string): 'shared' | 'slave' | 'private' | undefined {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === path);
  const last = lines.at(-1);
  if (last === undefined) return undefined;
  const optional = last.split(' - ')[0]!.split(' ').slice(6);
  if (optional.some((o) => o.startsWith('shared:'))) return 'shared';
  if (optional.some((o) => o.startsWith('master:'))) return 'slave';
  return 'private';
}

/** Makes the mount at `path` shared when it is private; gives back what puts it back. */
export async function makeShared(path: string): Promise<() => Promise<void>> {
  if (propagation(path) !== 'private') return async () => undefined;
  await run('mount', ['--make-shared', path]);
  return async () => { await run('mount', ['--make-private', path]).catch(() => undefined); };
}

/**
 * Makes sure a bpffs is mounted at /sys/fs/bpf (systemd hosts have one; this VM does not) and
 * gives back a cleanup that removes what appeared under it for `iface` and unmounts it again when
 * this call mounted it.
 */
export async function hostBpffs(): Promise<{ mountedHere: boolean; cleanup: (iface: string) => Promise<void> }> {
  const mountedHere = !isBpffs(HOST_BPFFS);
  if (mountedHere) await run('mount', ['-t', 'bpf', 'bpf', HOST_BPFFS]);
  const unshare = await makeShared(HOST_BPFFS);
  const before = new Set(entries(HOST_BPFFS));
  return {
    mountedHere,
    cleanup: async (iface: string) => {
      for (const e of entries(HOST_BPFFS)) {
        if (!before.has(e) && e.includes(iface)) rmSync(join(HOST_BPFFS, e), { recursive: true, force: true });
      }
      await unshare();
      if (mountedHere) await run('umount', [HOST_BPFFS]).catch(() => run('umount', ['-l', HOST_BPFFS]));
    },
  };
}

/** The id of the XDP program attached to `ifname`, as `bpftool net show` reports it (undefined: none). */
export async function xdpProgId(ifname: string): Promise<number | undefined> {
  const { stdout } = await run('bpftool', ['-j', 'net', 'show', 'dev', ifname]);
  const parsed = JSON.parse(stdout) as Array<{ xdp?: Array<{ devname?: string; id?: number }> }>;
  for (const block of parsed) for (const x of block.xdp ?? []) if (x.devname === ifname && typeof x.id === 'number') return x.id;
  return undefined;
}

/** Name and type of a program by id (bpftool prog show). */
export async function progInfo(id: number): Promise<{ name: string; type: string }> {
  const { stdout } = await run('bpftool', ['-j', 'prog', 'show', 'id', String(id)]);
  const j = JSON.parse(stdout) as { name?: string; type?: string };
  return { name: j.name ?? '', type: j.type ?? '' };
}

/** Value at key 0 (u32 key) of a pinned array map of u64 (sum over CPUs for per-CPU maps), read by bpftool. */
export async function pinnedCounter(path: string): Promise<bigint> {
  if (!existsSync(path)) throw new Error(`no pinned map at ${path}`);
  const { stdout } = await run('bpftool', ['-j', 'map', 'lookup', 'pinned', path, 'key', '0', '0', '0', '0']);
  const j = JSON.parse(stdout) as { value?: unknown; values?: Array<{ value: unknown }>; formatted?: { value?: unknown; values?: Array<{ value: unknown }> } };
  const one = (v: unknown): bigint => {
    if (typeof v === 'number' || typeof v === 'string') return BigInt(v);
    if (Array.isArray(v)) return (v as string[]).reduceRight((acc, b) => (acc << 8n) | BigInt(Number(b)), 0n);
    throw new Error(`bpftool map lookup ${path}: unexpected value ${JSON.stringify(v)}`);
  };
  const f = j.formatted;
  if (f?.value !== undefined) return one(f.value);
  if (f?.values !== undefined) return f.values.reduce((a, x) => a + one(x.value), 0n);
  if (j.value !== undefined) return one(j.value);
  if (j.values !== undefined) return j.values.reduce((a, x) => a + one(x.value), 0n);
  throw new Error(`bpftool map lookup ${path}: ${stdout}`);
}

/** Whether nothing listens on 127.0.0.1:`port`. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Polls `fn` until it gives a value (not undefined) or `ms` pass. */
export async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** JSON over HTTP: status and parsed body (text when not JSON). */
export async function http(url: string, method = 'GET', body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const r = await fetch(url, {
    method,
    ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await r.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, json, text };
}

/** A Prometheus instant query's result vector. */
export async function promQuery(base: string, expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const r = await http(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const j = r.json as { status?: string; data?: { result?: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  if (j.status !== 'success') throw new Error(`${expr}: ${r.text}`);
  return j.data?.result ?? [];
}
