// A fleet lab: N real agents (agent/src/main.ts child processes), each with its own REST port, state dir, private
// bpffs and veth pair (root end for the agent's programs, peer in its own netns), for fleet rollout tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrivateBpffs } from './bpffs.ts';
import { VethLab } from './veth-lab.ts';
import { freePort } from './net.ts';
import { agentConfig, listening, spawnAgent, type AgentProcess } from './agent-process.ts';

export interface FleetMember {
  name: string;
  port: number;
  url: string;
  iface: string;
  stateDir: string;
  bpffs: PrivateBpffs;
  lab: VethLab;
  agent: AgentProcess;
}

export class FleetLab {
  private constructor(readonly members: FleetMember[]) {}

  /** Starts `n` agents, `parallel` at a time (each agent start costs a node process and a tsx compile). */
  static async create(n: number, parallel = 4): Promise<FleetLab> {
    const members: FleetMember[] = [];
    const lab = new FleetLab(members);
    try {
      for (let i = 0; i < n; i += parallel) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(parallel, n - i) }, async (_, k) => {
            const idx = i + k;
            const bpffs = await PrivateBpffs.create();
            const veth = await VethLab.create();
            const stateDir = mkdtempSync(join(tmpdir(), `l3af-fleet-${process.pid}-${idx}-`));
            const port = await freePort();
            const agent = spawnAgent(agentConfig({ stateDir, pinRoot: bpffs.path, port }));
            const m: FleetMember = { name: `agent${String(idx).padStart(2, '0')}`, port, url: `http://127.0.0.1:${port}`, iface: veth.rootIfname, stateDir, bpffs, lab: veth, agent };
            members.push(m);
            await listening(agent, 120_000);
            return m;
          }),
        );
        void batch;
      }
      members.sort((a, b) => a.name.localeCompare(b.name));
      return lab;
    } catch (err) {
      await lab[Symbol.asyncDispose]();
      throw err;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.members.map(async (m) => {
      await m.agent.kill().catch(() => undefined);
      await m.lab[Symbol.asyncDispose]().catch(() => undefined);
      await m.bpffs[Symbol.asyncDispose]().catch(() => undefined);
      rmSync(m.stateDir, { recursive: true, force: true });
    }));
  }
}
