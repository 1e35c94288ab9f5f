/**
 * Read-only views of the host that tests use to check for leftovers: network namespaces, links and mounts.
 */
import { readFileSync } from 'node:fs';
import { run } from './exec.ts';

/** Names of the named network namespaces (`ip netns list`). */
export async function netnsNames(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n !== '');
}

/** Names of the network interfaces (`ip -j link show`), in the root namespace or in `netns`. */
export async function linkNames(netns?: string): Promise<string[]> {
  const args = netns === undefined ? ['-j', 'link', 'show'] : ['-n', netns, '-j', 'link', 'show'];
  const { stdout } = await run('ip', args);
  const parsed: unknown = JSON.parse(stdout === '' ? '[]' : stdout);
  if (!Array.isArray(parsed)) throw new Error(`ip -j link show: expected a JSON array, got ${stdout.slice(0, 80)}`);
  return parsed.map((l: unknown) => {
    const name = (l as { ifname?: unknown }).ifname;
    if (typeof name !== 'string') throw new Error('ip -j link show: an entry has no ifname');
    return name;
  });
}

/** One line of /proc/mounts. */
export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
}

function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The current process's mount table (/proc/mounts). */
export function mounts(): MountEntry[] {
  return readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l !== '').map((l) => {
    const [source = '', target = '', fstype = ''] = l.split(' ');
    return { source: unescapeMountField(source), target: unescapeMountField(target), fstype };
  });
}

/** Mounts whose mount point is exactly `path` (several when mounts are stacked). */
export function mountsAt(path: string): MountEntry[] {
  return mounts().filter((m) => m.target === path);
}
