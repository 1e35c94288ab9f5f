/**
 * Hand-over to another installed build (l3afd's graceful restart, without its fixed /tmp
 * sockets): the new process is spawned with a private IPC channel (a socketpair inherited as a
 * file descriptor, nothing in the file system) and reports `ready` once it serves the REST API,
 * or `failed` with a reason.
 *
 * Builds live in `[graceful-restart] basepath/<vI.J.K>/`: an executable `l3af-agent` launcher
 * there or in its `l3afd/` folder (the layout of l3afd's `l3afd.tar.gz`, which programs/bundle.ts
 * produces for this agent), or a checkout with its node_modules (`agent/src/main.ts` run through
 * tsx). A build that is not installed is downloaded first, as l3afd does, from
 * `[graceful-restart] restart-artifacts-url`/<vI.J.K>/l3afd.tar.gz and extracted there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { downloadToFile } from '../artifacts/download.ts';
import { ArtifactError } from '../artifacts/errors.ts';
import type { AgentConfig } from '../config/index.ts';
import type { Logger } from '../logger.ts';

/** Environment variable set for a process started by a hand-over (the old pid). */
export const HANDOVER_ENV = 'L3AF_HANDOVER_FROM';

/** A request the agent refuses before anything changes (HTTP 400). */
export class HandoverRefused extends Error {
  constructor(readonly path: string, message: string) {
    super(message);
    this.name = 'HandoverRefused';
  }
}

/** How to start a build. */
export interface BuildEntry {
  readonly dir: string;
  readonly command: string;
  readonly args: string[];
}

/** Checks that `version` is vI.J.K within `version-limit` (throws HandoverRefused). */
function resolveVersion(config: AgentConfig, version: string): void {
  const m = /^v(\d{1,9})\.(\d{1,9})\.(\d{1,9})$/.exec(version);
  if (!m) throw new HandoverRefused('/version', `"${version}" is not vI.J.K`);
  const limit = config.gracefulRestart.versionLimit;
  if (m.slice(1).some((c) => Number(c) > limit)) {
    throw new HandoverRefused('/version', `"${version}" has a component above [graceful-restart] version-limit (${limit})`);
  }
}

/** Checks `version` against `version-limit` and finds its installed build (throws HandoverRefused). */
export function resolveBuild(config: AgentConfig, version: string): BuildEntry {
  resolveVersion(config, version);
  const dir = join(config.gracefulRestart.basepath, version);
  let real: string;
  try {
    real = realpathSync(dir);
    if (!statSync(real).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new HandoverRefused('/version', `no build of ${version} is installed: ${dir} does not exist ([graceful-restart] basepath)`);
  }
  for (const launcher of [join(dir, 'l3af-agent'), join(dir, 'l3afd', 'l3af-agent')]) {
    if (!existsSync(launcher)) continue;
    try {
      accessSync(launcher, constants.X_OK);
    } catch {
      throw new HandoverRefused('/version', `${launcher} is not executable`);
    }
    return { dir, command: launcher, args: [] };
  }
  const main = join(dir, 'agent', 'src', 'main.ts');
  if (existsSync(main) && existsSync(join(dir, 'node_modules', 'tsx'))) {
    return { dir, command: process.execPath, args: ['--import', 'tsx', main] };
  }
  throw new HandoverRefused('/version', `${dir} holds no agent: expected an executable l3af-agent, or agent/src/main.ts with node_modules`);
}

/** The URL l3afd downloads a build from: `{restart-artifacts-url}/{version}/l3afd.tar.gz` (path-joined). */
export function buildUrl(config: AgentConfig, version: string): URL {
  const url = new URL(config.gracefulRestart.restartArtifactsUrl);
  url.pathname = posix.join(url.pathname || '/', encodeURIComponent(version), 'l3afd.tar.gz');
  return url;
}

/**
 * Makes sure `[graceful-restart] basepath/<version>/` exists: when it does not, downloads
 * `restart-artifacts-url/<version>/l3afd.tar.gz` and extracts it there (atomically: into a
 * temporary folder renamed into place), as l3afd does before handing over. Returns whether it
 * downloaded. Versions are checked by {@link resolveBuild} first.
 */
export async function installBuild(config: AgentConfig, version: string, logger?: Logger): Promise<boolean> {
  resolveVersion(config, version);
  const dir = join(config.gracefulRestart.basepath, version);
  if (existsSync(dir)) return false;
  const url = buildUrl(config, version);
  await mkdir(config.gracefulRestart.basepath, { recursive: true });
  const nonce = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const archive = join(config.gracefulRestart.basepath, `.${version}.${nonce}.tar.gz`);
  const staging = join(config.gracefulRestart.basepath, `.${version}.${nonce}`);
  const { Agent } = await import('undici'); // loaded only for a hand-over
  const dispatcher = new Agent({ connect: { timeout: config.l3af.downloadConnectTimeoutMs } });
  try {
    logger?.info({ url: url.href }, 'hand-over: downloading the build ([graceful-restart] restart-artifacts-url)');
    try {
      await downloadToFile(url, archive, {
        dispatcher, idleTimeoutMs: config.l3afd.httpClientTimeoutMs, totalTimeoutMs: 600_000, maxBytes: config.l3af.artifactMaxBytes, progressStepBytes: 64 * 1024 * 1024 });
    } catch (err) {
      // no such build anywhere: a refusal (nothing changed), as when nothing is installed
      if (err instanceof ArtifactError && err.code === 'NOT_FOUND') {
        throw new HandoverRefused('/version', `no build of ${version} is installed: ${dir} does not exist and ${url.href} is not there ([graceful-restart] basepath, restart-artifacts-url)`);
      }
      throw err;
    }
    const { extractTarGz } = await import('../artifacts/extract.ts'); // tar, loaded only for a hand-over
    await extractTarGz(archive, staging, { maxBytes: config.l3af.artifactMaxBytes, maxEntries: config.l3af.artifactMaxEntries }, url.href);
    await rename(staging, dir);
    logger?.info({ url: url.href, dir }, 'hand-over: build installed');
    return true;
  } finally {
    await dispatcher.close();
    await rm(archive, { force: true });
    await rm(staging, { recursive: true, force: true });
  }
}

interface Report {
  type: 'ready' | 'failed';
  pid?: number;
  reason?: string;
}

function isReport(m: unknown): m is Report {
  return typeof m === 'object' && m !== null && ((m as Report).type === 'ready' || (m as Report).type === 'failed');
}

/**
 * Starts `entry` with `--config configPath` (none: the embedded default) and waits up to
 * `timeoutMs` for its `ready`. Resolves with its pid (the child is detached and left running);
 * on `failed`, exit or timeout the child is killed and the promise rejects with the reason.
 */
export function startBuild(entry: BuildEntry, opts: { configPath?: string; timeoutMs: number; logger: Logger }): Promise<number> {
  const args = [...entry.args, ...(opts.configPath === undefined ? [] : ['--config', opts.configPath])];
  const child: ChildProcess = spawn(entry.command, args, {
    cwd: entry.dir,
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [HANDOVER_ENV]: String(process.pid) } });
  opts.logger.info({ pid: child.pid, command: entry.command, args }, 'hand-over: new build started, waiting for it to serve');
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const fail = (reason: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const hard = setTimeout(() => child.kill('SIGKILL'), 5_000);
        hard.unref();
        child.once('exit', () => clearTimeout(hard));
      }
      reject(new Error(reason));
    };
    const timer = setTimeout(() => fail(`the new build did not report ready within ${opts.timeoutMs} ms ([graceful-restart] time-to-restart)`), opts.timeoutMs);
    child.once('error', (err) => fail(`the new build could not be started: ${err.message}`));
    child.once('exit', (code, signal) => fail(`the new build exited (${signal ?? code}) before it was ready`));
    child.on('message', (m: unknown) => {
      if (!isReport(m) || settled) return;
      if (m.type === 'failed') {
        fail(`the new build failed: ${m.reason ?? 'no reason given'}`);
        return;
      }
      settled = true;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.disconnect();
      child.unref();
      resolve(child.pid ?? 0);
    });
  });
}

/** In a process started by a hand-over: reports to the old one (no-op otherwise). */
export function reportToPredecessor(report: Report): Promise<void> {
  if (process.env[HANDOVER_ENV] === undefined || typeof process.send !== 'function') return Promise.resolve();
  return new Promise((resolve) => {
    process.send?.(report, undefined, {}, () => {
      if (process.connected) process.disconnect();
      resolve();
    });
  });
}

/** Whether this process was started by a hand-over. */
export function startedByHandover(): boolean {
  return process.env[HANDOVER_ENV] !== undefined;
}
