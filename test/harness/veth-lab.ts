/**
 * VethLab: a network namespace joined to the root namespace by a veth pair, for tests that attach XDP/TC
 * programs and send real packets. The root-side end is the receiver (attach programs there); the peer end sits
 * in the namespace and is the sender. Each lab has unique interface names and its own /30 inside 10.240.0.0/12.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { run, type CommandOutput, type RunOptions } from './exec.ts';
import { registerExitCleanup } from './cleanup.ts';

/** Options for {@link VethLab.create}. */
export interface VethLabOptions {
  /**
   * Set `net.ipv6.conf.<if>.disable_ipv6=1` on both ends before they come up, so no router solicitations,
   * DAD or MLD packets disturb packet counters. Default true.
   */
  disableIpv6?: boolean;
  /** Install permanent neighbour entries on both ends so no ARP traffic crosses the pair. Default true. */
  staticNeighbors?: boolean;
  /** MTU for both ends (the kernel decides what is valid; veth accepts 68..65535). Default: kernel default. */
  mtu?: number;
  /** How long to wait for both ends to report operstate UP. Default 3000 ms. */
  upTimeoutMs?: number;
}

/** First address of the range labs take their /30 from (10.240.0.0/12). */
const POOL_BASE = (10 << 24) | (240 << 16);
const POOL_BLOCKS = 1 << 18; // /30 blocks in a /12
let labCounter = 0;

function ipv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function parseIpv4(s: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (m === null) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

interface IpLink {
  ifindex: number;
  address: string;
  operstate: string;
}

async function showLink(ifname: string, netns?: string): Promise<IpLink> {
  const args = [...(netns === undefined ? [] : ['-n', netns]), '-j', 'link', 'show', 'dev', ifname];
  const { stdout } = await run('ip', args);
  const parsed: unknown = JSON.parse(stdout);
  const l = Array.isArray(parsed) ? (parsed[0] as Record<string, unknown> | undefined) : undefined;
  if (l === undefined || typeof l.ifindex !== 'number' || typeof l.address !== 'string' || typeof l.operstate !== 'string') {
    throw new Error(`ip ${args.join(' ')}: unexpected output ${stdout.slice(0, 200)}`);
  }
  return { ifindex: l.ifindex, address: l.address, operstate: l.operstate };
}

/** /30 blocks of the pool already holding an address in the root namespace. */
async function usedBlocks(): Promise<Set<number>> {
  const { stdout } = await run('ip', ['-j', '-4', 'addr', 'show']);
  const used = new Set<number>();
  const parsed: unknown = JSON.parse(stdout === '' ? '[]' : stdout);
  if (!Array.isArray(parsed)) return used;
  for (const link of parsed as Array<{ addr_info?: Array<{ local?: unknown }> }>) {
    for (const a of link.addr_info ?? []) {
      const n = typeof a.local === 'string' ? parseIpv4(a.local) : undefined;
      if (n !== undefined && n >= POOL_BASE && n < POOL_BASE + POOL_BLOCKS * 4) used.add((n - POOL_BASE) >>> 2);
    }
  }
  return used;
}

function netnsPidsSync(netns: string): number[] {
  const res = spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8', timeout: 5_000 });
  if (res.status !== 0) return [];
  return res.stdout.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

async function netnsPids(netns: string): Promise<number[]> {
  const { stdout } = await run('ip', ['netns', 'pids', netns]);
  return stdout.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

function killQuiet(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A network namespace plus a veth pair between it and the root namespace. Dispose of it when done. */
export class VethLab {
  /** Name of the network namespace (holds the peer end, the sender). */
  readonly netns: string;
  /** Root-namespace end of the pair: the receiver, where XDP/TC programs are attached. */
  readonly rootIfname: string;
  /** Namespace end of the pair: the sender. */
  readonly peerIfname: string;
  /** IPv4 address of the root-side end. */
  readonly rootAddress: string;
  /** IPv4 address of the peer end. */
  readonly peerAddress: string;
  /** Prefix length of both addresses. */
  readonly prefixLength = 30;
  /** Interface index of the root-side end (in the root namespace). */
  rootIfindex = 0;
  /** Interface index of the peer end (inside the namespace). */
  peerIfindex = 0;
  /** MAC address of the root-side end. */
  rootMac = '';
  /** MAC address of the peer end. */
  peerMac = '';
  /** Whether IPv6 was disabled on both ends (false if asked not to, or if the host has no IPv6). */
  ipv6Disabled = false;

  readonly #children = new Set<ChildProcess>();
  readonly #unregister: () => void;
  #created = { netns: false, veth: false };
  #disposed = false;

  private constructor(n: number, block: number) {
    const pid36 = process.pid.toString(36);
    const n36 = n.toString(36);
    this.netns = `l3af-lab-${process.pid}-${n}`;
    this.rootIfname = `lh${pid36}r${n36}`;
    this.peerIfname = `lh${pid36}s${n36}`;
    if (this.rootIfname.length > 15) throw new Error(`interface name ${this.rootIfname} is longer than 15 characters`);
    const base = POOL_BASE + block * 4;
    this.rootAddress = ipv4(base + 1);
    this.peerAddress = ipv4(base + 2);
    this.#unregister = registerExitCleanup(`veth lab ${this.netns} (${this.rootIfname})`, () => this.#disposeSync());
  }

  /** Root-side interface index (alias of {@link rootIfindex}): the ifindex to attach programs to. */
  get ifindex(): number {
    return this.rootIfindex;
  }

  /**
   * Creates the namespace and the veth pair, addresses both ends, brings them up and waits for carrier.
   * If any step fails, whatever was created is removed before the error is thrown.
   */
  static async create(options: VethLabOptions = {}): Promise<VethLab> {
    const { disableIpv6 = true, staticNeighbors = true, mtu, upTimeoutMs = 3_000 } = options;
    if (mtu !== undefined && (!Number.isInteger(mtu) || mtu <= 0)) {
      throw new RangeError(`VethLab: mtu must be a positive integer, got ${mtu}`);
    }
    if (!Number.isFinite(upTimeoutMs) || upTimeoutMs <= 0) {
      throw new RangeError(`VethLab: upTimeoutMs must be a positive number, got ${upTimeoutMs}`);
    }
    const n = labCounter++;
    const used = await usedBlocks();
    let block = (process.pid * 64 + n) % POOL_BLOCKS;
    for (let i = 0; used.has(block) && i < POOL_BLOCKS; i++) block = (block + 1) % POOL_BLOCKS;
    if (used.has(block)) throw new Error('VethLab: no free /30 left in 10.240.0.0/12');
    const lab = new VethLab(n, block);
    try {
      await lab.#setUp(disableIpv6, staticNeighbors, mtu, upTimeoutMs);
    } catch (err) {
      await lab.dispose().catch(() => undefined);
      throw err;
    }
    return lab;
  }

  async #setUp(disableIpv6: boolean, staticNeighbors: boolean, mtu: number | undefined, upTimeoutMs: number): Promise<void> {
    const ns = this.netns;
    await run('ip', ['netns', 'add', ns]);
    this.#created.netns = true;
    await run('ip', ['link', 'add', this.rootIfname, 'type', 'veth', 'peer', 'name', this.peerIfname, 'netns', ns]);
    this.#created.veth = true;

    if (disableIpv6 && existsSync(`/proc/sys/net/ipv6/conf/${this.rootIfname}/disable_ipv6`)) {
      writeFileSync(`/proc/sys/net/ipv6/conf/${this.rootIfname}/disable_ipv6`, '1');
      await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${this.peerIfname}.disable_ipv6=1`]);
      this.ipv6Disabled = true;
    }
    if (mtu !== undefined) {
      await run('ip', ['link', 'set', 'dev', this.rootIfname, 'mtu', String(mtu)]);
      await run('ip', ['-n', ns, 'link', 'set', 'dev', this.peerIfname, 'mtu', String(mtu)]);
    }
    await run('ip', ['addr', 'add', `${this.rootAddress}/${this.prefixLength}`, 'dev', this.rootIfname]);
    await run('ip', ['-n', ns, 'addr', 'add', `${this.peerAddress}/${this.prefixLength}`, 'dev', this.peerIfname]);
    await run('ip', ['-n', ns, 'link', 'set', 'dev', 'lo', 'up']);

    const root = await showLink(this.rootIfname);
    const peer = await showLink(this.peerIfname, ns);
    this.rootIfindex = root.ifindex;
    this.rootMac = root.address;
    this.peerIfindex = peer.ifindex;
    this.peerMac = peer.address;
    if (staticNeighbors) {
      await run('ip', ['neigh', 'replace', this.peerAddress, 'lladdr', this.peerMac, 'dev', this.rootIfname, 'nud', 'permanent']);
      await run('ip', ['-n', ns, 'neigh', 'replace', this.rootAddress, 'lladdr', this.rootMac, 'dev', this.peerIfname, 'nud', 'permanent']);
    }
    await run('ip', ['link', 'set', 'dev', this.rootIfname, 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'dev', this.peerIfname, 'up']);

    const deadline = Date.now() + upTimeoutMs;
    for (;;) {
      const [r, p] = await Promise.all([showLink(this.rootIfname), showLink(this.peerIfname, ns)]);
      if (r.operstate === 'UP' && p.operstate === 'UP') return;
      if (Date.now() > deadline) {
        throw new Error(`VethLab: ${this.rootIfname}/${this.peerIfname} not UP after ${upTimeoutMs} ms (${r.operstate}/${p.operstate})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Runs a command inside the namespace (`ip netns exec`) and resolves with its output. */
  exec(command: string, args: readonly string[] = [], options: RunOptions = {}): Promise<CommandOutput> {
    this.#assertAlive();
    return run('ip', ['netns', 'exec', this.netns, command, ...args], options);
  }

  /**
   * Starts a command inside the namespace. The lab keeps track of it and kills it (SIGKILL) on dispose if it is
   * still running. `ip netns exec` execs the command, so the child's pid is the command's own pid.
   */
  spawn(command: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    this.#assertAlive();
    const child = spawn('ip', ['netns', 'exec', this.netns, command, ...args], options);
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    child.once('error', () => this.#children.delete(child));
    return child;
  }

  /** True until {@link dispose} has been called. */
  get alive(): boolean {
    return !this.#disposed;
  }

  #assertAlive(): void {
    if (this.#disposed) throw new Error(`VethLab ${this.netns} has been disposed`);
  }

  /**
   * Kills the processes it started and anything else left in the namespace, deletes the veth pair and the
   * namespace. Idempotent. Every step is attempted; if some fail, an AggregateError lists them and the
   * exit-time cleanup stays armed.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const errors: unknown[] = [];
    const exits = [...this.#children].map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      const timer = setTimeout(resolve, 2_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGKILL');
    }));
    await Promise.all(exits);
    if (this.#created.netns) {
      try {
        for (const pid of await netnsPids(this.netns)) killQuiet(pid);
      } catch (err) {
        errors.push(err);
      }
    }
    if (this.#created.veth) {
      try {
        await run('ip', ['link', 'del', 'dev', this.rootIfname]);
      } catch (err) {
        if (existsSync(`/sys/class/net/${this.rootIfname}`)) errors.push(err);
      }
    }
    if (this.#created.netns) {
      try {
        await run('ip', ['netns', 'del', this.netns]);
      } catch (err) {
        if (existsSync(`/run/netns/${this.netns}`)) errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `VethLab ${this.netns}: cleanup incomplete`);
    this.#created = { netns: false, veth: false };
    this.#unregister();
  }

  /** Synchronous best-effort teardown for process exit. */
  #disposeSync(): void {
    for (const child of this.#children) if (child.pid !== undefined) killQuiet(child.pid);
    for (const pid of netnsPidsSync(this.netns)) killQuiet(pid);
    spawnSync('ip', ['link', 'del', 'dev', this.rootIfname], { stdio: 'ignore', timeout: 5_000 });
    spawnSync('ip', ['netns', 'del', this.netns], { stdio: 'ignore', timeout: 5_000 });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Runs `fn` with a fresh {@link VethLab} and disposes of it afterwards, also when `fn` throws. */
export async function withVethLab<T>(fn: (lab: VethLab) => Promise<T> | T, options?: VethLabOptions): Promise<T> {
  const lab = await VethLab.create(options);
  try {
    return await fn(lab);
  } finally {
    await lab.dispose();
  }
}
