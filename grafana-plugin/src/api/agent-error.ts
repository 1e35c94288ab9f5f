/**
 * AgentError: every way a call to an agent can fail, classified so that pages can say plainly what happened
 * (agent down, refused by mTLS, refused by Grafana, bad request with field paths, agent fault).
 */
import type { ErrorBody, Problem } from './types';

/** What went wrong, from the user's point of view. */
export type AgentErrorKind =
  | 'unreachable' // Grafana could not reach the agent (down, wrong URL, network)
  | 'forbidden' // 403: the agent's mTLS roles, or the user's Grafana role, refuse this
  | 'unauthorized' // 401: the Grafana session is gone
  | 'rejected' // 400/413/415: the agent refused the request, with the offending fields
  | 'not-supported' // 404/501: this agent has no such route (an older agent)
  | 'not-ready' // 503 from the agent: starting or stopping
  | 'agent-fault' // 500 from the agent
  | 'unexpected'; // anything else

/** A failed call to an agent. */
export class AgentError extends Error {
  constructor(
    readonly kind: AgentErrorKind,
    message: string,
    readonly status: number,
    readonly problems: Problem[] = []
  ) {
    super(message);
    this.name = 'AgentError';
  }
}

function isErrorBody(d: unknown): d is ErrorBody {
  return typeof d === 'object' && d !== null && typeof (d as ErrorBody).error === 'string';
}

/** Text of a non-agent body (Grafana's proxy answers `{message}` or plain text). */
function bodyText(d: unknown): string {
  if (typeof d === 'string') {
    return d.trim().slice(0, 200);
  }
  if (typeof d === 'object' && d !== null && typeof (d as { message?: unknown }).message === 'string') {
    return (d as { message: string }).message;
  }
  return '';
}

/**
 * Classifies a failed response (a FetchError from Grafana's backend service, or anything thrown).
 * `agent` names the agent in messages.
 */
export function classify(err: unknown, agent: string): AgentError {
  const e = (err ?? {}) as { status?: unknown; data?: unknown; statusText?: unknown; message?: unknown };
  const status = typeof e.status === 'number' ? e.status : 0;
  const data = e.data;
  const agentBody = isErrorBody(data) ? data : undefined;
  const detail = agentBody
    ? [agentBody.error, ...agentBody.problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message))].join(' — ')
    : bodyText(data) ||
      (typeof e.statusText === 'string' ? e.statusText : '') ||
      (typeof e.message === 'string' ? e.message : '');
  const problems = agentBody?.problems ?? [];
  if (status === 0 || ((status === 502 || status === 504) && !agentBody) || (status === 503 && !agentBody)) {
    return new AgentError(
      'unreachable',
      `Agent "${agent}" is not reachable${detail ? ` (${detail})` : ''}. Is it running, and is its URL right?`,
      status
    );
  }
  if (status === 403) {
    const msg = agentBody
      ? `Agent "${agent}" refused this request (403): its mTLS roles do not allow this client${agentBody.problems[0] ? ` — ${agentBody.problems[0].message}` : ''}.`
      : `Permission denied (403)${detail ? `: ${detail}` : ''}. Changing chains needs the Editor role in Grafana; the agent may also require a client certificate.`;
    return new AgentError('forbidden', msg, status, problems);
  }
  if (status === 401) {
    return new AgentError('unauthorized', 'Not signed in to Grafana (401). Sign in again.', status);
  }
  if (status === 400 || status === 413 || status === 415) {
    return new AgentError('rejected', `Agent "${agent}" refused the request (${status}): ${detail}`, status, problems);
  }
  if (status === 404 || status === 501) {
    return new AgentError(
      'not-supported',
      `Agent "${agent}" does not offer this (${status}${detail ? `: ${detail}` : ''}).`,
      status,
      problems
    );
  }
  if (status === 503) {
    return new AgentError(
      'not-ready',
      `Agent "${agent}" is starting or stopping (503); try again in a moment.`,
      status,
      problems
    );
  }
  if (status >= 500) {
    return new AgentError('agent-fault', `Agent "${agent}" failed (${status}): ${detail}`, status, problems);
  }
  return new AgentError(
    'unexpected',
    `Agent "${agent}": unexpected answer ${status}${detail ? `: ${detail}` : ''}`,
    status,
    problems
  );
}
