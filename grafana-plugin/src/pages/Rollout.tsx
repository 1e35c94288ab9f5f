/**
 * Rollout: one change to a selection of the configured agents (by name pattern, host pattern and labels): a
 * payload typed once (add/update/delete, each agent's own `host_name` substituted) or a rate/ports change of the
 * ratelimiting program (built per agent from its own desired state), through the
 * rollout state machine (src/fleet/rollout.ts): dry run on each, then waves with pause/abort, stop (and
 * optional revert) on a failing agent or a Prometheus expression that returns samples during a soak; the
 * per-agent outcome updates live. Below: drift against a reference agent, and an agent's audit history
 * with revert.
 */
import React, { useMemo, useState } from 'react';
import { lastValueFrom } from 'rxjs';
import { getBackendSrv, PluginPage } from '@grafana/runtime';
import { Alert, Button } from '@grafana/ui';
import { AgentClient } from '../api/client';
import { NoAgents } from '../components/AgentPicker';
import { usePluginSettings } from '../components/PluginContext';
import { HttpAgentPort } from '../fleet/agent-port';
import { backendSend } from '../fleet/backend-send';
import { desiredDrift, kernelDrift } from '../fleet/drift';
import { parseRatePorts, payloadRequests, ratePortsRequests } from '../fleet/change';
import { parseSelector, selectAgents } from '../fleet/discovery';
import {
  Rollout as RolloutMachine,
  type AgentRequest,
  type RegressionCheck,
  type RolloutSnapshot,
} from '../fleet/rollout';

/** A regression check: the expression regresses when Prometheus returns any sample for it. */
export function promRegression(prometheusUid: string | undefined, expr: string): RegressionCheck {
  return {
    expr,
    evaluate: async () => {
      const uid = encodeURIComponent(prometheusUid ?? 'prometheus');
      const res = await lastValueFrom(
        getBackendSrv().fetch<{
          status: string;
          data?: { result?: Array<{ metric: Record<string, string>; value: [number, string] }> };
        }>({
          url: `api/datasources/proxy/uid/${uid}/api/v1/query?query=${encodeURIComponent(expr)}`,
          showErrorAlert: false,
        })
      );
      const result = res.data.data?.result ?? [];
      return result.length > 0
        ? { regressed: true, detail: result.map((r) => `${JSON.stringify(r.metric)} = ${r.value[1]}`).join(', ') }
        : { regressed: false, detail: 'no samples' };
    },
  };
}

export function RolloutPanel() {
  const { agents, jsonData } = usePluginSettings();
  const [pattern, setPattern] = useState('*');
  const [hostPattern, setHostPattern] = useState('');
  const [labelText, setLabelText] = useState('');
  const [kind, setKind] = useState<'payload' | 'rate-ports'>('payload');
  const [route, setRoute] = useState<'add' | 'update' | 'delete'>('update');
  const [payload, setPayload] = useState('');
  const [ownHost, setOwnHost] = useState(true);
  const [rate, setRate] = useState('');
  const [ports, setPorts] = useState('');
  const [canary, setCanary] = useState('1');
  const [waves, setWaves] = useState('50,100');
  const [soak, setSoak] = useState('0');
  const [expr, setExpr] = useState('');
  const [revert, setRevert] = useState(true);
  const [snap, setSnap] = useState<RolloutSnapshot | undefined>();
  const [machine, setMachine] = useState<RolloutMachine | undefined>();
  const [error, setError] = useState<string | undefined>();
  const selection = useMemo(() => {
    try {
      return { agents: selectAgents(agents, parseSelector(pattern, hostPattern, labelText)) };
    } catch (err) {
      return { agents: [], error: err instanceof Error ? err.message : String(err) };
    }
  }, [agents, pattern, hostPattern, labelText]);
  const selected = selection.agents;
  const ready = kind === 'payload' ? payload.trim() !== '' : rate.trim() !== '' || ports.trim() !== '';

  const dryRun = async () => {
    setError(undefined);
    try {
      const send = backendSend(agents);
      let request: (agent: string) => AgentRequest | Promise<AgentRequest>;
      if (kind === 'rate-ports') {
        request = ratePortsRequests(send, parseRatePorts(rate, ports));
      } else {
        let body: unknown;
        try {
          body = JSON.parse(payload);
        } catch (err) {
          throw new Error(`the payload is not JSON: ${err instanceof Error ? err.message : String(err)}`);
        }
        // each agent's own host_name (agents refuse a body for another host)
        request = ownHost
          ? payloadRequests(send, route, body, (name) => agents.find((a) => a.name === name)?.host)
          : () => ({ route, body });
      }
      const m = new RolloutMachine(
        selected.map((a) => a.name),
        request,
        new HttpAgentPort(send),
        {
          canary: Number(canary),
          waves: waves.split(',').map((w) => Number(w.trim())),
          soakMs: Number(soak) * 1000,
          checkIntervalMs: 2000,
          revertOnFailure: revert,
          ...(expr.trim() ? { regression: promRegression(jsonData.prometheusUid, expr.trim()) } : {}),
        }
      );
      m.subscribe(setSnap);
      setMachine(m);
      await m.dryRun();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <section aria-label="rollout">
      <h3>Rollout</h3>
      <label>
        Agents (name pattern, * = any){' '}
        <input aria-label="agent pattern" value={pattern} onChange={(e) => setPattern(e.target.value)} />
      </label>{' '}
      <label>
        Host pattern{' '}
        <input
          aria-label="host pattern"
          value={hostPattern}
          placeholder="edge-*"
          onChange={(e) => setHostPattern(e.target.value)}
        />
      </label>{' '}
      <label>
        Labels{' '}
        <input
          aria-label="labels"
          value={labelText}
          placeholder="dc=fra, role=edge"
          onChange={(e) => setLabelText(e.target.value)}
        />
      </label>{' '}
      <span data-testid="rollout-selected">{selection.error ? selection.error : `${selected.length} agent(s)`}</span>
      <br />
      <label>
        Change{' '}
        <select
          aria-label="change kind"
          value={kind}
          onChange={(e) => setKind(e.target.value as 'payload' | 'rate-ports')}
        >
          <option value="payload">payload</option>
          <option value="rate-ports">ratelimiting rate / ports</option>
        </select>
      </label>
      <br />
      {kind === 'rate-ports' ? (
        <div data-testid="rate-ports-form">
          <label>
            Rate (connections per second, empty = keep){' '}
            <input aria-label="rate" value={rate} size={8} onChange={(e) => setRate(e.target.value)} />
          </label>{' '}
          <label>
            Ports (comma separated, empty = keep){' '}
            <input aria-label="ports" value={ports} onChange={(e) => setPorts(e.target.value)} />
          </label>
          <p>
            Each agent&apos;s update is built from its own desired state: only ratelimiting&apos;s map_args change, and
            the write is refused if the agent changed since the dry run.
          </p>
        </div>
      ) : (
        <div data-testid="payload-form">
          <label>
            Route{' '}
            <select
              aria-label="route"
              value={route}
              onChange={(e) => setRoute(e.target.value as 'add' | 'update' | 'delete')}
            >
              <option value="add">add</option>
              <option value="update">update</option>
              <option value="delete">delete</option>
            </select>
          </label>
          <br />
          <label>
            <input
              type="checkbox"
              aria-label="own host name"
              checked={ownHost}
              onChange={(e) => setOwnHost(e.target.checked)}
            />{' '}
            each agent&apos;s own host_name
          </label>
          <br />
          <textarea
            aria-label="payload"
            rows={6}
            cols={80}
            value={payload}
            onChange={(e) => setPayload(e.target.value)}
          />
        </div>
      )}
      <label>
        Canary <input aria-label="canary" value={canary} onChange={(e) => setCanary(e.target.value)} size={3} />
      </label>{' '}
      <label>
        Waves (cumulative %) <input aria-label="waves" value={waves} onChange={(e) => setWaves(e.target.value)} />
      </label>{' '}
      <label>
        Soak (s) <input aria-label="soak" value={soak} onChange={(e) => setSoak(e.target.value)} size={4} />
      </label>{' '}
      <label>
        Stop when this PromQL returns samples{' '}
        <input aria-label="regression" value={expr} onChange={(e) => setExpr(e.target.value)} size={40} />
      </label>{' '}
      <label>
        <input
          type="checkbox"
          aria-label="revert on failure"
          checked={revert}
          onChange={(e) => setRevert(e.target.checked)}
        />{' '}
        revert on failure
      </label>
      <div>
        <Button onClick={dryRun} disabled={selected.length === 0 || !ready}>
          Dry run
        </Button>{' '}
        <Button
          onClick={() => machine?.apply().catch((err: unknown) => setError(String(err)))}
          disabled={snap?.phase !== 'ready'}
        >
          Apply
        </Button>{' '}
        <Button
          variant="secondary"
          onClick={() => machine?.pause()}
          disabled={snap?.phase !== 'applying' && snap?.phase !== 'soaking'}
        >
          Pause
        </Button>{' '}
        <Button variant="secondary" onClick={() => machine?.resume()} disabled={snap?.phase !== 'paused'}>
          Resume
        </Button>{' '}
        <Button
          variant="destructive"
          onClick={() => machine?.abort()}
          disabled={!snap || ['done', 'stopped', 'aborted', 'new'].includes(snap.phase)}
        >
          Abort
        </Button>
      </div>
      {error && <Alert title={error} severity="error" />}
      {snap && (
        <div>
          <p data-testid="rollout-phase">
            {snap.phase}
            {snap.wave >= 0 ? ` (wave ${snap.wave + 1} of ${snap.waves.length})` : ''}
            {snap.reason ? `: ${snap.reason}` : ''}
            {snap.reverted !== undefined ? (snap.reverted ? ' — reverted' : ' — revert incomplete') : ''}
          </p>
          <p data-testid="rollout-counts">
            {Object.entries(
              snap.agents.reduce<Record<string, number>>(
                (acc, a) => ({ ...acc, [a.outcome]: (acc[a.outcome] ?? 0) + 1 }),
                {}
              )
            )
              .map(([k, v]) => `${k}: ${v}`)
              .join(', ')}
            {snap.startedAt !== undefined && snap.finishedAt !== undefined
              ? ` — ${snap.agents.length} agents in ${((snap.finishedAt - snap.startedAt) / 1000).toFixed(1)} s`
              : ''}
          </p>
          <table data-testid="rollout-agents" style={{ borderCollapse: 'separate', borderSpacing: '12px 2px' }}>
            <thead>
              <tr>
                <th>agent</th>
                <th>wave</th>
                <th>outcome</th>
                <th>detail</th>
              </tr>
            </thead>
            <tbody>
              {snap.agents.map((a) => (
                <tr key={a.agent} data-testid={`rollout-agent-${a.agent}`}>
                  <td>{a.agent}</td>
                  <td>{a.wave + 1}</td>
                  <td>{a.outcome}</td>
                  <td>{a.error ?? a.plan?.join('; ') ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function DriftPanel() {
  const { agents } = usePluginSettings();
  const [reference, setReference] = useState('');
  const [rows, setRows] = useState<Array<{ agent: string; lines: string[] }> | undefined>();
  const check = async () => {
    const docs = await Promise.all(
      agents.map(async (a) => {
        try {
          return { agent: a.name, docs: await new AgentClient(a).configs() };
        } catch (err) {
          return { agent: a.name, error: err instanceof Error ? err.message : String(err) };
        }
      })
    );
    const ref = docs.find((d) => d.agent === reference)?.docs;
    setRows(
      docs.map((d) => ({
        agent: d.agent,
        lines: d.docs
          ? [
              ...(ref && d.agent !== reference ? desiredDrift(ref, d.docs) : []),
              ...kernelDrift(d.docs).map((k) => `kernel: ${k.iface} ${k.direction} ${k.name}: ${k.problem}`),
            ]
          : [`unreachable: ${d.error}`],
      }))
    );
  };
  return (
    <section aria-label="drift">
      <h3>Drift</h3>
      <label>
        Reference agent{' '}
        <select aria-label="reference" value={reference} onChange={(e) => setReference(e.target.value)}>
          <option value="">(kernel drift only)</option>
          {agents.map((a) => (
            <option key={a.name} value={a.name}>
              {a.name}
            </option>
          ))}
        </select>
      </label>{' '}
      <Button onClick={check}>Check drift</Button>
      {rows && (
        <ul data-testid="drift">
          {rows.map((r) => (
            <li key={r.agent} data-testid={`drift-${r.agent}`}>
              {r.agent}: {r.lines.length === 0 ? 'in step' : r.lines.join('; ')}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

interface AuditRow {
  id: string;
  time: string;
  identity: string;
  route: string;
  outcome: string;
  ifaces: string[];
  etag_after: string;
  error?: string;
}

export function HistoryPanel() {
  const { agents } = usePluginSettings();
  const [agent, setAgent] = useState('');
  const [entries, setEntries] = useState<AuditRow[] | undefined>();
  const [message, setMessage] = useState<string | undefined>();
  const send = useMemo(() => backendSend(agents), [agents]);
  const load = async (name = agent) => {
    const r = await send(name, { method: 'GET', path: '/l3af/audit?limit=50' });
    setEntries(r.status === 200 ? ((r.data as { entries?: AuditRow[] }).entries ?? []) : []);
    if (r.status !== 200) {
      setMessage(`audit log not available (HTTP ${r.status})`);
    }
  };
  const revert = async (id: string) => {
    const cur = await send(agent, { method: 'GET', path: '/l3af/configs/v1' });
    const port = new HttpAgentPort(send);
    const r = await port.revert(agent, id, cur.headers.etag);
    setMessage(r.ok ? `reverted ${id}` : `revert of ${id} failed: ${r.error}`);
    await load();
  };
  return (
    <section aria-label="history">
      <h3>History</h3>
      <select aria-label="history agent" value={agent} onChange={(e) => setAgent(e.target.value)}>
        <option value="">(agent)</option>
        {agents.map((a) => (
          <option key={a.name} value={a.name}>
            {a.name}
          </option>
        ))}
      </select>{' '}
      <Button onClick={() => load()} disabled={agent === ''}>
        Show audit log
      </Button>
      {message && <p data-testid="history-message">{message}</p>}
      {entries && (
        <table data-testid="history" style={{ borderCollapse: 'separate', borderSpacing: '12px 2px' }}>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id} data-testid={`audit-${e.id}`}>
                <td>{e.time}</td>
                <td>{e.identity}</td>
                <td>{e.route}</td>
                <td>{e.ifaces.join(', ')}</td>
                <td>{e.outcome}</td>
                <td>{e.error ?? ''}</td>
                <td>
                  <Button size="sm" variant="secondary" onClick={() => revert(e.id)}>
                    Revert
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export default function RolloutPage() {
  const { agents } = usePluginSettings();
  return (
    <PluginPage>
      {agents.length === 0 ? (
        <NoAgents />
      ) : (
        <>
          <RolloutPanel />
          <DriftPanel />
          <HistoryPanel />
        </>
      )}
    </PluginPage>
  );
}
