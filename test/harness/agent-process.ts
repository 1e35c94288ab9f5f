/**
 * The agent (agent/src/main.ts) as a child process: its YAML config (pins in a private bpffs, state in a temp
 * dir, the bundled package repository unless told otherwise), its JSON log lines and a wait for one, its exit,
 * its REST and metrics URLs, and /proc figures (RSS, peak, open fds). One helper for every test that runs the
 * agent as a process (api, instance, security, artifacts, l3afctl, metrics).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from './net.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type LogLine = Record<string, unknown>;
export type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** Where a started agent answers. */
export interface AgentUrls {
  /** `http://127.0.0.1:<port>/l3af/configs/v1` */
  readonly base: string;
  /** `http://127.0.0.1:<port>/metrics` */
  readonly metricsUrl: string;
}

/** An agent child process: its JSON log lines (also those of a build it hands over to: same stdout). */
export class AgentProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<Exit>;
  #buf = '';
  #exit: Exit | undefined;
  #waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  constructor(readonly child: ChildProcess, readonly urls?: AgentUrls) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.#buf += chunk;
      let nl: number;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const text = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        let line: LogLine;
        try { line = JSON.parse(text) as LogLine; } catch { line = { msg: text }; }
        this.lines.push(line);
        this.#waiters = this.#waiters.filter((w) => (w.pred(line) ? (w.resolve(line), false) : true));
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.stderr.push(chunk));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => { this.#exit = { code, signal }; resolve(this.#exit); }));
  }

  get base(): string {
    if (!this.urls) throw new Error('this agent was spawned without its URLs (use startAgent)');
    return this.urls.base;
  }

  get metricsUrl(): string {
    if (!this.urls) throw new Error('this agent was spawned without its URLs (use startAgent)');
    return this.urls.metricsUrl;
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** Why it is not alive (exit code, last log lines, stderr tail). */
  get death(): string {
    return `agent exited ${JSON.stringify(this.#exit)}; last log lines: ${JSON.stringify(this.lines.slice(-5))}; stderr: ${this.stderr.join('').slice(-3000)}`;
  }

  /** Waits for a log line (one already seen counts unless `fresh`); rejects on timeout and, unless `afterExit`, on exit. */
  waitFor(pred: (l: LogLine) => boolean, ms: number, what: string, opts: { fresh?: boolean; afterExit?: boolean } = {}): Promise<LogLine> {
    const seen = opts.fresh ? undefined : this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr: ${this.stderr.join('')}; log: ${JSON.stringify(this.lines.slice(-10))}`)), ms);
      this.#waiters.push({ pred, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      if (!opts.afterExit) {
        void this.exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`agent exited (${code}) while waiting for ${what}; stderr: ${this.stderr.join('')}; log: ${JSON.stringify(this.lines.slice(-10))}`)); });
      }
    });
  }

  /** A /proc/<pid>/status field in KiB (VmRSS, VmHWM). */
  statusKiB(field: 'VmRSS' | 'VmHWM'): number {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${this.child.pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  }

  /** Resets VmHWM to the current RSS (so a later VmHWM is the peak since now). */
  resetPeak(): void {
    writeFileSync(`/proc/${this.child.pid}/clear_refs`, '5');
  }

  /** Open fds of the agent other than sockets (HTTP keep-alive connections come and go with the clients). */
  openFds(): number {
    const dir = `/proc/${this.child.pid}/fd`;
    return readdirSync(dir).filter((fd) => {
      try {
        return !readlinkSync(join(dir, fd)).startsWith('socket:');
      } catch {
        return false;
      }
    }).length;
  }

  /** POSTs an add / update / delete body. */
  async post(op: 'add' | 'update' | 'delete', body: unknown, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    const res = await fetch(`${this.base}/${op}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal ? { signal } : {}) });
    return { status: res.status, text: await res.text() };
  }

  /** GET of `<base><path>` (5 s at most). */
  async get(path = ''): Promise<{ status: number; text: string }> {
    const res = await fetch(`${this.base}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, text: await res.text() };
  }

  async metrics(): Promise<string> {
    return (await fetch(this.metricsUrl, { signal: AbortSignal.timeout(5000) })).text();
  }

  /** SIGTERM, SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(t);
  }

  /** SIGKILLs the child if it still runs. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** Options of {@link agentConfig}. */
export interface AgentConfigOptions {
  stateDir: string;
  pinRoot: string;
  /** REST port on 127.0.0.1. */
  port: number;
  /** `[web] metrics-addr` port on 127.0.0.1 (default 0: any free port, so agents never collide). */
  metricsPort?: number;
  pidFile?: string;
  /** `[ebpf-repo] url` (default: the bundled repository, programs/repo). */
  repoUrl?: string;
  /** Config store file (default: `<stateDir>/l3af-config.json`). */
  storeFile?: string;
  /** `[l3afd] environment` (default DEV; null = not set). */
  environment?: string | null;
  /** `[l3af] log-level` (default debug; null = not set). */
  logLevel?: string | null;
  /** More keys under `l3afd:` (indented or not). */
  l3afd?: readonly string[];
  /** More keys under `l3af:` (indented or not). */
  l3af?: readonly string[];
  /** `mtls:` block (default: enabled false). */
  mtls?: readonly string[];
  /** Extra YAML sections/keys, appended as is. */
  extra?: readonly string[];
}

const indented = (l: string): string => (l.startsWith('  ') ? l : `  ${l}`);

/** Writes the agent's YAML config into the state dir and returns its path. */
export function agentConfig(o: AgentConfigOptions): string {
  const file = join(o.stateDir, 'agent.yaml');
  const environment = o.environment === undefined ? 'DEV' : o.environment;
  const logLevel = o.logLevel === undefined ? 'debug' : o.logLevel;
  writeFileSync(file, [
    'l3afd:',
    `  pid-file: ${o.pidFile ?? join(o.stateDir, 'l3afd.pid')}`,
    '  datacenter: test',
    `  bpf-dir: ${join(o.stateDir, 'packages')}`,
    '  bpf-chaining-enabled: true',
    `  BpfMapDefaultPath: ${o.pinRoot}`,
    ...(environment === null ? [] : [`  environment: ${environment}`]),
    ...(o.l3afd ?? []).map(indented),
    'ebpf-repo:',
    `  url: ${o.repoUrl ?? pathToFileURL(join(ROOT, 'programs', 'repo')).href}`,
    'l3af-configs:',
    `  restapi-addr: 127.0.0.1:${o.port}`,
    'l3af-config-store:',
    `  filename: ${o.storeFile ?? join(o.stateDir, 'l3af-config.json')}`,
    ...(o.mtls ?? ['mtls:', '  enabled: false']),
    'web:',
    `  metrics-addr: 127.0.0.1:${o.metricsPort ?? 0}`,
    'l3af:',
    `  state-dir: ${o.stateDir}`,
    ...(logLevel === null ? [] : [`  log-level: ${logLevel}`]),
    ...(o.l3af ?? []).map(indented),
    ...(o.extra ?? []),
    '',
  ].join('\n'));
  return file;
}

/** Starts main.ts with `--config file` (the log level from the config: L3AF_LOG_LEVEL cleared; `env` added). */
export function spawnAgent(configFile: string, urls?: AgentUrls, env: Readonly<Record<string, string>> = {}): AgentProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'agent', 'src', 'main.ts'), '--config', configFile], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, L3AF_LOG_LEVEL: '', ...env },
  });
  return new AgentProcess(child, urls);
}

/** Waits until the agent's REST API listens. */
export function listening(agent: AgentProcess, ms = 60_000): Promise<LogLine> {
  return agent.waitFor((l) => l.msg === 'REST API listening', ms, 'the REST API to listen');
}

/** Free ports, a config, the agent spawned on it; resolves once its REST API listens (its URLs known). */
export async function startAgent(o: Omit<AgentConfigOptions, 'port' | 'metricsPort'> & { env?: Readonly<Record<string, string>> }, ms = 90_000): Promise<AgentProcess> {
  const port = await freePort();
  const metricsPort = await freePort();
  const { env, ...config } = o;
  const file = agentConfig({ ...config, port, metricsPort });
  const agent = spawnAgent(file, { base: `http://127.0.0.1:${port}/l3af/configs/v1`, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` }, env);
  try {
    await listening(agent, ms);
  } catch (err) {
    await agent.kill();
    throw err;
  }
  return agent;
}
