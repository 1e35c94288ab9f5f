/**
 * Facts about the host for operators and dashboards: name, OS, kernel, interfaces with their
 * addresses (systeminformation for the interface list, node:os for every address), and the BPF
 * features found. Served as `GET /l3af/host` ({@link hostRoutes}) and as info metrics
 * ({@link registerHostMetrics}).
 */
import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { libbpfUnavailable, platform, statsEnabled } from '../bpf/index.ts';

/** One address of an interface. */
export interface HostAddress {
  readonly family: 'IPv4' | 'IPv6';
  readonly address: string;
  /** CIDR prefix (e.g. 24). */
  readonly prefix: number;
}

/** One network interface. */
export interface HostInterface {
  readonly name: string;
  readonly mac: string;
  readonly operstate: string;
  readonly mtu: number | null;
  readonly internal: boolean;
  readonly type: string;
  readonly addresses: HostAddress[];
}

/** BPF facilities found on the host. */
export interface BpfFeatures {
  /** Kernel BTF at /sys/kernel/btf/vmlinux (CO-RE). */
  readonly btf: boolean;
  /** bpffs mount points (from /proc/mounts). */
  readonly bpffsMounts: string[];
  /** A bpffs is mounted at /sys/fs/bpf. */
  readonly bpffsMounted: boolean;
  /** net.core.bpf_jit_enable is 1 or 2 (or the JIT is always on). */
  readonly jitEnabled: boolean;
  /** The kernel counts BPF run statistics now (sysctl or a held BPF_ENABLE_STATS). */
  readonly kernelStats: boolean;
  /** kernel.unprivileged_bpf_disabled, undefined when unreadable. */
  readonly unprivilegedBpfDisabled?: number;
  /** Windows only: eBPF-for-Windows' ebpfapi.dll could be loaded. */
  readonly ebpf_for_windows?: boolean;
  /** Why the libbpf API (libbpf.so.1 / ebpfapi.dll) cannot be used, when it cannot. */
  readonly libbpfProblem?: string;
}

/** Everything `GET /l3af/host` reports. */
export interface HostFacts {
  readonly hostname: string;
  readonly os: { readonly platform: string; readonly distro: string; readonly release: string; readonly codename: string; readonly arch: string };
  readonly kernel: string;
  readonly interfaces: HostInterface[];
  readonly bpf: BpfFeatures;
}

function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The BPF features of this host (cheap: a few /proc and /sys reads). */
export function bpfFeatures(): BpfFeatures {
  const mounts = (readTrim('/proc/mounts') ?? '').split('\n').map((l) => l.split(' ')).filter((f) => f[2] === 'bpf').map((f) => f[1]!.replace(/\\040/g, ' '));
  const jit = readTrim('/proc/sys/net/core/bpf_jit_enable');
  const unpriv = readTrim('/proc/sys/kernel/unprivileged_bpf_disabled');
  const problem = libbpfUnavailable();
  if (platform.name === 'windows') {
    // no bpffs, BTF or sysctls on Windows: eBPF-for-Windows is there or not
    return { btf: false, bpffsMounts: [], bpffsMounted: false, jitEnabled: problem === null, kernelStats: false, ebpf_for_windows: problem === null, ...(problem === null ? {} : { libbpfProblem: problem }) };
  }
  return {
    btf: existsSync('/sys/kernel/btf/vmlinux'),
    bpffsMounts: mounts,
    bpffsMounted: mounts.includes('/sys/fs/bpf'),
    // without the sysctl file the JIT is compiled in as always-on (CONFIG_BPF_JIT_ALWAYS_ON) or absent
    jitEnabled: jit === undefined ? existsSync('/proc/sys/net/core') && process.platform === 'linux' : jit === '1' || jit === '2',
    kernelStats: statsEnabled(),
    ...(unpriv === undefined ? {} : { unprivilegedBpfDisabled: Number(unpriv) }),
    ...(problem === null ? {} : { libbpfProblem: problem }),
  };
}

function prefixOf(cidr: string | null | undefined): number {
  const p = cidr?.split('/')[1];
  return p === undefined ? 0 : Number(p);
}

/** Collects the host facts (systeminformation takes a second or two; see {@link HostFactsCache}). */
export async function collectHostFacts(): Promise<HostFacts> {
  // loaded on the first call: an idle agent nobody asks for host facts does not hold it (~11 MiB)
  const { default: si } = await import('systeminformation');
  const [os, nics] = await Promise.all([si.osInfo(), si.networkInterfaces()]);
  const list = Array.isArray(nics) ? nics : [nics];
  const addrs = networkInterfaces();
  const interfaces: HostInterface[] = list.map((n) => ({
    name: n.iface,
    mac: n.mac,
    operstate: n.operstate,
    mtu: n.mtu ?? null,
    internal: n.internal,
    type: n.type,
    addresses: (addrs[n.iface] ?? []).map((a) => ({ family: a.family, address: a.address, prefix: prefixOf(a.cidr) })),
  }));
  return {
    hostname: os.hostname,
    os: { platform: os.platform, distro: os.distro, release: os.release, codename: os.codename, arch: os.arch },
    kernel: os.kernel,
    interfaces,
    bpf: bpfFeatures(),
  };
}

/** Host facts kept for `ttlMs`; the BPF features are re-read on every call (they are cheap and change). */
export class HostFactsCache {
  #facts: HostFacts | undefined;
  #at = 0;
  #pending: Promise<HostFacts> | undefined;

  constructor(readonly ttlMs = 30_000, private readonly collect: () => Promise<HostFacts> = collectHostFacts) {}

  /** The facts, collected again when older than the TTL. */
  async get(): Promise<HostFacts> {
    if (!this.#facts || performance.now() - this.#at > this.ttlMs) {
      this.#pending ??= this.collect().then((f) => {
        this.#facts = f;
        this.#at = performance.now();
        return f;
      }).finally(() => {
        this.#pending = undefined;
      });
      await this.#pending;
    }
    return { ...this.#facts!, bpf: bpfFeatures() };
  }

  /** The last collected facts without waiting (undefined before the first collection). */
  peek(): HostFacts | undefined {
    return this.#facts;
  }
}
