/**
 * The Prometheus listener on `[web] metrics-addr` (default localhost:8898): `GET /metrics` with
 * the registry's exposition and content type; its own node:http server, apart from the REST API,
 * or an https one when given {@link MetricsTls} (`[l3af] metrics-tls`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TlsOptions } from 'node:tls';
import type { Registry } from 'prom-client';
import type { SecureContextTarget } from '../security/index.ts';
import type { ExpositionCache } from './exposition-cache.ts';
import { messageOf } from '../error-message.ts';

/** TLS of the metrics listener. */
export interface MetricsTls {
  /** Server options (e.g. `TlsMaterial.metricsOptions()`). */
  readonly options: TlsOptions;
  /** Keeps the listener's certificates current (a TlsMaterial): watched while it listens. */
  readonly reloader?: {
    watch(target: SecureContextTarget): void;
    unwatch(target: SecureContextTarget): void;
  };
}

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  readonly registry: Registry;
  /** host:port (`[web] metrics-addr`); `:port` or an empty host means all addresses; `[v6]:port`. */
  readonly addr: string;
  /** Path served (default /metrics). */
  readonly path?: string;
  /** Serve https (undefined: plain http). */
  readonly tls?: MetricsTls;
  /** Serve the body rendered once per sampling tick (undefined: render the registry per scrape). */
  readonly cache?: ExpositionCache;
}

/** A listening metrics server. */
export interface MetricsServer {
  readonly server: Server;
  /** The bound address (useful with port 0). */
  readonly address: AddressInfo;
  /** URL of the metrics path. */
  readonly url: string;
  close(): Promise<void>;
}

/** Splits `host:port` (also `[v6]:port`, `:port`) and checks the port. */
export function parseListenAddr(addr: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  if (!m) throw new RangeError(`metrics address '${addr}' is not host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new RangeError(`metrics address '${addr}': port ${port} is out of range`);
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

/** Starts serving `path` from `registry` on `addr`. */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { host, port } = parseListenAddr(opts.addr);
  const path = opts.path ?? '/metrics';
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const cache = opts.cache;
    (cache ? cache.body() : opts.registry.metrics()).then((body) => {
      res.writeHead(200, { 'content-type': opts.registry.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    }, (err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`scrape failed: ${messageOf(err)}\n`);
    });
  };
  const tls = opts.tls;
  const server: Server = tls === undefined ? createServer(handler) : createHttpsServer(tls.options, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const h = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const target = server as unknown as SecureContextTarget;
  tls?.reloader?.watch(target);
  return {
    server, address, url: `${tls === undefined ? 'http' : 'https'}://${h}:${address.port}${path}`,
    close: () => new Promise<void>((resolve) => {
      tls?.reloader?.unwatch(target);
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
