/**
 * The kernel side of the browser test, self-contained (the plugin is its own npm project): a network
 * namespace joined to the root namespace by a veth pair (the agent attaches to the root end), and a private
 * bpffs for the agent's pins. Names carry the test's pid; everything is removed on dispose, also after a
 * failure, and on process exit.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}
function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // best effort
  }
}

/** A veth pair: `rootIf` in the root namespace (10.250.x.1/30), its peer in namespace `netns` (.2). */
export class Lab {
  readonly netns = `l3af-gp-${process.pid}`;
  readonly rootIf = `gp${process.pid.toString(36)}r`;
  readonly peerIf = `gp${process.pid.toString(36)}s`;
  readonly rootAddress: string;
  readonly peerAddress: string;
  readonly bpffs: string;
  readonly stateDir: string;
  #mounted = false;

  constructor() {
    const n = (process.pid % 16000) * 4;
    const net = `10.250.${(n >> 8) & 255}.${n & 255}`.split('.').map(Number);
    this.rootAddress = `${net[0]}.${net[1]}.${net[2]}.${net[3]! + 1}`;
    this.peerAddress = `${net[0]}.${net[1]}.${net[2]}.${net[3]! + 2}`;
    this.stateDir = mkdtempSync(join(tmpdir(), `l3af-gp-${process.pid}-`));
    this.bpffs = join(this.stateDir, 'bpffs');
    process.once('exit', () => this.dispose());
  }

  /** Creates the namespace, the pair and the bpffs. */
  up(): this {
    sh('mkdir', ['-p', this.bpffs]);
    sh('mount', ['-t', 'bpf', 'bpf', this.bpffs]);
    this.#mounted = true;
    sh(
      'ip',
      ['-batch', '-'],
      [
        `netns add ${this.netns}`,
        `link add ${this.rootIf} type veth peer name ${this.peerIf} netns ${this.netns}`,
      ].join('\n') + '\n'
    );
    sh(
      'ip',
      ['-batch', '-'],
      [`addr add ${this.rootAddress}/30 dev ${this.rootIf}`, `link set dev ${this.rootIf} up`].join('\n') + '\n'
    );
    sh(
      'ip',
      ['-n', this.netns, '-batch', '-'],
      [
        `addr add ${this.peerAddress}/30 dev ${this.peerIf}`,
        'link set dev lo up',
        `link set dev ${this.peerIf} up`,
      ].join('\n') + '\n'
    );
    return this;
  }

  /**
   * Starts TCP connection attempts from the namespace to rootAddress:`port`, `perSecond` of them for
   * `seconds` (each a new SYN: a ratelimiting candidate; sockets are dropped after 300 ms so dropped SYNs are
   * not retransmitted). Resolves with the number of attempts.
   */
  synFlood(port: number, perSecond: number, seconds: number): Promise<number> {
    const script = `const net=require('net');let n=0;const total=${perSecond * seconds};const t=setInterval(()=>{const s=net.connect({host:'${this.rootAddress}',port:${port}});s.on('error',()=>{});setTimeout(()=>s.destroy(),300);if(++n>=total){clearInterval(t);setTimeout(()=>{console.log(n);process.exit(0)},400)}},${Math.round(1000 / perSecond)});`;
    return new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', this.netns, process.execPath, '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0 ? resolve(Number(out.trim())) : reject(new Error(`traffic generator exited ${code}`))
      );
    });
  }

  /** Removes the pair, the namespace, the bpffs mount and the state dir. Idempotent. */
  dispose(): void {
    quiet('ip', ['link', 'del', 'dev', this.rootIf]);
    quiet('ip', ['netns', 'del', this.netns]);
    if (this.#mounted) {
      quiet('umount', [this.bpffs]);
      this.#mounted = false;
    }
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
