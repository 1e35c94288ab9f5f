/**
 * The rollout's {@link AgentPort} over HTTP, for agents speaking the safe change API (FLEET-API: `?dry_run=true`,
 * `If-Match` / 412, `GET /l3af/audit`, `POST /l3af/audit/{id}/revert`). A write answer carries the new ETag but
 * not its audit id: the id is the newest audit entry whose `etag_before`/`etag_after` are the write's. HTTP goes
 * through a {@link Send} (Grafana's BackendSrv in the app, a fake or undici in tests), one base URL per agent.
 */
import type { AgentPort, AgentRequest, ApplyResult, DryRunVerdict } from './rollout';

export interface SendRequest {
  method: 'GET' | 'POST';
  /** Path below the agent's base, with query. */
  path: string;
  headers?: Record<string, string>;
  data?: unknown;
}

export interface SendResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  data: unknown;
}

/** One HTTP exchange with an agent; non-2xx answers resolve (only transport failures reject). */
export type Send = (agent: string, req: SendRequest) => Promise<SendResponse>;

interface PlanItemWire {
  iface: string;
  direction: string;
  name: string;
  action: string;
  verifier?: { ok: boolean; error?: string };
}

interface AuditEntryWire {
  id: string;
  etag_before: string;
  etag_after: string;
  outcome: string;
}

/** Why an answer is not a success, in a line. */
function errorOf(r: SendResponse): string {
  const d = r.data as
    | {
        error?: unknown;
        message?: unknown;
        details?: Array<{ path?: string; message?: string }>;
        results?: Array<{ outcome?: string; name?: string; error?: string }>;
      }
    | undefined;
  const failed = d?.results?.find((x) => x.outcome === 'failed');
  if (failed) {
    return `${failed.name ?? 'program'}: ${failed.error ?? 'failed'}`;
  }
  const detail = d?.details?.map((x) => `${x.path ?? ''} ${x.message ?? ''}`.trim()).join('; ');
  const head = typeof d?.error === 'string' ? d.error : typeof d?.message === 'string' ? d.message : `HTTP ${r.status}`;
  return detail ? `${head}: ${detail}` : head;
}

export class HttpAgentPort implements AgentPort {
  constructor(readonly send: Send) {}

  async dryRun(agent: string, req: AgentRequest): Promise<DryRunVerdict> {
    const r = await this.send(agent, {
      method: 'POST',
      path: `/l3af/configs/v1/${req.route}?dry_run=true`,
      data: req.body,
    });
    if (r.status !== 200) {
      return { ok: false, etag: r.headers.etag ?? '', error: errorOf(r) };
    }
    const d = r.data as { ok?: boolean; etag?: string; plan?: PlanItemWire[] };
    const plan = (d.plan ?? []).map(
      (p) =>
        `${p.iface} ${p.direction} ${p.name}: ${p.action}${p.verifier && !p.verifier.ok ? ` (verifier: ${p.verifier.error ?? 'rejected'})` : ''}`
    );
    const rejected = (d.plan ?? []).find((p) => p.verifier && !p.verifier.ok);
    return {
      ok: d.ok === true,
      etag: d.etag ?? r.headers.etag ?? '',
      plan,
      ...(d.ok === true
        ? {}
        : {
            error: rejected ? `${rejected.name}: ${rejected.verifier?.error ?? 'verifier rejected'}` : 'dry run not ok',
          }),
    };
  }

  async apply(agent: string, req: AgentRequest, ifMatch: string): Promise<ApplyResult> {
    const r = await this.send(agent, {
      method: 'POST',
      path: `/l3af/configs/v1/${req.route}`,
      headers: { 'If-Match': ifMatch },
      data: req.body,
    });
    if (r.status === 412) {
      return {
        ok: false,
        error: `${errorOf(r)} (now ${r.headers.etag ?? '?'})`,
        ...(r.headers.etag ? { etag: r.headers.etag } : {}),
      };
    }
    if (r.status !== 200 && r.status !== 422) {
      return { ok: false, error: errorOf(r) };
    }
    // Grafana's proxy errors (the 422) do not carry the answer's headers: then the audit entry names the new ETag
    const found = await this.#auditOf(agent, ifMatch, r.headers.etag);
    const etag = r.headers.etag ?? found?.etag_after;
    const ok =
      r.status === 200 &&
      !((r.data as { results?: Array<{ outcome?: string }> })?.results ?? []).some((x) => x.outcome === 'failed');
    return {
      ok,
      ...(etag ? { etag } : {}),
      ...(found ? { auditId: found.id } : {}),
      ...(ok ? {} : { error: errorOf(r) }),
    };
  }

  async revert(agent: string, auditId: string, ifMatch: string | undefined): Promise<ApplyResult> {
    const r = await this.send(agent, {
      method: 'POST',
      path: `/l3af/audit/${encodeURIComponent(auditId)}/revert`,
      // an empty JSON object, not no body: a POST that says application/json (Grafana's BackendSrv and most
      // clients do by default) with an empty body is refused by the agent's JSON parser ("invalid JSON")
      data: {},
      ...(ifMatch ? { headers: { 'If-Match': ifMatch } } : {}),
    });
    return r.status === 200
      ? { ok: true, ...(r.headers.etag ? { etag: r.headers.etag } : {}) }
      : { ok: false, error: errorOf(r) };
  }

  /**
   * The audit entry of the write that took the state from `before` (its If-Match) to `after` (its ETag); without
   * `after`, the newest entry leaving `before` (If-Match made sure the state was `before` when it ran).
   */
  async #auditOf(agent: string, before: string, after: string | undefined): Promise<AuditEntryWire | undefined> {
    const r = await this.send(agent, { method: 'GET', path: '/l3af/audit?limit=20' });
    const entries = r.status === 200 ? ((r.data as { entries?: AuditEntryWire[] }).entries ?? []) : [];
    return entries.find(
      (e) => (after === undefined || e.etag_after === after) && (before === '*' || e.etag_before === before)
    );
  }
}
