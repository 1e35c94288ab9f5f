/**
 * AgentClient: typed calls to one l3af agent through Grafana (plugin proxy route or data source proxy),
 * using Grafana's backend service so the user's session and Grafana's proxy apply.
 */
import { lastValueFrom } from 'rxjs';
import { getBackendSrv } from '@grafana/runtime';
import { AgentError, classify } from './agent-error';
import { agentBaseUrl, type AgentRef } from './settings';
import type {
  AddUpdateBody,
  DeleteBody,
  GetInterface,
  HostFacts,
  InterfaceChains,
  OperationResult,
  RepositoryPackage,
} from './types';

/** An add/update/delete that the agent processed: 200 (every program fine) or 422 (some failed). */
export interface Applied extends OperationResult {
  /** HTTP status: 200 or 422. */
  status: 200 | 422;
  /** True when no program failed. */
  ok: boolean;
}

/** Calls to one agent. */
export class AgentClient {
  readonly base: string;

  constructor(readonly agent: AgentRef) {
    this.base = agentBaseUrl(agent);
  }

  async #request<T>(method: 'GET' | 'POST', path: string, data?: unknown): Promise<{ status: number; data: T }> {
    try {
      const res = await lastValueFrom(
        getBackendSrv().fetch<T>({
          url: `${this.base}${path}`,
          method,
          data,
          headers: data === undefined ? undefined : { 'Content-Type': 'application/json' },
          showErrorAlert: false,
          showSuccessAlert: false,
        })
      );
      return { status: res.status, data: res.data };
    } catch (err) {
      const e = err as { status?: unknown; data?: unknown };
      // 422: the agent processed the request and some program failed; the body carries the results.
      if (
        e?.status === 422 &&
        typeof e.data === 'object' &&
        e.data !== null &&
        Array.isArray((e.data as OperationResult).results)
      ) {
        return { status: 422, data: e.data as T };
      }
      throw classify(err, this.agent.name);
    }
  }

  /**
   * `GET /l3af/configs/v1?status=true`: every interface the agent knows, each program with its live status
   * (without `?status=true` the agent answers l3afd's exact shape, without status).
   */
  async configs(): Promise<GetInterface[]> {
    return (await this.#request<GetInterface[]>('GET', '/l3af/configs/v1?status=true')).data ?? [];
  }

  /** `GET /l3af/configs/v1/:iface?status=true`: one interface (empty lists when it has no programs), with status. */
  async config(iface: string): Promise<GetInterface> {
    return (await this.#request<GetInterface>('GET', `/l3af/configs/v1/${encodeURIComponent(iface)}?status=true`)).data;
  }

  async #operation(op: 'add' | 'update' | 'delete', body: AddUpdateBody | DeleteBody): Promise<Applied> {
    const res = await this.#request<OperationResult>('POST', `/l3af/configs/v1/${op}`, body);
    const results = res.data?.results ?? [];
    const failed = res.status === 422 || results.some((r) => r.outcome === 'failed');
    return { results, status: res.status === 422 ? 422 : 200, ok: !failed };
  }

  /** `POST /l3af/configs/v1/add` (additive). */
  add(body: AddUpdateBody): Promise<Applied> {
    return this.#operation('add', body);
  }

  /** `POST /l3af/configs/v1/update`: the host's whole desired state (as l3afd, interfaces it omits are stopped). */
  update(body: AddUpdateBody): Promise<Applied> {
    return this.#operation('update', body);
  }

  /** `POST /l3af/configs/v1/delete` (by name). */
  delete(body: DeleteBody): Promise<Applied> {
    return this.#operation('delete', body);
  }

  /** `GET /l3af/chains/:iface`: the chains as the kernel holds them. */
  async chains(iface: string): Promise<InterfaceChains> {
    return (await this.#request<InterfaceChains>('GET', `/l3af/chains/${encodeURIComponent(iface)}`)).data;
  }

  /** `GET /l3af/host`: host facts. */
  async host(): Promise<HostFacts> {
    return (await this.#request<HostFacts>('GET', '/l3af/host')).data;
  }

  /**
   * `GET /l3af/packages`: what the agent's package repository offers. Resolves to `undefined` when the agent
   * has no such route (404/501), so pages can offer the manual form instead.
   */
  async packages(): Promise<RepositoryPackage[] | undefined> {
    try {
      const res = await this.#request<RepositoryPackage[] | { packages: RepositoryPackage[] }>('GET', '/l3af/packages');
      const d = res.data;
      return Array.isArray(d) ? d : (d?.packages ?? []);
    } catch (err) {
      if (err instanceof AgentError && err.kind === 'not-supported') {
        return undefined;
      }
      throw err;
    }
  }

  /** URL (absolute path on Grafana's origin) of the agent's event stream `GET /l3af/events`. */
  eventsUrl(filter: { iface?: string; program?: string } = {}): string {
    const q = new URLSearchParams();
    if (filter.iface) {
      q.set('iface', filter.iface);
    }
    if (filter.program) {
      q.set('program', filter.program);
    }
    const qs = q.toString();
    return `/${this.base}/l3af/events${qs ? `?${qs}` : ''}`;
  }
}
