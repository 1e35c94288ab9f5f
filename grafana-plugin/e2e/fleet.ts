/**
 * The kernel side of the rollout browser test: N real agents, each its own process with its own REST and metrics
 * port, state dir, pin root and veth pair (the agent's programs on the root end, the peer in one network namespace
 * the lab owns), all pins below one private bpffs mount (a directory per agent). Names carry the test's pid;
 * everything is removed on dispose, also after a failure, and on process exit.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from './agent';

function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // best effort
  }
}

export interface FleetMember {
  /** lab-00 .. lab-NN */
  name: string;
  /** The root end of its veth pair: where its programs run. */
  iface: string;
  stateDir: string;
  /** Its pin root (a directory on the lab's bpffs). */
  bpffs: string;
  agent: Agent;
}

export class FleetLab {
  readonly netns = `l3af-gpf-${process.pid}`;
  readonly dir = mkdtempSync(join(tmpdir(), `l3af-gpf-${process.pid}-`));
  readonly bpffs = join(this.dir, 'bpffs');
  readonly members: FleetMember[] = [];
  #ifaces: string[] = [];
  #mounted = false;
  #disposed = false;

  private constructor() {
    process.once('exit', () => this.dispose());
  }

  /** The root end of member `i`'s pair (`gf<pid36><i>r`, at most 11 characters). */
  static ifaceOf(i: number): string {
    return `gf${process.pid.toString(36)}${i}r`;
  }

  /**
   * Creates the namespace, `n` veth pairs and the bpffs, then starts the agents `parallel` at a time (each start is
   * a node process compiling the agent with tsx). Resolves when every agent listens.
   */
  static async start(n: number, parallel = 5): Promise<FleetLab> {
    const lab = new FleetLab();
    try {
      mkdirSync(lab.bpffs, { recursive: true });
      execFileSync('mount', ['-t', 'bpf', 'bpf', lab.bpffs]);
      lab.#mounted = true;
      const cmds = [`netns add ${lab.netns}`];
      for (let i = 0; i < n; i++) {
        const root = FleetLab.ifaceOf(i);
        const peer = root.replace(/r$/, 's');
        lab.#ifaces.push(root);
        cmds.push(`link add ${root} type veth peer name ${peer} netns ${lab.netns}`, `link set dev ${root} up`);
      }
      execFileSync('ip', ['-batch', '-'], { input: `${cmds.join('\n')}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
      for (let i = 0; i < n; i += parallel) {
        await Promise.all(
          Array.from({ length: Math.min(parallel, n - i) }, async (_, k) => {
            const idx = i + k;
            const stateDir = join(lab.dir, `agent${idx}`);
            const pins = join(lab.bpffs, `a${idx}`);
            mkdirSync(stateDir, { recursive: true });
            mkdirSync(pins); // on the bpffs: the agent pins there without mounting its own
            const agent = await Agent.start({ stateDir, bpffs: pins });
            lab.members[idx] = {
              name: `lab-${String(idx).padStart(2, '0')}`,
              iface: FleetLab.ifaceOf(idx),
              stateDir,
              bpffs: pins,
              agent,
            };
          })
        );
      }
      return lab;
    } catch (err) {
      await lab.stop();
      lab.dispose();
      throw err;
    }
  }

  /** Stops every agent (SIGTERM, SIGKILL after 10 s). */
  async stop(): Promise<void> {
    await Promise.all(this.members.filter(Boolean).map((m) => m.agent.stop().catch(() => undefined)));
  }

  /** Kills what still runs, removes the pairs, the namespace, the bpffs mount and the state dirs. Idempotent. */
  dispose(): void {
    if (this.#disposed) {
      return;
    }
    this.#disposed = true;
    for (const m of this.members.filter(Boolean)) {
      if (m.agent.child.exitCode === null && m.agent.child.signalCode === null) {
        m.agent.child.kill('SIGKILL');
      }
    }
    for (const i of this.#ifaces) {
      quiet('ip', ['link', 'del', 'dev', i]);
    }
    quiet('ip', ['netns', 'del', this.netns]);
    if (this.#mounted) {
      quiet('umount', [this.bpffs]);
      this.#mounted = false;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
