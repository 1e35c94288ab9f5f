/**
 * Pin names as each platform spells them. Linux pins are files on a mounted bpffs (`/sys/fs/bpf/a/b`).
 * eBPF-for-Windows pins are names in its kernel pin table, not files (its docs/PinPaths.md): the
 * canonical form is `BPF:\a\b`, `/sys/fs/bpf/a/b` is accepted and canonicalised to it, either
 * separator is accepted and names are case-sensitive. Pure functions of the platform data.
 */
import type { PlatformSpec } from './platform.ts';

/** How a platform's pins are named: paths of files (Linux), or names in a pin table (Windows). */
export type PinStyle = 'files' | 'names';

export function pinStyleOf(spec: Pick<PlatformSpec, 'pinsAreFiles'>): PinStyle {
  return spec.pinsAreFiles ? 'files' : 'names';
}

const BPF_PREFIX = /^BPF:(?:[\\/]+|$)/;
const SYS_FS_BPF = /^[\\/]sys[\\/]fs[\\/]bpf(?:[\\/]+|$)/;

/** A pin name root eBPF-for-Windows accepts: `BPF:`, `BPF:\…`, or `/sys/fs/bpf/…`. */
export function isPinNameRoot(root: string): boolean {
  return BPF_PREFIX.test(root) || SYS_FS_BPF.test(root);
}

/**
 * The canonical eBPF-for-Windows pin name of `path` (`BPF:\a\b`: one backslash between segments,
 * none at the end); `/sys/fs/bpf/a/b` and `BPF:/a/b` become `BPF:\a\b`. Throws for anything else.
 */
export function canonicalPinName(path: string): string {
  const m = BPF_PREFIX.exec(path) ?? SYS_FS_BPF.exec(path);
  if (!m) throw new Error(`pin name '${path}' must start with 'BPF:' or '/sys/fs/bpf' (eBPF-for-Windows pin names)`);
  const segments = path.slice(m[0].length).split(/[\\/]+/).filter((s) => s !== '');
  for (const s of segments) {
    if (s === '.' || s === '..') throw new Error(`pin name '${path}' must not contain '${s}'`);
  }
  return `BPF:\\${segments.join('\\')}`;
}

/**
 * `root` and `parts` joined as one pin name: a Windows name (`BPF:\root\part`; a root in another
 * form is kept as written, its parts joined with `\`) or a POSIX path.
 */
export function joinPinName(style: PinStyle, root: string, ...parts: string[]): string {
  for (const p of parts) {
    if (p.length === 0 || p === '.' || p === '..' || p.includes('/') || p.includes('\0') || (style === 'names' && p.includes('\\'))) {
      throw new Error(`pin name segment '${p}' must be non-empty, not '.' or '..', and without '/'${style === 'names' ? ", '\\'" : ''} or NUL`);
    }
  }
  if (style === 'files') return [root.replace(/\/+$/, ''), ...parts].join('/');
  // other roots (l3afd configs with `C:\\…`) are opaque strings to eBPF-for-Windows: kept as written
  const base = isPinNameRoot(root) ? canonicalPinName(root) : root.replace(/[\\/]+$/, '');
  if (base === '') throw new Error('pin name root must not be empty');
  return parts.length === 0 ? base : `${base.endsWith('\\') ? base.slice(0, -1) : base}\\${parts.join('\\')}`;
}
