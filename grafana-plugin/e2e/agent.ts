/**
 * Runs the real l3af agent (repo root: `node --import tsx agent/src/main.ts --config <yaml>`) for the browser
 * test: pins in the lab's private bpffs, state in the lab's temp dir, the bundled package repository,
 * REST on 127.0.0.1:<free port>.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Lab } from './lab';

/** The repository root (grafana-plugin/..). */
export const REPO_ROOT = resolve(__dirname, '..', '..');

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  if (addr === null || typeof addr === 'string') {
    throw new Error('no free port');
  }
  return addr.port;
}

/** Builds programs/repo (make -C programs package) when the ratelimiting package is missing. */
export function ensurePackages(): void {
  const repo = join(REPO_ROOT, 'programs', 'repo', 'ratelimiting');
  if (!existsSync(repo)) {
    execFileSync('make', ['-C', join(REPO_ROOT, 'programs'), 'package'], { stdio: 'inherit', timeout: 300_000 });
  }
}

export class Agent {
  readonly log: string[] = [];
  readonly exited: Promise<number | null>;
  constructor(
    readonly child: ChildProcess,
    readonly url: string,
    /** host:port of the agent's metrics endpoint. */
    readonly metricsAddr: string
  ) {
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  /** Starts an agent with its state in `lab.stateDir` and its pins below `lab.bpffs` (a directory on a bpffs). */
  static async start(lab: Pick<Lab, 'stateDir' | 'bpffs'>): Promise<Agent> {
    ensurePackages();
    const port = await freePort();
    const metricsPort = await freePort();
    const config = join(lab.stateDir, 'agent.yaml');
    writeFileSync(
      config,
      [
        'l3afd:',
        `  pid-file: ${join(lab.stateDir, 'l3afd.pid')}`,
        '  datacenter: e2e',
        `  bpf-dir: ${join(lab.stateDir, 'packages')}`,
        '  bpf-chaining-enabled: true',
        `  BpfMapDefaultPath: ${lab.bpffs}`,
        '  environment: DEV',
        'ebpf-repo:',
        `  url: ${pathToFileURL(join(REPO_ROOT, 'programs', 'repo')).href}`,
        'l3af-configs:',
        `  restapi-addr: 127.0.0.1:${port}`,
        'web:',
        `  metrics-addr: 127.0.0.1:${metricsPort}`,
        'l3af-config-store:',
        `  filename: ${join(lab.stateDir, 'l3af-config.json')}`,
        'mtls:',
        '  enabled: false',
        'l3af:',
        `  state-dir: ${lab.stateDir}`,
        '  log-level: info',
        '',
      ].join('\n')
    );
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'agent', 'src', 'main.ts'), '--config', config],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      }
    );
    const agent = new Agent(child, `http://127.0.0.1:${port}`, `127.0.0.1:${metricsPort}`);
    const onData = (d: Buffer) => agent.log.push(...d.toString('utf8').split('\n').filter(Boolean));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`the agent exited (${child.exitCode}) before listening:\n${agent.log.slice(-20).join('\n')}`);
      }
      if (agent.log.some((l) => l.includes('REST API listening'))) {
        return agent;
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the agent did not listen within 90 s:\n${agent.log.slice(-20).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** GET a path of the agent's REST API, parsed as JSON. */
  async get<T>(path: string): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.url}${path}`);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** SIGTERM, then SIGKILL after 10 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return;
    }
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}
