/**
 * Facts about this host the API checks requests against: its name, whether an interface exists
 * and is not loopback, and an interface's IPv4 address.
 *
 * `os.networkInterfaces()` lists only interfaces that have an address, so on Linux existence and
 * flags come from `/sys/class/net/<name>` (an interface without an address, such as a fresh veth,
 * is still a valid target). Other platforms fall back to `os.networkInterfaces()`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { hostname, networkInterfaces, platform } from 'node:os';
import { WINDOWS_IFACE } from '../payload/patterns.ts';

/** IFF_UP, IFF_LOOPBACK from <linux/if.h>. */
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
/** ARPHRD_LOOPBACK from <linux/if_arp.h>. */
const ARPHRD_LOOPBACK = 772;

const SYS_NET = '/sys/class/net';

/** What is known about one interface. */
export interface InterfaceInfo {
  name: string;
  /** Kernel interface index (Linux; undefined elsewhere). */
  ifindex?: number;
  loopback: boolean;
  /** Administratively up (IFF_UP; Linux; undefined elsewhere). */
  up?: boolean;
}

/** This node's host name, as l3afd compares `host_name` against it. */
export function hostName(): string {
  return hostname();
}

const WINDOWS_NAME = new RegExp(WINDOWS_IFACE, 'u');

/**
 * Whether `name` is a syntactically valid interface name: on Linux 1-15 bytes, no `/`, `:` or
 * space, not `.`/`..`; on Windows a friendly name such as `Ethernet 4` (payload/patterns.ts).
 */
export function isValidInterfaceName(name: string): boolean {
  if (platform() === 'win32') return WINDOWS_NAME.test(name);
  return /^[^/:\s]{1,15}$/.test(name) && name !== '.' && name !== '..' && Buffer.byteLength(name) <= 15;
}

function readSys(name: string, attr: string): string | undefined {
  try {
    return readFileSync(`${SYS_NET}/${name}/${attr}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Details of interface `name`, or undefined when it does not exist (or the name is invalid). */
export function interfaceInfo(name: string): InterfaceInfo | undefined {
  if (!isValidInterfaceName(name)) return undefined;
  if (platform() === 'linux') {
    const ifindex = readSys(name, 'ifindex');
    if (ifindex === undefined) return undefined;
    const flags = Number.parseInt(readSys(name, 'flags') ?? '0', 16);
    const type = Number(readSys(name, 'type') ?? '0');
    return { name, ifindex: Number(ifindex), loopback: (flags & IFF_LOOPBACK) !== 0 || type === ARPHRD_LOOPBACK, up: (flags & IFF_UP) !== 0 };
  }
  const addrs = networkInterfaces()[name];
  if (!addrs) return undefined;
  return { name, loopback: addrs.length > 0 && addrs.every((a) => a.internal) };
}

/** Whether interface `name` exists. */
export function interfaceExists(name: string): boolean {
  return interfaceInfo(name) !== undefined;
}

/** Whether `name` exists and is not a loopback interface: the interfaces programs may target. */
export function isUsableInterface(name: string): boolean {
  const info = interfaceInfo(name);
  return info !== undefined && !info.loopback;
}

/** Names of all interfaces (Linux: including those without addresses), sorted. */
export function listInterfaces(): string[] {
  if (platform() === 'linux') {
    try {
      return readdirSync(SYS_NET).sort();
    } catch {
      // no sysfs (container without /sys): fall through
    }
  }
  return Object.keys(networkInterfaces()).sort();
}

/**
 * The first IPv4 address of interface `name`, or undefined when it has none (or does not exist).
 * `os.networkInterfaces()` (libuv) omits interfaces that are down or without carrier, so on Linux
 * a miss is confirmed with `ip -4 -j addr show dev <name>` (iproute2).
 */
export function interfaceIpv4(name: string): string | undefined {
  if (!isValidInterfaceName(name)) return undefined;
  const fromNode = networkInterfaces()[name]?.find((a) => a.family === 'IPv4')?.address;
  if (fromNode !== undefined || platform() !== 'linux' || !interfaceExists(name)) return fromNode;
  try {
    const out = execFileSync('ip', ['-4', '-j', 'addr', 'show', 'dev', name], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    const parsed = JSON.parse(out) as { addr_info?: { family?: string; local?: string }[] }[];
    return parsed.flatMap((l) => l.addr_info ?? []).find((a) => a.family === 'inet' && a.local)?.local;
  } catch {
    return undefined;
  }
}
