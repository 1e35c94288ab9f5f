/**
 * The harness's stand-in for Grafana's HTTP server: serves the host page and the built plugin
 * (dist/ at /public/plugins/<id>/), and forwards `/api/plugin-proxy/<id>/agentN/<rest>` to agent N's URL
 * the way Grafana's plugin proxy does for the routes of plugin.json (GET and POST only; an unreachable
 * agent is a 502 with a text body, as Grafana answers). Without a fixed `agents` list, slot N's URL is the
 * saved settings' `agentNUrl`, as the route templates `{{ .JsonData.agentNUrl }}` resolve it, and
 * `POST /api/plugins/<id>/settings` saves the settings (the host page reads them on its next load).
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';

const TYPES: Record<string, string> = {
  '.js': 'application/javascript',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.ttf': 'font/ttf',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.html': 'text/html',
};

export interface HarnessOptions {
  pluginId: string;
  distDir: string;
  serveDir: string;
  jsonData: Record<string, unknown>;
  /** @grafana/ui's icon folder (dist/public/img/icons). */
  iconsDir: string;
  /** Prometheus base URL, served at Grafana's data source proxy path /api/datasources/proxy/uid/prometheus/. */
  prometheus?: string;
  /** Agent base URLs by slot; undefined: the settings' `agentNUrl` (saved with POST /api/plugins/<id>/settings). */
  agents?: string[];
}

/** Forwards a request to `dest`; an unreachable target is a 502 with a text body (as Grafana's proxy). */
function forward(req: IncomingMessage, res: ServerResponse, dest: URL): void {
  const up = request(dest, { method: req.method, headers: { ...req.headers, host: dest.host, cookie: '' } }, (ur) => {
    res.writeHead(ur.statusCode ?? 502, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => {
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' }).end('Bad Gateway');
    } else {
      res.end();
    }
  });
  res.on('close', () => up.destroy());
  req.pipe(up);
}

function sendFile(res: ServerResponse, file: string): void {
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
  createReadStream(file).pipe(res);
}

function inside(dir: string, rel: string): string | undefined {
  const p = normalize(join(dir, rel));
  return p.startsWith(dir) && existsSync(p) && statSync(p).isFile() ? p : undefined;
}

/** Starts the server on 127.0.0.1:<random>; resolves with it and its base URL. */
export async function startHarness(o: HarnessOptions): Promise<{
  server: Server;
  url: string;
  requests: string[];
  /** The settings as last saved. */
  jsonData: () => Record<string, unknown>;
}> {
  const requests: string[] = [];
  let jsonData = o.jsonData;
  const html = () => `<!doctype html><html><head><meta charset="utf-8"><title>l3af chains (harness)</title>
<script>window.grafanaBootData={settings:{buildInfo:{version:'13.1.0'}},user:{},navTree:[]};
window.__HARNESS__=${JSON.stringify({ pluginId: o.pluginId, jsonData })};</script></head>
<body><div id="root"></div><script src="/host.js"></script></body></html>`;
  const proxyPrefix = `/api/plugin-proxy/${o.pluginId}/agent`;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://harness');
    const promPrefix = '/api/datasources/proxy/uid/prometheus';
    if (url.pathname.startsWith(promPrefix) && o.prometheus) {
      forward(req, res, new URL(`${url.pathname.slice(promPrefix.length)}${url.search}`, o.prometheus));
      return;
    }
    if (url.pathname === `/api/plugins/${o.pluginId}/settings` && req.method === 'POST') {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString('utf8')));
      req.on('end', () => {
        try {
          const body = JSON.parse(text) as { jsonData?: Record<string, unknown> };
          jsonData = body.jsonData ?? {};
          requests.push(`POST ${url.pathname}`);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"message":"Plugin settings updated"}');
        } catch {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"message":"bad settings"}');
        }
      });
      return;
    }
    if (url.pathname.startsWith(proxyPrefix)) {
      const m = /^(\d+)(\/.*)?$/.exec(url.pathname.slice(proxyPrefix.length));
      const slotUrl = m ? jsonData[`agent${m[1]}Url`] : undefined;
      const target = m
        ? o.agents
          ? o.agents[Number(m[1])]
          : typeof slotUrl === 'string'
            ? slotUrl
            : undefined
        : undefined;
      if (!m || !target || (req.method !== 'GET' && req.method !== 'POST')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Not found' }));
        return;
      }
      requests.push(`${req.method} ${url.pathname}`);
      forward(req, res, new URL(`${m[2] ?? '/'}${url.search}`, target));
      return;
    }
    // Grafana serves @grafana/ui's icons from its public folder; the npm package carries the same files.
    const icon = /^\/public\/(?:build\/)?img\/icons\/(.+)$/.exec(url.pathname);
    if (icon) {
      const f = inside(o.iconsDir, icon[1]!);
      if (f) {
        sendFile(res, f);
        return;
      }
    }
    const pluginPrefix = `/public/plugins/${o.pluginId}/`;
    if (url.pathname.startsWith(pluginPrefix)) {
      const f = inside(o.distDir, url.pathname.slice(pluginPrefix.length));
      if (f) {
        sendFile(res, f);
        return;
      }
    } else if (url.pathname === '/' || url.pathname === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(html());
      return;
    } else {
      const f = inside(o.serveDir, url.pathname.slice(1));
      if (f) {
        sendFile(res, f);
        return;
      }
    }
    res.writeHead(404).end();
  };
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { server, url: `http://127.0.0.1:${port}`, requests, jsonData: () => jsonData };
}

/** The define([...]) header of a built module.js: the externals the host must supply. */
export function externalsOf(moduleJs: string): string[] {
  const m = /define\((\[[^\]]*\])/.exec(readFileSync(moduleJs, 'utf8'));
  return m ? (JSON.parse(m[1]!) as string[]) : [];
}
