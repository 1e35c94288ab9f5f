/**
 * The Prometheus listener on `[web] metrics-addr` (default localhost:8898): `GET /metrics` with
 * the registry's exposition and content type; its own node:http server, apart from the REST API.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  readonly registry: Registry;
  /** host:port (`[web] metrics-addr`); `:port` or an empty host means all addresses; `[v6]:port`. */
  readonly addr: string;
  /** Path served (default /metrics). */
  readonly path?: string;
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
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    opts.registry.metrics().then((body) => {
      res.writeHead(200, { 'content-type': opts.registry.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    }, (err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`scrape failed: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const h = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server, address, url: `http://${h}:${address.port}${path}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
