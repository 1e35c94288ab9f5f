/**
 * Test helpers: a fake Grafana backend installed with the real runtime setter (setBackendSrv), answering like
 * Grafana's plugin proxy would; and a renderer for pages inside the router and the app's settings context.
 */
import React from 'react';
import { render } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { of, throwError } from 'rxjs';
import { setBackendSrv, type BackendSrv } from '@grafana/runtime';
import type { AppRootProps } from '@grafana/data';
import { PluginSettingsProvider } from '../components/PluginContext';
import { toJsonData, type AgentSetting, type AppJsonData } from '../api/settings';

/** One recorded request. */
export interface Call {
  url: string;
  method: string;
  data?: unknown;
  headers?: Record<string, string>;
}

/** An answer: status and body (status >= 400 rejects like Grafana's FetchError). */
export type Answer = { status: number; data?: unknown; headers?: Record<string, string> };
export type Responder = (call: Call) => Answer | undefined;

/** Installs a backend that answers with `respond` (404 when it returns undefined) and records calls. */
export function fakeBackend(respond: Responder): { calls: Call[] } {
  const calls: Call[] = [];
  const fetch = (opts: { url: string; method?: string; data?: unknown; headers?: Record<string, string> }) => {
    const call = { url: opts.url, method: opts.method ?? 'GET', data: opts.data, headers: opts.headers };
    calls.push(call);
    const a = respond(call) ?? {
      status: 404,
      data: { error: 'not found', problems: [{ path: '', message: `no route ${call.method} ${call.url}` }] },
    };
    if (a.status >= 400) {
      return throwError(() => ({ status: a.status, data: a.data, statusText: '', config: opts }));
    }
    return of({
      status: a.status,
      data: a.data,
      ok: true,
      statusText: 'OK',
      headers: new Headers(a.headers ?? {}),
      redirected: false,
      type: 'basic',
      url: opts.url,
      config: opts,
    });
  };
  setBackendSrv({ fetch } as unknown as BackendSrv);
  return { calls };
}

/** Renders `element` at `path` with `agents` configured (and the rest of jsonData from `extra`). */
export function renderPage(
  element: React.ReactElement,
  agents: AgentSetting[],
  path = '/',
  extra: Omit<AppJsonData, 'agents'> = {}
) {
  const meta = { id: 'l3af-chains-app', jsonData: toJsonData(agents, extra) } as unknown as AppRootProps['meta'];
  return render(
    <MemoryRouter initialEntries={[path]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
      <PluginSettingsProvider meta={meta}>{element}</PluginSettingsProvider>
    </MemoryRouter>
  );
}

/** A GET program of ratelimiting, as the agent returns it. */
export function getProgram(name: string, seq: number, extra: Record<string, unknown> = {}) {
  return {
    id: 0,
    name,
    seq_id: seq,
    artifact: `l3af_${name}.tar.gz`,
    map_name: '',
    cmd_start: '',
    cmd_stop: '',
    cmd_status: '',
    cmd_config: '',
    cmd_update: '',
    version: 'latest',
    user_program_daemon: false,
    is_plugin: false,
    cpu: 0,
    memory: 0,
    admin_status: 'enabled',
    prog_type: 'xdp',
    rules_file: '',
    rules: '',
    config_file_path: '',
    cfg_version: 0,
    start_args: null,
    stop_args: null,
    status_args: null,
    update_args: null,
    map_args: null,
    config_args: null,
    monitor_maps: null,
    ebpf_package_repo_url: '',
    object_file: `${name}.bpf.o`,
    entry_function_name: 'entry',
    status: { attached: true, kernel_prog_id: 100 + seq, last_error: null, restarts: 0 },
    ...extra,
  };
}
