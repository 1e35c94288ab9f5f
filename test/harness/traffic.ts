/**
 * Bounded traffic between a lab's namespace (sender) and its root-side address (receiver). Senders run as plain
 * Node scripts inside the namespace (test/harness/bin/*.mjs, no tsx needed); every run is bounded by a count and
 * by time. Receivers here live in the root namespace. Socket counts are not a measure of XDP correctness (a
 * Node UDP socket drops bursts on its receive buffer: RcvbufErrors); tests read BPF counters for that.
 */
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import dgram from 'node:dgram';
import net from 'node:net';
import type { VethLab } from './veth-lab.ts';

const UDP_SENDER = fileURLToPath(new URL('./bin/udp-send.mjs', import.meta.url));
const TCP_CONNECTOR = fileURLToPath(new URL('./bin/tcp-connect.mjs', import.meta.url));
/** Extra time a sender script gets beyond its own bound (node start-up, exit) before it is killed. */
const SCRIPT_GRACE_MS = 10_000;

function checkInt(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${what} must be an integer in [${min}, ${max}], got ${v}`);
  return v;
}

function checkNum(what: string, v: number, minExclusive: number, max: number): number {
  if (!Number.isFinite(v) || v <= minExclusive || v > max) throw new RangeError(`${what} must be a number in (${minExclusive}, ${max}], got ${v}`);
  return v;
}

/** Runs one of the bin/ scripts inside the lab's namespace and parses the JSON line it prints. */
async function runLabScript(lab: VethLab, script: string, params: object, boundMs: number): Promise<unknown> {
  const child = lab.spawn(process.execPath, [script, JSON.stringify(params)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const limit = boundMs + SCRIPT_GRACE_MS;
  const { code, signal, timedOut } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>(
    (resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, limit);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('close', (c, s) => {
        clearTimeout(timer);
        resolve({ code: c, signal: s, timedOut });
      });
    });
  const name = script.split('/').pop();
  if (timedOut) throw new Error(`${name} in ${lab.netns} did not finish within ${limit} ms; killed`);
  if (code !== 0) {
    throw new Error(`${name} in ${lab.netns} failed (${code === null ? `signal ${signal}` : `exit ${code}`}): ${stderr.trim()}`);
  }
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as unknown;
  } catch {
    throw new Error(`${name} in ${lab.netns} printed no result: ${JSON.stringify(stdout.slice(-200))} ${stderr.trim()}`);
  }
}

/** Options for {@link sendUdp}. */
export interface UdpSendOptions {
  /** Destination UDP port. */
  port: number;
  /** Datagrams to send at most (0..10 000 000). */
  count: number;
  /** Payload bytes per datagram (0..65 507). Default 64. */
  size?: number;
  /** Paced send rate in datagrams per second. Default: as fast as the sender goes. */
  ratePps?: number;
  /** Stop after this many milliseconds even if `count` was not reached (1..60 000). Default 5000. */
  maxMs?: number;
  /** Destination address. Default: the lab's root-side address. */
  host?: string;
  /** Source port. Default: an ephemeral port. */
  srcPort?: number;
}

/** What a UDP sender run did. */
export interface UdpSendReport {
  /** Datagrams the kernel accepted from the sender. */
  sent: number;
  /** Sends that returned an error (e.g. ENOBUFS). */
  failed: number;
  /** Time from the first send to the last completion. */
  elapsedMs: number;
  /** Error code of the first failed send, or null. */
  firstError: string | null;
}

/** Sends bounded UDP traffic from the lab's namespace and reports what happened. */
export async function sendUdpReport(lab: VethLab, options: UdpSendOptions): Promise<UdpSendReport> {
  const params = {
    host: options.host ?? lab.rootAddress,
    port: checkInt('sendUdp: port', options.port, 1, 65_535),
    count: checkInt('sendUdp: count', options.count, 0, 10_000_000),
    size: checkInt('sendUdp: size', options.size ?? 64, 0, 65_507),
    ratePps: options.ratePps === undefined ? null : checkNum('sendUdp: ratePps', options.ratePps, 0, 10_000_000),
    maxMs: checkInt('sendUdp: maxMs', options.maxMs ?? 5_000, 1, 60_000),
    srcPort: options.srcPort === undefined ? null : checkInt('sendUdp: srcPort', options.srcPort, 1, 65_535),
  };
  if (net.isIPv4(params.host) === false) throw new RangeError(`sendUdp: host must be an IPv4 address, got ${params.host}`);
  const out = await runLabScript(lab, UDP_SENDER, params, params.maxMs) as UdpSendReport;
  if (typeof out.sent !== 'number' || typeof out.failed !== 'number') throw new Error(`udp-send: malformed result ${JSON.stringify(out)}`);
  return out;
}

/** Sends bounded UDP traffic from the lab's namespace; resolves with the number of datagrams handed to the kernel. */
export async function sendUdp(lab: VethLab, options: UdpSendOptions): Promise<number> {
  return (await sendUdpReport(lab, options)).sent;
}

/** Options for {@link connectTcp}. */
export interface TcpConnectOptions {
  /** Destination TCP port. */
  port: number;
  /** Connection attempts (0..100 000). */
  attempts: number;
  /** Attempts started per second; attempt i starts i/ratePerSec seconds after the first (0 < rate ≤ 100 000). */
  ratePerSec: number;
  /**
   * Give up on one attempt after this many milliseconds (1..60 000). Default 1000. The kernel retransmits an
   * unanswered SYN after about 1 s, so a timeout under 1000 ms keeps a dropped SYN from connecting later.
   */
  timeoutMs?: number;
  /** Destination address. Default: the lab's root-side address. */
  host?: string;
  /** Close a connected socket with RST instead of FIN (no TIME_WAIT left behind). Default false. */
  reset?: boolean;
}

/** What a run of TCP connection attempts did. */
export interface TcpConnectReport {
  attempted: number;
  connected: number;
  /** Attempts answered with RST (ECONNREFUSED). */
  refused: number;
  /** Attempts that neither connected nor failed within timeoutMs. */
  timedOut: number;
  /** Attempts that failed otherwise (see firstError). */
  failed: number;
  firstError: string | null;
  /** perSecond[k]: connections that completed in second k after the first attempt started. */
  perSecond: number[];
  /** attemptedPerSecond[k]: attempts started in second k. */
  attemptedPerSecond: number[];
  /** From the first attempt to the last settled attempt. */
  elapsedMs: number;
  /** Latency of each successful connect, in completion order. */
  connectMs: number[];
}

/** Makes bounded, paced TCP connection attempts from the lab's namespace to the root side. */
export async function connectTcp(lab: VethLab, options: TcpConnectOptions): Promise<TcpConnectReport> {
  const params = {
    host: options.host ?? lab.rootAddress,
    port: checkInt('connectTcp: port', options.port, 1, 65_535),
    attempts: checkInt('connectTcp: attempts', options.attempts, 0, 100_000),
    ratePerSec: checkNum('connectTcp: ratePerSec', options.ratePerSec, 0, 100_000),
    timeoutMs: checkInt('connectTcp: timeoutMs', options.timeoutMs ?? 1_000, 1, 60_000),
    reset: options.reset ?? false,
  };
  if (!net.isIPv4(params.host)) throw new RangeError(`connectTcp: host must be an IPv4 address, got ${params.host}`);
  const planned = (params.attempts / params.ratePerSec) * 1000;
  if (planned > 60_000) throw new RangeError(`connectTcp: ${params.attempts} attempts at ${params.ratePerSec}/s take longer than 60 s`);
  const out = await runLabScript(lab, TCP_CONNECTOR, params, planned + params.timeoutMs) as TcpConnectReport;
  if (typeof out.connected !== 'number' || !Array.isArray(out.perSecond)) throw new Error(`tcp-connect: malformed result ${JSON.stringify(out)}`);
  return out;
}

/** Resolves when `done()` is true, checking after each `event` and at the deadline; resolves false on timeout. */
function waitUntil(emitter: NodeJS.EventEmitter, event: string, done: () => boolean, timeoutMs: number): Promise<boolean> {
  if (done()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onEvent = (): void => {
      if (!done()) return;
      cleanup();
      resolve(true);
    };
    const timer = setTimeout(() => {
      cleanup();
      resolve(done());
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.removeListener(event, onEvent);
    };
    emitter.on(event, onEvent);
  });
}

/** Options for {@link TcpListener.listen}. */
export interface TcpListenerOptions {
  /** Address to bind (in the root namespace), e.g. a lab's rootAddress. */
  host: string;
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** Accept-queue length. Default 4096 (the kernel caps it at net.core.somaxconn). */
  backlog?: number;
}

/** A TCP listener in the root namespace that accepts connections, closes them at once and counts them. */
export class TcpListener {
  #accepted = 0;
  #closed = false;

  private constructor(private readonly server: net.Server, readonly host: string, readonly port: number) {
    server.on('connection', (sock) => {
      this.#accepted++;
      sock.on('error', () => undefined);
      sock.destroy();
    });
  }

  /** Binds and listens; resolves once the socket is listening. */
  static async listen(options: TcpListenerOptions): Promise<TcpListener> {
    if (!net.isIPv4(options.host)) throw new RangeError(`TcpListener: host must be an IPv4 address, got ${options.host}`);
    const port = checkInt('TcpListener: port', options.port ?? 0, 0, 65_535);
    const backlog = checkInt('TcpListener: backlog', options.backlog ?? 4096, 1, 65_535);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.host, port, backlog }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('TcpListener: no bound address');
    return new TcpListener(server, options.host, addr.port);
  }

  /** Connections accepted so far. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Waits until at least `n` connections were accepted or `timeoutMs` passed; resolves with the count then. */
  async waitForAccepted(n: number, timeoutMs = 2_000): Promise<number> {
    await waitUntil(this.server, 'connection', () => this.#accepted >= n, timeoutMs);
    return this.#accepted;
  }

  /** Stops listening. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A {@link TcpListener} on the lab's root-side address. */
export function listenTcp(lab: VethLab, options: Omit<TcpListenerOptions, 'host'> = {}): Promise<TcpListener> {
  return TcpListener.listen({ ...options, host: lab.rootAddress });
}

/** Options for {@link UdpReceiver.bind}. */
export interface UdpReceiverOptions {
  /** Address to bind (in the root namespace). */
  host: string;
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** SO_RCVBUF to ask for (capped by net.core.rmem_max). Default 4 MiB. */
  recvBufferSize?: number;
}

/**
 * Counts datagrams arriving at a root-namespace UDP socket. Only a sanity check: under bursts the socket drops
 * datagrams on its receive buffer (RcvbufErrors), so fewer may arrive than the kernel let through.
 */
export class UdpReceiver {
  #received = 0;
  #bytes = 0;
  #closed = false;

  private constructor(private readonly socket: dgram.Socket, readonly host: string, readonly port: number) {
    socket.on('message', (msg) => {
      this.#received++;
      this.#bytes += msg.length;
    });
  }

  /** Binds a UDP socket; resolves once it is bound. */
  static async bind(options: UdpReceiverOptions): Promise<UdpReceiver> {
    if (!net.isIPv4(options.host)) throw new RangeError(`UdpReceiver: host must be an IPv4 address, got ${options.host}`);
    const port = checkInt('UdpReceiver: port', options.port ?? 0, 0, 65_535);
    const rcvbuf = checkInt('UdpReceiver: recvBufferSize', options.recvBufferSize ?? 4 * 1024 * 1024, 1024, 1 << 30);
    const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: rcvbuf });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, options.host, () => {
        socket.removeListener('error', reject);
        resolve();
      });
    });
    return new UdpReceiver(socket, options.host, socket.address().port);
  }

  /** Datagrams received so far. */
  get received(): number {
    return this.#received;
  }

  /** Payload bytes received so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Waits until at least `n` datagrams arrived or `timeoutMs` passed; resolves with the count then. */
  async waitFor(n: number, timeoutMs = 2_000): Promise<number> {
    await waitUntil(this.socket, 'message', () => this.#received >= n, timeoutMs);
    return this.#received;
  }

  /** Waits until nothing arrived for `quietMs` (or `maxMs` passed); resolves with the count then. */
  async waitQuiet(quietMs = 200, maxMs = 5_000): Promise<number> {
    const end = Date.now() + maxMs;
    let last = -1;
    while (last !== this.#received && Date.now() < end) {
      last = this.#received;
      await new Promise((r) => setTimeout(r, Math.min(quietMs, Math.max(1, end - Date.now()))));
    }
    return this.#received;
  }

  /** Closes the socket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A {@link UdpReceiver} on the lab's root-side address. */
export function receiveUdp(lab: VethLab, options: Omit<UdpReceiverOptions, 'host'> = {}): Promise<UdpReceiver> {
  return UdpReceiver.bind({ ...options, host: lab.rootAddress });
}

/**
 * The `Udp:` counters of /proc/net/snmp for the root namespace (InDatagrams, RcvbufErrors, …). They are
 * namespace-wide: compare deltas only when nothing else receives UDP meanwhile.
 */
export async function udpSnmpCounters(): Promise<Record<string, number>> {
  const lines = (await readFile('/proc/net/snmp', 'utf8')).split('\n').filter((l) => l.startsWith('Udp:'));
  const [head, values] = lines;
  if (head === undefined || values === undefined) throw new Error('/proc/net/snmp has no Udp lines');
  const names = head.split(/\s+/).slice(1);
  const nums = values.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, nums[i] ?? NaN]));
}
