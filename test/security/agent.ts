// Shared by the security, instance and l3afctl tests: the agent (agent/src/main.ts) as a child process with a YAML
// config over a private bpffs and a temp state dir, its JSON log lines, and test certificates made with openssl.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../engine/helpers.ts';
export { freePort } from '../harness/net.ts';

/** A TCP port that was free a moment ago on 127.0.0.1. */

export type LogLine = Record<string, unknown>;

/** An agent child process: its JSON log lines (also those of a build it hands over to: same stdout). */
export class AgentProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #buf = '';
  #waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  constructor(readonly child: ChildProcess) {
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
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Waits for a log line (one already seen counts unless `fresh`); rejects on timeout (not on exit when `afterExit`). */
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
  port: number;
  pidFile?: string;
  /** Extra YAML sections/keys, appended as is (e.g. an `mtls:` block). */
  extra?: string[];
  /** `mtls:` block (default: enabled false). */
  mtls?: string[];
  /** Lines under `l3af:`. */
  l3af?: string[];
  /** `[web] metrics-addr` port on 127.0.0.1 (default 0: any free port, so agents never collide). */
  metricsPort?: number;
}

/** Writes the agent's YAML config into the state dir and returns its path. */
export function agentConfig(o: AgentConfigOptions): string {
  const file = join(o.stateDir, 'agent.yaml');
  writeFileSync(file, [
    'l3afd:',
    `  pid-file: ${o.pidFile ?? join(o.stateDir, 'l3afd.pid')}`,
    '  datacenter: test',
    `  bpf-dir: ${join(o.stateDir, 'packages')}`,
    '  bpf-chaining-enabled: true',
    `  BpfMapDefaultPath: ${o.pinRoot}`,
    '  environment: DEV',
    'ebpf-repo:',
    `  url: ${pathToFileURL(join(ROOT, 'programs', 'repo')).href}`,
    'l3af-configs:',
    `  restapi-addr: 127.0.0.1:${o.port}`,
    'l3af-config-store:',
    `  filename: ${join(o.stateDir, 'l3af-config.json')}`,
    ...(o.mtls ?? ['mtls:', '  enabled: false']),
    'web:',
    `  metrics-addr: 127.0.0.1:${o.metricsPort ?? 0}`,
    'l3af:',
    `  state-dir: ${o.stateDir}`,
    '  log-level: debug',
    ...(o.l3af ?? []),
    ...(o.extra ?? []),
    '',
  ].join('\n'));
  return file;
}

/** Starts main.ts with `--config file`. */
export function spawnAgent(configFile: string): AgentProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'agent', 'src', 'main.ts'), '--config', configFile], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, L3AF_LOG_LEVEL: '' },
  });
  return new AgentProcess(child);
}

/** Waits until the agent's REST API listens. */
export function listening(agent: AgentProcess, ms = 60_000): Promise<LogLine> {
  return agent.waitFor((l) => l.msg === 'REST API listening', ms, 'the REST API to listen');
}

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A test PKI made with openssl in `dir`. */
export class TestPki {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** A self-signed CA `<name>.pem` / `<name>.key`. */
  ca(name: string): void {
    openssl(this.dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
      '-days', '30', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  }

  /** A leaf `<name>.crt` / `<name>.key` signed by CA `ca`, with these SANs (`DNS:x`, `IP:y`), valid `days` days. */
  leaf(name: string, ca: string, sans: string[], usage: 'serverAuth' | 'clientAuth', days = 20): void {
    openssl(this.dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    writeFileSync(join(this.dir, `${name}.ext`), `subjectAltName=${sans.join(',')}\nextendedKeyUsage=${usage}\nbasicConstraints=CA:FALSE\n`);
    openssl(this.dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`,
      '-days', String(days), '-extfile', `${name}.ext`]);
  }

  path(file: string): string {
    return join(this.dir, file);
  }
}
