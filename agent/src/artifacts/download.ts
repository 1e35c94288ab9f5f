/**
 * Streaming downloads of package files over file:, http: and https: into a local file, hashing
 * (sha256) and bounding the size on the way, with connect / response / idle / overall timeouts
 * (undici) and progress reports for large files.
 */
import { createHash } from 'node:crypto';
import { createReadStream, writeSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Dispatcher } from 'undici';
import { ArtifactError } from './errors.ts';

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
  /** undici dispatcher carrying the connect timeout (see {@link createDispatcher}); http(s) only, unused for file:. */
  dispatcher?: Dispatcher;
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
  const fh = await open(destFile, 'wx', 0o600);
  const hash = createHash('sha256');
  let ticker: ProgressTicker | undefined;
  try {
    await receive(url, opts, {
      headers: (total) => {
        if (total !== undefined && total > opts.maxBytes) throw new ArtifactError('TOO_LARGE', shown, `Content-Length ${total} exceeds ${opts.maxBytes} bytes`);
        ticker = new ProgressTicker(shown, total, opts);
      },
      chunk: (buf) => {
        const t = ticker as ProgressTicker;
        if (t.received + buf.length > opts.maxBytes) throw new ArtifactError('TOO_LARGE', shown, `download exceeds ${opts.maxBytes} bytes`);
        hash.update(buf);
        // synchronous on purpose: the chunk is written before undici's parser reads on (see receive)
        let off = 0;
        while (off < buf.length) off += writeSync(fh.fd, buf, off, buf.length - off);
        t.add(buf.length);
      } });
    await fh.sync();
  } finally {
    await fh.close();
  }
  const t = ticker as ProgressTicker;
  t.done();
  return { sha256: hash.digest('hex'), bytes: t.received };
}

/** What {@link receive} hands each part of a successful (2xx) response to; a throw ends the transfer with that error. */
interface ResponseSink {
  /** Called once with the Content-Length, when the server gave one. */
  headers(total: number | undefined): void;
  /** Called for every body chunk, synchronously, in order. */
  chunk(buf: Buffer): void;
}

/** Content-Length from undici's raw header list (name, value, name, value ...). */
function contentLength(raw: unknown): number | undefined {
  if (!Array.isArray(raw)) return undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (String(raw[i]).toLowerCase() !== 'content-length') continue;
    const v = String(raw[i + 1]).trim();
    return /^\d+$/.test(v) ? Number(v) : undefined;
  }
  return undefined;
}

/** Error bodies (404, 500 ...) are drained up to this many bytes, then the connection is dropped. */
const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * One GET over undici's dispatcher with a handler that never applies backpressure: every chunk is
 * handed to `sink.chunk` synchronously and the parser always reads on. With undici < 8 an HTTP/1
 * parser paused by backpressure when the server closes the connection (FIN) throws an uncatchable
 * `assert(!this.paused)` from the socket's 'end' handler and kills the process (nodejs/undici#5360,
 * fixed only in undici 8, which needs Node 22); a handler that never pauses cannot reach that
 * state, on success and on every error path alike. Any failure (a sink throw, a status, the total
 * deadline) aborts the request, which destroys the socket. 404/410 reject with NOT_FOUND, other
 * non-2xx statuses with UNREACHABLE, network failures through {@link networkError}.
 */
function receive(url: URL, opts: Pick<DownloadOptions, 'dispatcher' | 'idleTimeoutMs' | 'totalTimeoutMs'>, sink: ResponseSink): Promise<void> {
  const shown = url.href;
  const dispatcher = opts.dispatcher;
  if (!dispatcher) return Promise.reject(new Error(`no HTTP dispatcher to fetch ${shown}`));
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let abort: ((err?: Error) => void) | undefined;
    let failure: Error | undefined;
    let status = 0;
    let errorBody = 0;
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (err) reject(err);
      else resolve();
    };
    /** Ends the transfer with `err`: the request is aborted (socket destroyed) and the promise rejects. */
    const fail = (err: Error): void => {
      if (failure) return;
      failure = err;
      try {
        abort?.(err);
      } catch {
        // already finished
      }
      settle(err);
    };
    const deadline = setTimeout(() => fail(new ArtifactError('TIMEOUT', shown, `download not finished after ${opts.totalTimeoutMs} ms (total deadline)`)), opts.totalTimeoutMs);
    const handler: Dispatcher.DispatchHandlers = {
      onConnect: (a) => {
        abort = a;
        if (failure) a(failure);
      },
      onHeaders: (statusCode, rawHeaders) => {
        if (failure) return true;
        if (statusCode < 200) return true;
        status = statusCode;
        if (statusCode >= 200 && statusCode < 300) {
          try {
            sink.headers(contentLength(rawHeaders));
          } catch (e) {
            fail(e as Error);
          }
        }
        return true;
      },
      onData: (chunk) => {
        if (failure) return true;
        if (status < 200 || status >= 300) {
          errorBody += chunk.length;
          if (errorBody > ERROR_BODY_LIMIT) fail(statusError(status, shown));
          return true;
        }
        try {
          sink.chunk(chunk);
        } catch (e) {
          fail(e as Error);
        }
        return true;
      },
      onComplete: () => {
        if (failure) return;
        if (status >= 200 && status < 300) settle();
        else settle(statusError(status, shown));
      },
      onError: (err) => {
        if (failure) return;
        failure = err;
        settle(networkError(err, shown));
      } };
    try {
      dispatcher.dispatch({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headersTimeout: opts.idleTimeoutMs,
        bodyTimeout: opts.idleTimeoutMs,
        maxRedirections: 5 } as Dispatcher.DispatchOptions, handler);
    } catch (e) {
      fail(networkError(e, shown));
    }
  });
}

function statusError(status: number, url: string): ArtifactError {
  return status === 404 || status === 410 ? new ArtifactError('NOT_FOUND', url, `HTTP ${status}`) : new ArtifactError('UNREACHABLE', url, `HTTP ${status}`);
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
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ArtifactError('UNREACHABLE', shown, `unsupported URL scheme ${url.protocol} (use file, http or https)`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    await receive(url, opts, {
      headers: (total) => {
        if (total !== undefined && total > limit) throw new ArtifactError('TOO_LARGE', shown, `larger than ${limit} bytes`);
      },
      chunk: (buf) => {
        n += buf.length;
        if (n > limit) throw new ArtifactError('TOO_LARGE', shown, `larger than ${limit} bytes`);
        chunks.push(buf);
      } });
  } catch (e) {
    if (e instanceof ArtifactError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
  return Buffer.concat(chunks).toString('utf8');
}
