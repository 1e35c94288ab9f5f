/**
 * l3afctl's HTTP(S) client: one request per connection, client certificates for mTLS, and every
 * failure mapped to an exit code scripts can trust ({@link EXIT}).
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** l3afctl's exit codes. */
export const EXIT = {
  OK: 0,
  /** The agent refused the request or failed some programs (4xx other than 401/403, 422, 5xx). */
  REFUSED: 1,
  /** Bad command line or input file. */
  USAGE: 2,
  /** The agent (or metrics endpoint) could not be reached. */
  UNREACHABLE: 3,
  /** TLS handshake / certificate failure, or 401/403. */
  TLS: 4,
} as const;

/** A failure with its exit code. */
export class CtlError extends Error {
  constructor(readonly exitCode: number, message: string) {
    super(message);
    this.name = 'CtlError';
  }
}

/** Connection options from the global flags. */
export interface ClientOptions {
  readonly cert?: string;
  readonly key?: string;
  readonly ca?: string;
  readonly timeoutMs?: number;
  /** Extra request headers (If-Match). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A complete answer. */
export interface Answer {
  readonly status: number;
  readonly text: string;
  readonly contentType: string;
  /** The answer's ETag header, when it has one. */
  readonly etag?: string;
}

function readPem(file: string | undefined, flag: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CtlError(EXIT.USAGE, `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE', 'TIMEOUT']);

/** Maps a request error to a CtlError with a helpful message. */
export function classify(err: NodeJS.ErrnoException, url: URL): CtlError {
  const code = err.code ?? '';
  const tlsCode = /^(?:ERR_SSL_|ERR_TLS_|ERR_OSSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH|ERR_TLS_CERT)/.test(code);
  if (tlsCode || (url.protocol === 'https:' && code === 'ECONNRESET')) {
    const hint = /CERTIFICATE_REQUIRED/.test(code) ? ' (the agent requires a client certificate: pass --cert and --key)'
      : /UNKNOWN_CA|ECONNRESET/.test(code) ? ' (the agent did not accept the client certificate: is it signed by the agent\'s CA?)'
        : /PROTOCOL_VERSION/.test(code) ? ' (no TLS version in common)'
          : /SELF_SIGNED|UNABLE_TO|CERT_/.test(code) ? ' (the agent\'s certificate is not trusted: pass --ca with its CA)' : '';
    return new CtlError(EXIT.TLS, `TLS with ${url.host} failed: ${code || err.message}${hint}`);
  }
  if (UNREACHABLE.has(code)) return new CtlError(EXIT.UNREACHABLE, `cannot reach ${url.origin}: ${code}${code === 'ECONNREFUSED' ? ' (is the agent running? --agent sets its address)' : ''}`);
  return new CtlError(EXIT.UNREACHABLE, `request to ${url.href} failed: ${err.message}`);
}

/** Builds the request options of a URL. */
function requestOptions(url: URL, method: string, opts: ClientOptions, headers: Record<string, string | number>): RequestOptions {
  const base: RequestOptions = { method, host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, path: `${url.pathname}${url.search}`, agent: false, headers };
  if (url.protocol !== 'https:') return base;
  return { ...base, cert: readPem(opts.cert, '--cert'), key: readPem(opts.key, '--key'), ca: readPem(opts.ca, '--ca') } as RequestOptions;
}

/** Sends a request; resolves with the response stream (for streams such as SSE). */
export function open(url: URL, method: string, opts: ClientOptions, body?: string): Promise<IncomingMessage> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CtlError(EXIT.USAGE, `${url.href}: only http:// and https:// addresses`);
  const headers: Record<string, string | number> = {
    ...(body === undefined ? { accept: '*/*' } : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
    ...opts.headers,
  };
  const ro = requestOptions(url, method, opts, headers);
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(ro, resolve);
    req.on('error', (err: NodeJS.ErrnoException) => reject(classify(err, url)));
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    req.end(body);
  });
}

/** Sends a request and reads the whole answer. */
export async function call(url: URL, method: string, opts: ClientOptions, body?: unknown): Promise<Answer> {
  const res = await open(url, method, opts, body === undefined ? undefined : JSON.stringify(body));
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const etag = res.headers.etag;
  return { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), contentType: String(res.headers['content-type'] ?? ''), ...(etag === undefined ? {} : { etag }) };
}

/** The error message of an l3af error body (`{error, problems}`), or the text. */
export function errorText(a: Answer): string {
  try {
    const doc = JSON.parse(a.text) as { error?: string; problems?: { path: string; message: string }[] };
    if (typeof doc.error === 'string') {
      const problems = (doc.problems ?? []).map((p) => `  ${p.path === '' ? '' : `${p.path}: `}${p.message}`);
      return [doc.error, ...problems].join('\n');
    }
  } catch { /* not JSON */ }
  return a.text.trim() || `HTTP ${a.status}`;
}

/** Throws the CtlError an unsuccessful status means (403/401 → TLS/permission, else refused). */
export function check(a: Answer, what: string): void {
  if (a.status >= 200 && a.status < 300) return;
  const code = a.status === 401 || a.status === 403 ? EXIT.TLS : EXIT.REFUSED;
  throw new CtlError(code, `${what}: the agent answered ${a.status}: ${errorText(a)}`);
}
