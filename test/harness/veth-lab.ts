/**
 * VethLab: a network namespace joined to the root namespace by a veth pair, for tests that attach XDP/TC
 * programs and send real packets. The root-side end is the receiver (attach programs there); the peer end sits
 * in the namespace and is the sender. Each lab has unique interface names and its own /30 inside 10.240.0.0/12.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { CommandError, run, type CommandOutput, type RunOptions } from './exec.ts';
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

/**
 * Runs `ip [prefix] -batch -` with the given lines on stdin; rejects on the first failing line with a
 * {@link CommandError} whose stderr quotes that line.
 */
async function ipBatch(prefix: readonly string[], lines: readonly string[]): Promise<CommandOutput> {
  try {
    return await run('ip', [...prefix, '-batch', '-'], { input: `${lines.join('\n')}\n` });
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    const m = /Command failed -:(\d+)/.exec(err.stderr);
    const line = m?.[1] === undefined ? undefined : lines[Number(m[1]) - 1];
    const stderr = line === undefined ? err.stderr : `${err.stderr.replace(/\s*Command failed -:\d+/, '')} (in "ip ${[...prefix, line].join(' ')}")`;
    throw new CommandError(err.command, err.args, err.status, stderr, err.reason);
  }
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
  /** MAC address of the root-side end (locally administered, derived from pid and lab number). */
  readonly rootMac: string;
  /** MAC address of the peer end. */
  readonly peerMac: string;
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
    const hex = (v: number): string => (v & 255).toString(16).padStart(2, '0');
    const stem = ['02', hex(process.pid >>> 16), hex(process.pid >>> 8), hex(process.pid), hex(n)].join(':');
    this.rootMac = `${stem}:01`;
    this.peerMac = `${stem}:02`;
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
    const root = this.rootIfname;
    const peer = this.peerIfname;
    const mtuArgs = mtu === undefined ? '' : ` mtu ${mtu}`;
    // `ip -batch` keeps this to four short-lived processes; the steps that can fail half-way are still undone
    // by dispose(), which checks what exists.
    this.#created.netns = true;
    this.#created.veth = true;
    await ipBatch([], [
      `netns add ${ns}`,
      `link add ${root} address ${this.rootMac}${mtuArgs} type veth peer name ${peer} address ${this.peerMac}${mtuArgs} netns ${ns}`,
    ]);
    this.rootIfindex = Number(await readFile(`/sys/class/net/${root}/ifindex`, 'utf8'));
    this.peerIfindex = Number(await readFile(`/sys/class/net/${root}/iflink`, 'utf8'));

    // Both ends get disable_ipv6 before they come up, so they never send RS/DAD/MLD.
    if (disableIpv6 && existsSync(`/proc/sys/net/ipv6/conf/${root}/disable_ipv6`)) {
      await writeFile(`/proc/sys/net/ipv6/conf/${root}/disable_ipv6`, '1');
      await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${peer}.disable_ipv6=1`]);
      this.ipv6Disabled = true;
    }
    const plen = this.prefixLength;
    await Promise.all([
      ipBatch([], [
        `addr add ${this.rootAddress}/${plen} dev ${root}`,
        ...(staticNeighbors ? [`neigh replace ${this.peerAddress} lladdr ${this.peerMac} dev ${root} nud permanent`] : []),
        `link set dev ${root} up`,
      ]),
      ipBatch(['-n', ns], [
        `addr add ${this.peerAddress}/${plen} dev ${peer}`,
        ...(staticNeighbors ? [`neigh replace ${this.rootAddress} lladdr ${this.rootMac} dev ${peer} nud permanent`] : []),
        'link set dev lo up',
        `link set dev ${peer} up`,
      ]),
    ]);

    // A veth end has carrier only once both ends are up, so the root end's operstate covers both.
    const deadline = Date.now() + upTimeoutMs;
    for (;;) {
      const state = (await readFile(`/sys/class/net/${root}/operstate`, 'utf8')).trim();
      if (state === 'up') return;
      if (Date.now() > deadline) throw new Error(`VethLab: ${root} not up after ${upTimeoutMs} ms (operstate ${state})`);
      await new Promise((resolve) => setTimeout(resolve, 10));
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
        if (existsSync(`/run/netns/${this.netns}`)) errors.push(err);
      }
    }
    if (this.#created.veth || this.#created.netns) {
      // -force: try every line; whether something is really left over is checked afterwards.
      const lines = [
        ...(this.#created.veth ? [`link del dev ${this.rootIfname}`] : []),
        ...(this.#created.netns ? [`netns del ${this.netns}`] : []),
      ];
      try {
        await run('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n` });
      } catch (err) {
        const vethLeft = this.#created.veth && existsSync(`/sys/class/net/${this.rootIfname}`);
        const netnsLeft = this.#created.netns && existsSync(`/run/netns/${this.netns}`);
        if (vethLeft || netnsLeft) errors.push(err);
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
