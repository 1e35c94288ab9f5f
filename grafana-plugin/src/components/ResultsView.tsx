/** The agent's per-program answer to an add/update/delete, shown plainly. */
import React from 'react';
import { Alert } from '@grafana/ui';
import type { Applied } from '../api/client';

/** `what` names the action ("Delete ratelimiting"). */
export function ResultsView({ what, applied }: { what: string; applied: Applied }) {
  return (
    <Alert
      title={`${what}: ${applied.ok ? 'done' : 'failed'} (HTTP ${applied.status})`}
      severity={applied.ok ? 'success' : 'error'}
      data-testid="operation-result"
    >
      {applied.results.length === 0 ? (
        <div>The agent reported no program changes.</div>
      ) : (
        <ul>
          {applied.results.map((r, i) => (
            <li key={i} data-testid="operation-result-item">
              <strong>{r.name}</strong> on {r.iface || 'probes'} / {r.direction}: <strong>{r.outcome}</strong>
              {r.reason ? ` — ${r.reason}` : ''}
            </li>
          ))}
        </ul>
      )}
    </Alert>
  );
}
