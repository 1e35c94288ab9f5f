/**
 * Host page for the built plugin (dist/module.js) without a Grafana server: it supplies the modules Grafana
 * gives a plugin at runtime (the externals in module.js's define([...]) header), installs Grafana's runtime
 * services the plugin uses (BackendSrv over window.fetch against the harness server, which stands in for
 * Grafana's plugin proxy), loads module.js through a tiny AMD `define`, and renders the app's root page at
 * /a/<id>/<page> in a MemoryRouter, as Grafana's frontend does.
 */
import React from 'react';
import * as ReactNS from 'react';
import * as ReactDOM from 'react-dom';
import { createRoot } from 'react-dom/client';
import * as ReactRouter from 'react-router';
import * as rxjs from 'rxjs';
import * as emotionCss from '@emotion/css';
import * as emotionReact from '@emotion/react';
import * as grafanaData from '@grafana/data';
import * as grafanaUI from '@grafana/ui';
import * as grafanaRuntime from '@grafana/runtime';
import * as i18next from 'i18next';
import * as lodash from 'lodash';
import * as jsxRuntime from 'react/jsx-runtime';

interface HarnessConfig {
  pluginId: string;
  jsonData: Record<string, unknown>;
}
const cfg = (window as unknown as { __HARNESS__: HarnessConfig }).__HARNESS__;
const MODULE_URL = `/public/plugins/${cfg.pluginId}/module.js`;

/** A FetchError-shaped rejection, as Grafana's BackendSrv produces for non-2xx answers. */
function fetchError(status: number, statusText: string, data: unknown, config: unknown) {
  return { status, statusText, data, config };
}

const backendSrv = {
  fetch: (opts: { url: string; method?: string; data?: unknown; headers?: Record<string, string> }) =>
    rxjs.from(
      (async () => {
        const url = opts.url.startsWith('/') ? opts.url : `/${opts.url}`;
        let r: Response;
        try {
          r = await window.fetch(url, {
            method: opts.method ?? 'GET',
            headers: { 'Content-Type': 'application/json', ...(opts.headers ?? {}) },
            body: opts.data === undefined ? undefined : JSON.stringify(opts.data),
          });
        } catch (err) {
          throw fetchError(0, String(err), undefined, opts);
        }
        const text = await r.text();
        let data: unknown = text;
        try {
          data = text === '' ? undefined : JSON.parse(text);
        } catch {
          // keep the text (Grafana's proxy answers some errors as text)
        }
        if (!r.ok) {
          throw fetchError(r.status, r.statusText, data, opts);
        }
        return {
          data,
          status: r.status,
          ok: r.ok,
          statusText: r.statusText,
          headers: r.headers,
          redirected: r.redirected,
          type: r.type,
          url: r.url,
          config: opts,
        };
      })()
    ),
};
grafanaRuntime.setBackendSrv(backendSrv as unknown as grafanaRuntime.BackendSrv);

const modules: Record<string, unknown> = {
  react: ReactNS,
  'react-dom': ReactDOM,
  'react-router': ReactRouter,
  rxjs,
  '@emotion/css': emotionCss,
  '@emotion/react': emotionReact,
  '@grafana/data': grafanaData,
  '@grafana/ui': grafanaUI,
  '@grafana/runtime': grafanaRuntime,
  i18next,
  lodash,
  'react/jsx-runtime': jsxRuntime,
  module: { uri: MODULE_URL },
};

type Define = ((deps: string[], factory: (...args: unknown[]) => unknown) => void) & { amd?: boolean };

function loadPlugin(): Promise<{ plugin: grafanaData.AppPlugin }> {
  return new Promise((resolve, reject) => {
    const define: Define = (deps, factory) => {
      const missing = deps.filter((d) => !(d in modules));
      if (missing.length > 0) {
        reject(new Error(`the host does not provide: ${missing.join(', ')}`));
        return;
      }
      resolve(factory(...deps.map((d) => modules[d])) as { plugin: grafanaData.AppPlugin });
    };
    define.amd = true;
    (window as unknown as { define: Define }).define = define;
    const s = document.createElement('script');
    s.src = MODULE_URL;
    s.onerror = () => reject(new Error(`cannot load ${MODULE_URL}`));
    document.head.appendChild(s);
  });
}

loadPlugin()
  .then(({ plugin }) => {
    const Root = plugin.root!;
    const meta = {
      id: cfg.pluginId,
      name: 'l3af chains',
      type: 'app',
      enabled: true,
      jsonData: cfg.jsonData,
    } as unknown as grafanaData.AppPluginMeta;
    const q = new URLSearchParams(location.search);
    const page = q.get('page') ?? 'fleet';
    q.delete('page');
    const base = `/a/${cfg.pluginId}`;
    const entry = `${base}/${page}${q.toString() ? `?${q.toString()}` : ''}`;
    createRoot(document.getElementById('root')!).render(
      <ReactRouter.MemoryRouter initialEntries={[entry]}>
        <grafanaUI.GlobalStyles />
        <div style={{ padding: 16 }}>
          <ReactRouter.Routes>
            <ReactRouter.Route
              path={`${base}/*`}
              element={<Root meta={meta} basename={base} query={{}} path={base} onNavChanged={() => {}} />}
            />
          </ReactRouter.Routes>
        </div>
      </ReactRouter.MemoryRouter>
    );
    (window as unknown as { __pluginLoaded: boolean }).__pluginLoaded = true;
  })
  .catch((e: unknown) => {
    document.body.setAttribute('data-load-error', String(e));
    document.body.innerText = `LOAD ERROR: ${String(e)}`;
  });
