/**
 * ArtifactStore: fetches packages from `{repo}/{name}/{version}/{platform}/{artifact}`, verifies
 * them against `{artifact}.sha256`, and keeps a content-addressed cache: the archive's sha256
 * names its extracted folder `{cacheDir}/{sha256}/`, so an unchanged `latest` is reused and a
 * changed one is fetched and extracted again. Extraction goes to a temporary folder that is
 * renamed into place, so a cache folder is always complete.
 *
 * As l3afd: the archive format is picked by the artifact's suffix (`.tar.gz`, `.zip`); any other
 * name is served from a folder already extracted at l3afd's place, `{bpf-dir}/{name}/{version}/
 * {artifact up to first '.'}` (l3afd skips the download whenever that folder exists), and fails
 * with l3afd's "unknown artifact format" otherwise. A package without `.sha256` is accepted with a
 * warning and a count (unverified.ts) unless the checksum is required for its scheme.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, realpath, rename, rm } from 'node:fs/promises';
import { join, posix, sep } from 'node:path';
import type { Dispatcher } from 'undici';
import { downloadToFile, fetchSmallText, type DownloadProgress } from './download.ts';
import { DEFAULT_MAX_RATIO } from './entry-check.ts';
import { ArtifactError } from './errors.ts';
import { archiveFormat } from './archive-format.ts';
import { extractInWorker } from './extract-worker.ts';
import { countUnverified } from './unverified.ts';
import type { AgentConfig } from '../config/schema.ts';
import type { Logger } from '../logger.ts';

/** Which package to fetch. */
export interface ArtifactRef {
  /** Package name (URL and path segment). */
  name: string;
  /** Package version (`latest`, `1.2.0`, ...). */
  version: string;
  /** Archive file name (`l3af_ratelimiting.tar.gz`); the part before the first "." is its top folder. */
  artifact: string;
  /** Per-program repository (`ebpf_package_repo_url`); empty/undefined = the store's repository. */
  repoUrl?: string;
}

/** What {@link ArtifactStore.fetch} returns. */
export interface FetchedArtifact {
  /** The artifact URL. */
  url: string;
  /** sha256 of the archive bytes (the cache key); undefined for a pre-extracted folder (no archive). */
  sha256?: string;
  /** `{cacheDir}/{sha256}`: the extracted archive. */
  root: string;
  /** The program's working directory: `{root}/{artifact up to first '.'}`. */
  dir: string;
  /** True when the extracted folder already existed (nothing was extracted). */
  cached: boolean;
  /** True when the archive was transferred (false when the .sha256 matched a cached folder). */
  downloaded: boolean;
}

/** Options of an {@link ArtifactStore}. */
export interface ArtifactStoreOptions {
  /** Cache root; created if missing. */
  cacheDir: string;
  /** Default repository base URL (`[ebpf-repo] url`). */
  repoUrl: string;
  /** Platform segment of the URL (e.g. `jammy`). */
  platform: string;
  /** l3afd's `bpf-dir`: pre-extracted packages of artifacts that are not .tar.gz/.zip are looked up here. */
  provisionedDir?: string;
  /** Require `{artifact}.sha256` for http(s) artifacts (default false, as l3afd: accepted with a warning and a count). */
  checksumRequiredHttp?: boolean;
  /** Require `{artifact}.sha256` for file: artifacts (default false; checked whenever present). */
  checksumRequiredFile?: boolean;
  /** TCP/TLS connect timeout (default 10 s). */
  connectTimeoutMs?: number;
  /** Longest wait for response headers and longest silence in a body (default 30 s = l3afd http-client-timeout). */
  idleTimeoutMs?: number;
  /** Deadline of one whole download (default 10 min). */
  totalTimeoutMs?: number;
  /** Largest archive and largest total extracted size (default 512 MiB). */
  maxBytes?: number;
  /** Most archive entries (default 10 000). */
  maxEntries?: number;
  /** Largest expansion ratio of an archive past 32 MiB (default 200). */
  maxRatio?: number;
  /** Deadline of one extraction, run in a worker thread (default 120 s). */
  extractTimeoutMs?: number;
  /** Progress step for large downloads (default 8 MiB, or 10 % of a known size when larger). */
  progressStepBytes?: number;
  logger?: Logger;
  /** Custom undici dispatcher (default: an Agent with the connect timeout). */
  dispatcher?: Dispatcher;
}

const MiB = 1024 * 1024;

/** Throws unless `s` is a single, non-special path segment. */
function segment(what: string, s: string, url: string): string {
  if (s === '' || s === '.' || s === '..' || /[/\\\0]/.test(s)) {
    throw new ArtifactError('NOT_FOUND', url, `${what} ${JSON.stringify(s)} is not a valid path segment`);
  }
  return s;
}

/** Parses a `.sha256` file: the first token must be 64 hex digits (`sha256sum` output works). */
export function parseChecksumFile(text: string): string | undefined {
  const token = text.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  return /^[0-9a-f]{64}$/.test(token) ? token : undefined;
}

/**
 * Store options from the agent configuration: cache = `[l3af] package-cache-dir` (default
 * `[l3afd] bpf-dir`), repository = `[ebpf-repo] url`, idle timeout = `[l3afd] http-client-timeout`,
 * connect timeout, checksum switches and size bounds from `[l3af]`.
 */
export function artifactStoreOptions(config: AgentConfig, platform: string, logger?: Logger): ArtifactStoreOptions {
  return {
    cacheDir: config.l3af.packageCacheDir,
    provisionedDir: config.l3afd.bpfDir,
    repoUrl: config.ebpfRepo.url,
    platform,
    checksumRequiredHttp: config.l3af.checksumRequiredHttp,
    checksumRequiredFile: config.l3af.checksumRequiredFile,
    connectTimeoutMs: config.l3af.downloadConnectTimeoutMs,
    totalTimeoutMs: config.l3af.downloadTimeoutMs,
    idleTimeoutMs: config.l3afd.httpClientTimeoutMs,
    maxBytes: config.l3af.artifactMaxBytes,
    maxEntries: config.l3af.artifactMaxEntries,
    logger };
}

/** Fetches, verifies, caches and extracts packages. */
export class ArtifactStore {
  private readonly opts: Required<Omit<ArtifactStoreOptions, 'logger' | 'dispatcher' | 'provisionedDir'>> & Pick<ArtifactStoreOptions, 'logger' | 'provisionedDir'>;
  /** The HTTP connection pool: created on the first http(s) fetch (undici is not loaded by an agent that never needs it). */
  private dispatcher: Dispatcher | undefined;
  private dispatcherLoading: Promise<Dispatcher> | undefined;
  private readonly ownDispatcher: boolean;
  private readonly inFlight = new Map<string, Promise<FetchedArtifact>>();

  constructor(options: ArtifactStoreOptions) {
    this.opts = {
      checksumRequiredHttp: false,
      checksumRequiredFile: false,
      connectTimeoutMs: 10_000,
      idleTimeoutMs: 30_000,
      totalTimeoutMs: 600_000,
      maxBytes: 512 * MiB,
      maxEntries: 10_000,
      maxRatio: DEFAULT_MAX_RATIO,
      extractTimeoutMs: 120_000,
      progressStepBytes: 8 * MiB,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as ArtifactStore['opts'];
    this.ownDispatcher = options.dispatcher === undefined;
    this.dispatcher = options.dispatcher;
  }

  /** The connection pool, created (undici loaded) on first use. */
  private httpDispatcher(): Promise<Dispatcher> {
    if (this.dispatcher) return Promise.resolve(this.dispatcher);
    this.dispatcherLoading ??= import('undici').then(({ Agent }) => {
      this.dispatcher = new Agent({ connect: { timeout: this.opts.connectTimeoutMs } });
      return this.dispatcher;
    });
    return this.dispatcherLoading;
  }

  /** The artifact URL: `{repo}/{name}/{version}/{platform}/{artifact}` (path-joined). */
  artifactUrl(ref: ArtifactRef): URL {
    const base = ref.repoUrl && ref.repoUrl !== '' ? ref.repoUrl : this.opts.repoUrl;
    let url: URL;
    try {
      url = new URL(base);
    } catch (e) {
      throw new ArtifactError('UNREACHABLE', base, 'invalid repository URL', { cause: e });
    }
    const parts = [
      segment('name', ref.name, base), segment('version', ref.version, base),
      segment('platform', this.opts.platform, base), segment('artifact', ref.artifact, base),
    ].map(encodeURIComponent);
    url.pathname = posix.join(url.pathname || '/', ...parts);
    url.search = '';
    url.hash = '';
    return url;
  }

  /**
   * Provides the package: from the cache when its sha256 is known and cached, else downloaded,
   * verified and extracted. Concurrent calls for the same URL share one operation.
   */
  fetch(ref: ArtifactRef): Promise<FetchedArtifact> {
    const url = this.artifactUrl(ref);
    const key = url.href;
    const running = this.inFlight.get(key);
    if (running) return running;
    const p = this.doFetch(ref, url).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  private async doFetch(ref: ArtifactRef, url: URL): Promise<FetchedArtifact> {
    const shown = url.href;
    const format = archiveFormat(ref.artifact);
    const o = this.opts;
    if (!format) return this.provisioned(ref, shown);
    const log = o.logger;
    const tmpDir = join(o.cacheDir, '.tmp');
    await mkdir(tmpDir, { recursive: true });
    const net = { ...(url.protocol === 'file:' ? {} : { dispatcher: await this.httpDispatcher() }), idleTimeoutMs: o.idleTimeoutMs, totalTimeoutMs: o.totalTimeoutMs };

    const required = url.protocol === 'file:' ? o.checksumRequiredFile : o.checksumRequiredHttp;
    const sumUrl = new URL(url.href);
    sumUrl.pathname += '.sha256';
    const sumText = await fetchSmallText(sumUrl, net);
    let expected: string | undefined;
    if (sumText === undefined) {
      if (required) throw new ArtifactError('CHECKSUM_MISSING', shown, `${sumUrl.href} not found and a checksum is required`);
      const scheme = url.protocol.replace(/:$/, '');
      countUnverified(scheme);
      if (scheme === 'file') log?.debug({ url: shown }, 'no .sha256 next to the artifact; not verified');
      else log?.warn({ url: shown, scheme }, 'no .sha256 next to the artifact: used unverified (as l3afd; [l3af] checksum-required-http = true refuses it)');
    } else {
      expected = parseChecksumFile(sumText);
      if (!expected) throw new ArtifactError('CHECKSUM_MISMATCH', shown, `${sumUrl.href} does not start with a sha256 hex digest`);
      const cachedRoot = join(o.cacheDir, expected);
      if (await isDir(cachedRoot)) {
        log?.debug({ url: shown, sha256: expected }, 'package cached (sha256 unchanged)');
        return this.result(ref, shown, expected, true, false);
      }
    }

    const nonce = `${process.pid}-${randomBytes(6).toString('hex')}`;
    const archive = join(tmpDir, `dl-${nonce}`);
    try {
      const started = Date.now();
      const got = await downloadToFile(url, archive, {
        ...net,
        maxBytes: o.maxBytes,
        progressStepBytes: o.progressStepBytes,
        onProgress: (p: DownloadProgress) => log?.info({
          url: p.url, receivedBytes: p.receivedBytes, totalBytes: p.totalBytes,
          percent: p.totalBytes ? Math.floor((100 * p.receivedBytes) / p.totalBytes) : undefined }, p.done ? 'package downloaded' : 'downloading package') });
      log?.debug({ url: shown, bytes: got.bytes, ms: Date.now() - started, sha256: got.sha256 }, 'package transferred');
      if (expected && got.sha256 !== expected) {
        throw new ArtifactError('CHECKSUM_MISMATCH', shown, `sha256 ${got.sha256} differs from the repository's ${expected}`);
      }
      const root = join(o.cacheDir, got.sha256);
      if (await isDir(root)) return await this.result(ref, shown, got.sha256, true, true);
      const staging = join(tmpDir, `x-${nonce}`);
      try {
        const limits = { maxBytes: o.maxBytes, maxEntries: o.maxEntries, maxRatio: o.maxRatio };
        const totals = await extractInWorker(format, archive, staging, limits, shown, { timeoutMs: o.extractTimeoutMs });
        try {
          await rename(staging, root);
        } catch (e) {
          const code = (e as { code?: string }).code;
          if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw e;
          // Another process extracted the same bytes first: use theirs.
        }
        log?.debug({ url: shown, sha256: got.sha256, ...totals }, 'package extracted');
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      return await this.result(ref, shown, got.sha256, false, true);
    } finally {
      await rm(archive, { force: true });
    }
  }

  /** An artifact l3afd cannot extract: the folder l3afd would use when it is already there, else l3afd's error. */
  private async provisioned(ref: ArtifactRef, url: string): Promise<FetchedArtifact> {
    const top = ref.artifact.split('.')[0] ?? '';
    const base = this.opts.provisionedDir;
    const dir = base && top !== '' ? join(base, ref.name, ref.version, top) : undefined;
    if (!dir || !(await isDir(dir))) {
      throw new ArtifactError('BAD_ARCHIVE', url, `unknown artifact format: only .tar.gz and .zip are extracted (as l3afd); a folder extracted beforehand at ${dir ?? '{bpf-dir}/{name}/{version}/{artifact up to first "."}'} would be used, but there is none`);
    }
    this.opts.logger?.info({ url, dir }, 'artifact is not .tar.gz/.zip: using the folder extracted beforehand (as l3afd)');
    return { url, root: dir, dir, cached: true, downloaded: false };
  }

  private async result(ref: ArtifactRef, url: string, sha256: string, cached: boolean, downloaded: boolean): Promise<FetchedArtifact> {
    const root = join(this.opts.cacheDir, sha256);
    const top = ref.artifact.split('.')[0] ?? '';
    const dir = join(root, top);
    if (top === '' || !(await isDir(dir))) {
      throw new ArtifactError('MISSING_TOPDIR', url, `the archive has no top-level folder "${top}/" (the artifact name up to its first ".")`);
    }
    const [realRoot, realDir] = await Promise.all([realpath(root), realpath(dir)]);
    if (!realDir.startsWith(realRoot + sep)) throw new ArtifactError('UNSAFE_ENTRY', url, `"${top}" resolves outside the package`);
    return { url, sha256, root, dir, cached, downloaded };
  }

  /** Closes the HTTP connection pool (when the store created it). */
  async close(): Promise<void> {
    if (this.ownDispatcher) await this.dispatcher?.close();
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isDirectory();
  } catch {
    return false;
  }
}
