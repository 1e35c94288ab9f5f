/** An AgentError shown as a plain alert: what happened, what to do, and each offending field. */
import React from 'react';
import { Alert } from '@grafana/ui';
import { AgentError, type AgentErrorKind } from '../api/agent-error';

const TITLES: Record<AgentErrorKind, string> = {
  unreachable: 'Agent not reachable',
  forbidden: 'Permission refused',
  unauthorized: 'Not signed in',
  rejected: 'Request refused by the agent',
  'not-supported': 'Not offered by this agent',
  'not-ready': 'Agent not ready',
  'agent-fault': 'Agent error',
  unexpected: 'Unexpected answer',
};

/** Shows `error` (an AgentError, or anything thrown). */
export function AgentErrorView({ error, title }: { error: unknown; title?: string }) {
  const e = error instanceof AgentError ? error : undefined;
  const severity = e?.kind === 'not-supported' || e?.kind === 'not-ready' ? 'warning' : 'error';
  return (
    <Alert title={title ?? (e ? TITLES[e.kind] : 'Error')} severity={severity} data-testid="agent-error">
      <div>{error instanceof Error ? error.message : String(error)}</div>
      {e && e.problems.length > 0 && (
        <ul data-testid="agent-error-problems">
          {e.problems.map((p, i) => (
            <li key={i}>
              {p.path ? <code>{p.path}</code> : null} {p.message}
            </li>
          ))}
        </ul>
      )}
    </Alert>
  );
}
