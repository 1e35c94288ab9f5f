/**
 * Skip reasons for kernel tests. Each check is made by trying the thing (mounting, creating, reading), once per
 * process, and yields either undefined (available) or a sentence saying what is missing. Tests pass the reason
 * to node:test: `test('x', { skip: await skipUnless('root', 'veth') }, …)` or `if (requireRoot(t)) return;`.
 */
import { readFile, access } from 'node:fs/promises';
import { run } from './exec.ts';
import { PrivateBpffs } from './bpffs.ts';
import { ensureTracefs } from './tracefs.ts';

/** Kernel or host features a test may need. */
export type KernelFeature = 'root' | 'bpffs' | 'netns' | 'veth' | 'tracefs' | 'btf';

/** The part of node:test's TestContext these helpers use. */
export interface SkippableContext {
  skip(message?: string): void;
}

const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Why this process cannot act as root, or undefined when it can (uid 0 with CAP_SYS_ADMIN and CAP_NET_ADMIN). */
export function rootSkipReason(): string | undefined {
  const uid = process.getuid?.();
  if (uid !== 0) return `needs root (running as uid ${uid ?? 'unknown'})`;
  return undefined;
}

async function capabilityReason(): Promise<string | undefined> {
  const status = await readFile('/proc/self/status', 'utf8');
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (m?.[1] === undefined) return 'cannot read effective capabilities from /proc/self/status';
  const caps = BigInt(`0x${m[1]}`);
  const missing = [
    [CAP_SYS_ADMIN, 'CAP_SYS_ADMIN'],
    [CAP_NET_ADMIN, 'CAP_NET_ADMIN'],
  ].filter(([bit]) => ((caps >> (bit as bigint)) & 1n) === 0n).map(([, name]) => name as string);
  return missing.length === 0 ? undefined : `needs capabilities ${missing.join(', ')}`;
}

let probeCounter = 0;
function probeName(): string {
  return `l3af-probe-${process.pid}-${probeCounter++}`;
}

const probes: Record<KernelFeature, () => Promise<string | undefined>> = {
  async root() {
    return rootSkipReason() ?? (await capabilityReason());
  },
  async bpffs() {
    try {
      const fs = await PrivateBpffs.create();
      await fs.dispose();
      return undefined;
    } catch (err) {
      return `cannot mount a bpffs: ${errorText(err)}`;
    }
  },
  async netns() {
    const ns = probeName();
    try {
      await run('ip', ['netns', 'add', ns]);
    } catch (err) {
      return `cannot create a network namespace: ${errorText(err)}`;
    }
    try {
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      return undefined;
    } catch (err) {
      return `cannot configure a network namespace: ${errorText(err)}`;
    } finally {
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
  },
  async veth() {
    const netnsReason = await kernelFeature('netns');
    if (netnsReason !== undefined) return `veth needs a network namespace: ${netnsReason}`;
    // Tried inside a throw-away namespace so the root namespace is never touched.
    const ns = probeName();
    try {
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['-n', ns, 'link', 'add', 'vprobe0', 'type', 'veth', 'peer', 'name', 'vprobe1']);
      await run('ip', ['-n', ns, 'link', 'set', 'vprobe0', 'up']);
      return undefined;
    } catch (err) {
      return `cannot create a veth pair: ${errorText(err)}`;
    } finally {
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
  },
  async tracefs() {
    try {
      await ensureTracefs();
      return undefined;
    } catch (err) {
      return `tracefs is not available: ${errorText(err)}`;
    }
  },
  async btf() {
    try {
      await access('/sys/kernel/btf/vmlinux');
      return undefined;
    } catch {
      return 'kernel BTF (/sys/kernel/btf/vmlinux) is missing';
    }
  },
};

const cache = new Map<KernelFeature, Promise<string | undefined>>();

/**
 * Why `feature` is unavailable here, or undefined when it works. Every feature other than 'btf' and 'root'
 * implies root: without it the reason names root first. The answer is cached for the process.
 */
export function kernelFeature(feature: KernelFeature): Promise<string | undefined> {
  const probe = probes[feature] as (() => Promise<string | undefined>) | undefined;
  if (probe === undefined) {
    return Promise.reject(new Error(`unknown kernel feature ${JSON.stringify(feature)}; known: ${Object.keys(probes).join(', ')}`));
  }
  let p = cache.get(feature);
  if (p === undefined) {
    p = (async () => {
      if (feature !== 'root' && feature !== 'btf') {
        const rootReason = await kernelFeature('root');
        if (rootReason !== undefined) return `${feature}: ${rootReason}`;
      }
      return probe();
    })();
    cache.set(feature, p);
  }
  return p;
}

/** The first reason among `features` (checked in order), or undefined when all of them are available. */
export async function skipUnless(...features: KernelFeature[]): Promise<string | undefined> {
  for (const f of features) {
    const reason = await kernelFeature(f);
    if (reason !== undefined) return reason;
  }
  return undefined;
}

/** Skips `t` when not root; returns the reason (truthy: the caller should return) or undefined. */
export function requireRoot(t?: SkippableContext): string | undefined {
  const reason = rootSkipReason();
  if (reason !== undefined) t?.skip(reason);
  return reason;
}

/** Skips `t` when any of `features` is missing; returns the reason (truthy: the caller should return). */
export async function requireFeatures(t: SkippableContext, ...features: KernelFeature[]): Promise<string | undefined> {
  const reason = await skipUnless(...features);
  if (reason !== undefined) t.skip(reason);
  return reason;
}
