/**
 * Streaming downloads of package files over file:, http: and https: into a local file, hashing
 * (sha256) and bounding the size on the way, with connect / response / idle / overall timeouts
 * (undici) and progress reports for large files.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { request, type Dispatcher } from 'undici';
import { ArtifactError } from './errors.ts';

/** The pino-compatible subset of a logger the artifact code writes to. */
export interface ArtifactLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  debug(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

/** A download progress report. */
export interface DownloadProgress {
  url: string;
  receivedBytes: number;
  /** From Content-Length / file size; undefined when the server does not say. */
  totalBytes?: number;
  done: boolean;
}

/** Options of one download. */
export interface DownloadOptions {
  /** undici dispatcher carrying the connect timeout (see {@link createDispatcher}). */
  dispatcher: Dispatcher;
  /** Longest wait for response headers, and longest silence while receiving the body (ms). */
  idleTimeoutMs: number;
  /** Deadline for the whole transfer (ms). */
  totalTimeoutMs: number;
  /** Largest number of bytes accepted. */
  maxBytes: number;
  /** Report progress every this many bytes, or every 10 % of a known size when that is larger; files smaller than this are not reported. */
  progressStepBytes: number;
  onProgress?: (p: DownloadProgress) => void;
}

/** Result of {@link downloadToFile}. */
export interface Downloaded {
  sha256: string;
  bytes: number;
}

/** Calls `onProgress` when another step (N bytes or 10 % of a known size) has been received. */
class ProgressTicker {
  private next: number;
  private readonly step: number;
  private readonly opts: DownloadOptions;
  private readonly url: string;
  private readonly total: number | undefined;
  received = 0;

  constructor(url: string, total: number | undefined, opts: DownloadOptions) {
    this.url = url;
    this.total = total;
    this.opts = opts;
    // Every N bytes or every 10 % of a known size, whichever is the larger step (bounded noise).
    this.step = Math.max(total !== undefined ? Math.max(opts.progressStepBytes, Math.ceil(total / 10)) : opts.progressStepBytes, 1);
    this.next = this.step;
  }

  /** Large = worth reporting (more than one step, or unknown size). */
  private get large(): boolean {
    return this.total === undefined || this.total >= this.opts.progressStepBytes;
  }

  add(n: number): void {
    this.received += n;
    if (this.received >= this.next) {
      while (this.next <= this.received) this.next += this.step;
      if (this.large) this.opts.onProgress?.({ url: this.url, receivedBytes: this.received, totalBytes: this.total, done: false });
    }
  }

  done(): void {
    if (this.large) this.opts.onProgress?.({ url: this.url, receivedBytes: this.received, totalBytes: this.total, done: true });
  }
}

/** Abandons a response body without surfacing undici's abort error as an unhandled event. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Maps a network failure to TIMEOUT or UNREACHABLE. */
export function networkError(e: unknown, url: string): ArtifactError {
  if (e instanceof ArtifactError) return e;
  const err = e as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err.code ?? err.cause?.code;
  if ((code && TIMEOUT_CODES.has(code)) || err.name === 'TimeoutError' || err.name === 'AbortError') {
    return new ArtifactError('TIMEOUT', url, `timed out (${code ?? err.name}): ${err.message ?? ''}`.trim(), { cause: e });
  }
  return new ArtifactError('UNREACHABLE', url, `${code ? `${code}: ` : ''}${err.message ?? String(e)}${err.cause?.message && err.cause.message !== err.message ? ` (${err.cause.message})` : ''}`, { cause: e });
}

/** Sink that hashes, counts, bounds and writes chunks to a file. */
async function writeAll(chunks: AsyncIterable<Buffer | Uint8Array | string>, destFile: string, url: string, total: number | undefined, opts: DownloadOptions): Promise<Downloaded> {
  const hash = createHash('sha256');
  const ticker = new ProgressTicker(url, total, opts);
  const fh = await open(destFile, 'wx', 0o600);
  try {
    for await (const c of chunks) {
      const buf = typeof c === 'string' ? Buffer.from(c) : c;
      if (ticker.received + buf.length > opts.maxBytes) {
        throw new ArtifactError('TOO_LARGE', url, `download exceeds ${opts.maxBytes} bytes`);
      }
      hash.update(buf);
      await fh.write(buf);
      ticker.add(buf.length);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  ticker.done();
  return { sha256: hash.digest('hex'), bytes: ticker.received };
}

/**
 * Downloads `url` into `destFile` (created exclusively). Throws {@link ArtifactError}:
 * NOT_FOUND (404/410, missing file), TOO_LARGE, TIMEOUT, UNREACHABLE (refused, DNS, other
 * statuses).
 */
export async function downloadToFile(url: URL, destFile: string, opts: DownloadOptions): Promise<Downloaded> {
  const shown = url.href;
  if (url.protocol === 'file:') {
    const path = fileURLToPath(url);
    let size: number;
    try {
      const st = await stat(path);
      if (!st.isFile()) throw new ArtifactError('NOT_FOUND', shown, 'not a regular file');
      size = st.size;
    } catch (e) {
      if (e instanceof ArtifactError) throw e;
      throw new ArtifactError('NOT_FOUND', shown, (e as Error).message, { cause: e });
    }
    if (size > opts.maxBytes) throw new ArtifactError('TOO_LARGE', shown, `file is ${size} bytes (limit ${opts.maxBytes})`);
    return writeAll(createReadStream(path), destFile, shown, size, opts);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ArtifactError('UNREACHABLE', shown, `unsupported URL scheme ${url.protocol} (use file, http or https)`);
  }
  const signal = AbortSignal.timeout(opts.totalTimeoutMs);
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: 'GET',
      dispatcher: opts.dispatcher,
      headersTimeout: opts.idleTimeoutMs,
      bodyTimeout: opts.idleTimeoutMs,
      maxRedirections: 5,
      signal,
    });
  } catch (e) {
    throw networkError(e, shown);
  }
  if (res.statusCode === 404 || res.statusCode === 410) {
    await res.body.dump().catch(() => undefined);
    throw new ArtifactError('NOT_FOUND', shown, `HTTP ${res.statusCode}`);
  }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    await res.body.dump().catch(() => undefined);
    throw new ArtifactError('UNREACHABLE', shown, `HTTP ${res.statusCode}`);
  }
  const lenHeader = res.headers['content-length'];
  const total = typeof lenHeader === 'string' && /^\d+$/.test(lenHeader) ? Number(lenHeader) : undefined;
  if (total !== undefined && total > opts.maxBytes) {
    discard(res.body);
    throw new ArtifactError('TOO_LARGE', shown, `Content-Length ${total} exceeds ${opts.maxBytes} bytes`);
  }
  try {
    return await writeAll(res.body, destFile, shown, total, opts);
  } catch (e) {
    discard(res.body);
    throw networkError(e, shown);
  }
}

/**
 * Reads a small text file (a `.sha256`) over file:/http(s):. Returns undefined when it does not
 * exist (404/410 or ENOENT); other failures throw {@link ArtifactError}.
 */
export async function fetchSmallText(url: URL, opts: Omit<DownloadOptions, 'maxBytes' | 'progressStepBytes' | 'onProgress'>, limit = 4096): Promise<string | undefined> {
  const shown = url.href;
  if (url.protocol === 'file:') {
    try {
      const fh = await open(fileURLToPath(url), 'r');
      try {
        const buf = Buffer.alloc(limit + 1);
        const { bytesRead } = await fh.read(buf, 0, limit + 1, 0);
        if (bytesRead > limit) throw new ArtifactError('TOO_LARGE', shown, `larger than ${limit} bytes`);
        return buf.subarray(0, bytesRead).toString('utf8');
      } finally {
        await fh.close();
      }
    } catch (e) {
      if (e instanceof ArtifactError) throw e;
      if ((e as { code?: string }).code === 'ENOENT') return undefined;
      throw new ArtifactError('UNREACHABLE', shown, (e as Error).message, { cause: e });
    }
  }
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: 'GET', dispatcher: opts.dispatcher, headersTimeout: opts.idleTimeoutMs, bodyTimeout: opts.idleTimeoutMs,
      maxRedirections: 5, signal: AbortSignal.timeout(opts.totalTimeoutMs),
    });
  } catch (e) {
    throw networkError(e, shown);
  }
  if (res.statusCode === 404 || res.statusCode === 410) {
    await res.body.dump().catch(() => undefined);
    return undefined;
  }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    await res.body.dump().catch(() => undefined);
    throw new ArtifactError('UNREACHABLE', shown, `HTTP ${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res.body) {
      n += (c as Buffer).length;
      if (n > limit) {
        discard(res.body);
        throw new ArtifactError('TOO_LARGE', shown, `larger than ${limit} bytes`);
      }
      chunks.push(c as Buffer);
    }
  } catch (e) {
    throw networkError(e, shown);
  }
  return Buffer.concat(chunks).toString('utf8');
}
