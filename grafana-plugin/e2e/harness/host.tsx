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

// ---- Prometheus for Scenes pages: a small data source over Prometheus's HTTP API, reached through the harness
// server at Grafana's data source proxy path. Variables: the pages' variables default to "All" (allValue .*),
// so $host/$interface become .* here, as Grafana's interpolation would make them; $__rate_interval becomes 4s
// (4 x the 1 s scrape interval, Grafana's rule).
const PROM = {
  uid: 'prometheus',
  type: 'prometheus',
  name: 'Prometheus',
  meta: { id: 'prometheus', name: 'Prometheus' },
  jsonData: {},
};
const promBase = '/api/datasources/proxy/uid/prometheus';
const interpolate = (expr: string) =>
  expr.replace(/\$__rate_interval/g, '4s').replace(/\$\{?(host|interface)\}?/g, '.*');
interface PromSeries {
  metric: Record<string, string>;
  values: Array<[number, string]>;
}
const legend = (fmt: string | undefined, labels: Record<string, string>) =>
  (fmt ?? JSON.stringify(labels)).replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, k: string) => labels[k] ?? '');
const promDs = {
  ...PROM,
  getRef: () => ({ uid: PROM.uid, type: PROM.type }),
  async query(req: grafanaData.DataQueryRequest) {
    const start = Math.floor(req.range.from.valueOf() / 1000);
    const end = Math.ceil(req.range.to.valueOf() / 1000);
    const frames: grafanaData.DataFrame[] = [];
    for (const t of req.targets as Array<{ refId: string; expr: string; legendFormat?: string }>) {
      const q = `${promBase}/api/v1/query_range?query=${encodeURIComponent(interpolate(t.expr))}&start=${start}&end=${end}&step=1`;
      const body = (await (await window.fetch(q)).json()) as {
        status: string;
        error?: string;
        data?: { result: PromSeries[] };
      };
      if (body.status !== 'success') {
        throw new Error(`prometheus: ${body.error}`);
      }
      for (const r of body.data?.result ?? []) {
        frames.push(
          grafanaData.toDataFrame({
            refId: t.refId,
            name: legend(t.legendFormat, r.metric),
            fields: [
              { name: 'Time', type: grafanaData.FieldType.time, values: r.values.map((v) => v[0] * 1000) },
              {
                name: 'Value',
                type: grafanaData.FieldType.number,
                values: r.values.map((v) => parseFloat(v[1])),
                labels: r.metric,
              },
            ],
          })
        );
      }
    }
    return { data: frames };
  },
  async metricFindQuery(query: string | { query: string }) {
    const text = typeof query === 'string' ? query : query.query;
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(interpolate(text).trim());
    if (!m) {
      return [];
    }
    const r = await window.fetch(`${promBase}/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(m[1]!)}`);
    const body = (await r.json()) as { data?: string[] };
    return (body.data ?? []).map((v) => ({ text: v, value: v }));
  },
};
grafanaRuntime.setDataSourceSrv({
  get: async () => promDs,
  getInstanceSettings: () => PROM,
  getList: () => [PROM],
  reload: async () => undefined,
  registerRuntimeDataSource: () => undefined,
} as unknown as grafanaRuntime.DataSourceSrv);
grafanaRuntime.setRunRequest((ds, req) =>
  rxjs.from((ds as unknown as typeof promDs).query(req)).pipe(
    rxjs.map((res) => ({ state: grafanaData.LoadingState.Done, series: res.data, timeRange: req.range })),
    rxjs.catchError((err: unknown) =>
      rxjs.of({
        state: grafanaData.LoadingState.Error,
        series: [],
        errors: [{ message: String(err) }],
        timeRange: req.range,
      })
    )
  )
);

// Grafana's built-in panels are application code, not npm packages: stand-ins that print each series' name and
// its last value (and draw nothing else).
function StubPanel(props: grafanaData.PanelProps) {
  return (
    <div data-testid="stub-panel" style={{ fontFamily: 'monospace', padding: 8 }}>
      {props.data.series.length === 0 ? (
        <div>no data</div>
      ) : (
        props.data.series.map((f, i) => {
          const vals = (f.fields[1]?.values ?? []) as number[];
          return (
            <div key={i} data-testid="stub-series">
              {f.name}: {vals.length > 0 ? String(Math.round(vals[vals.length - 1]! * 100) / 100) : 'none'} (max{' '}
              {vals.length ? String(Math.round(Math.max(...vals) * 100) / 100) : '-'})
            </div>
          );
        })
      )}
    </div>
  );
}
const stubPanel = (id: string) => {
  const p = new grafanaData.PanelPlugin(StubPanel);
  p.meta = {
    id,
    name: `${id} (harness stand-in)`,
    type: grafanaData.PluginType.panel,
    info: {},
    module: '',
    baseUrl: '',
    sort: 0,
  } as unknown as grafanaData.PanelPluginMeta;
  return p;
};
grafanaRuntime.setPluginImportUtils({
  importPanelPlugin: async (id: string) => stubPanel(id),
  getPanelPluginFromCache: () => undefined,
});

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
