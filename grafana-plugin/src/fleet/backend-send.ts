/** The rollout's {@link Send} through Grafana's BackendSrv (plugin proxy or data source proxy of each agent). */
import { lastValueFrom } from 'rxjs';
import { getBackendSrv } from '@grafana/runtime';
import { agentBaseUrl, type AgentRef } from '../api/settings';
import type { Send } from './agent-port';

/** A Send addressing agents by name among `agents`; an unknown name is refused (only configured agents are called). */
export function backendSend(agents: readonly AgentRef[]): Send {
  const byName = new Map(agents.map((a) => [a.name, a]));
  return async (name, req) => {
    const agent = byName.get(name);
    if (!agent) {
      throw new Error(`agent "${name}" is not configured`);
    }
    try {
      const res = await lastValueFrom(
        getBackendSrv().fetch<unknown>({
          url: `${agentBaseUrl(agent)}${req.path}`,
          method: req.method,
          data: req.data,
          headers: {
            ...(req.data === undefined ? {} : { 'Content-Type': 'application/json' }),
            ...(req.headers ?? {}),
          },
          showErrorAlert: false,
          showSuccessAlert: false,
        })
      );
      const headers: Record<string, string> = {};
      res.headers?.forEach((v, k) => (headers[k.toLowerCase()] = v));
      return { status: res.status, headers, data: res.data };
    } catch (err) {
      const e = err as { status?: unknown; data?: unknown };
      if (typeof e?.status === 'number' && e.status > 0) {
        const etag = (e.data as { etag?: unknown } | undefined)?.etag;
        return { status: e.status, headers: typeof etag === 'string' ? { etag } : {}, data: e.data };
      }
      throw err;
    }
  };
}
