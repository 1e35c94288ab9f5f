/**
 * The one place where the kernel layer chooses between Linux (libbpf.so.1) and Windows
 * (eBPF-for-Windows' ebpfapi.dll, which exports the libbpf API). Everything that differs
 * between the two — library names, enum values, flags, pin roots — is data in a
 * {@link PlatformSpec}; code elsewhere reads `platform.*` and never tests the OS itself.
 */
import { linuxPlatform } from './platform.linux.ts';
import { windowsPlatform } from './platform.windows.ts';

/** Program types the agent names; the numeric value is per platform. */
export type ProgramType =
  | 'unspec' | 'socket_filter' | 'kprobe' | 'sched_cls' | 'sched_act' | 'tracepoint' | 'xdp'
  | 'perf_event' | 'cgroup_skb' | 'cgroup_sock' | 'sock_ops' | 'raw_tracepoint' | 'cgroup_sock_addr'
  | 'tracing' | 'ext' | 'lsm' | 'syscall' | 'netfilter' | 'bind' | 'netevent' | 'process' | 'sample';

/** Map types the agent names; the numeric value is per platform. */
export type MapType =
  | 'unspec' | 'hash' | 'array' | 'prog_array' | 'perf_event_array' | 'percpu_hash' | 'percpu_array'
  | 'stack_trace' | 'cgroup_array' | 'lru_hash' | 'lru_percpu_hash' | 'lpm_trie' | 'array_of_maps'
  | 'hash_of_maps' | 'devmap' | 'sockmap' | 'cpumap' | 'xskmap' | 'sockhash' | 'queue' | 'stack'
  | 'devmap_hash' | 'ringbuf' | 'bloom_filter' | 'user_ringbuf';

/** XDP verdicts by name (Linux and Windows number them differently). */
export type XdpAction = 'aborted' | 'drop' | 'pass' | 'tx' | 'redirect';

export interface PlatformSpec {
  /** `linux` or `windows`. */
  readonly name: 'linux' | 'windows';
  /** The library that exports the libbpf API. */
  readonly libbpf: string;
  /** The C runtime that provides `vsnprintf`. */
  readonly libc: string;
  /** The library that provides `if_nametoindex`. */
  readonly netLib: string;
  /** How an fd returned by the libbpf API is closed: a symbol of the C runtime or of the libbpf library. */
  readonly closeFd: { readonly from: 'libc' | 'libbpf'; readonly symbol: string };
  /** Where pins live by default (l3afd's `BpfMapDefaultPath`). */
  readonly defaultPinRoot: string;
  /** Whether pins are files on a mounted bpffs (Linux) or names in a kernel store (Windows). */
  readonly pinsAreFiles: boolean;
  readonly programTypes: Readonly<Partial<Record<ProgramType, number>>>;
  readonly mapTypes: Readonly<Partial<Record<MapType, number>>>;
  readonly xdpActions: Readonly<Partial<Record<XdpAction, number>>>;
  /** XDP attach flags; a mode the platform lacks is 0. */
  readonly xdpFlags: { readonly updateIfNoExist: number; readonly skbMode: number; readonly drvMode: number; readonly replace: number };
  /** Hooks this platform's kernel offers. */
  readonly hooks: { readonly tc: boolean; readonly kprobe: boolean; readonly tracepoint: boolean; readonly uprobe: boolean };
}

function select(): PlatformSpec {
  return process.platform === 'win32' ? windowsPlatform : linuxPlatform;
}

/** The platform this process runs on. */
export const platform: PlatformSpec = select();

function invert<K extends string>(table: Readonly<Partial<Record<K, number>>>): Map<number, K> {
  const out = new Map<number, K>();
  for (const [k, v] of Object.entries(table) as [K, number][]) out.set(v, k);
  return out;
}

const progTypeNames = invert(platform.programTypes);
const mapTypeNames = invert(platform.mapTypes);
const xdpActionNames = invert(platform.xdpActions);

/** Name of a numeric program type, or `type_<n>` when this platform does not name it. */
export function programTypeName(value: number): ProgramType | `type_${number}` {
  return progTypeNames.get(value) ?? `type_${value}`;
}
/** Numeric value of a program type on this platform; throws if the platform lacks it. */
export function programTypeValue(type: ProgramType): number {
  const v = platform.programTypes[type];
  if (v === undefined) throw new RangeError(`program type '${type}' does not exist on ${platform.name}`);
  return v;
}
/** Name of a numeric map type, or `type_<n>`. */
export function mapTypeName(value: number): MapType | `type_${number}` {
  return mapTypeNames.get(value) ?? `type_${value}`;
}
/** Name of an XDP return value, or `action_<n>`. */
export function xdpActionName(value: number): XdpAction | `action_${number}` {
  return xdpActionNames.get(value) ?? `action_${value}`;
}
/** Numeric value of an XDP verdict on this platform. */
export function xdpActionValue(action: XdpAction): number {
  const v = platform.xdpActions[action];
  if (v === undefined) throw new RangeError(`XDP action '${action}' does not exist on ${platform.name}`);
  return v;
}
