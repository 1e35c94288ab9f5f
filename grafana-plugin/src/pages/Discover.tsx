/**
 * Discover: the agents Prometheus scrapes (active targets of the l3af jobs, with their labels) and/or a static
 * list, each marked by the admin's allow list (API URL patterns); the admin adopts the chosen ones into the app's
 * agents. Adopting saves the plugin settings (only a Grafana admin may: Grafana refuses the save otherwise), which
 * gives each adopted agent a proxy route slot: only adopted agents are ever reachable through the plugin proxy,
 * and only agents the allow list admits can be adopted. The allow list is saved with them.
 */
import React, { useState } from 'react';
import { lastValueFrom } from 'rxjs';
import { getBackendSrv, PluginPage } from '@grafana/runtime';
import { Alert, Button } from '@grafana/ui';
import { toJsonData, validateAgents, type AgentSetting } from '../api/settings';
import { saveSettings } from '../components/AppConfig/AppConfig';
import { usePluginSettings } from '../components/PluginContext';
import { PLUGIN_ID } from '../constants';
import {
  adopt,
  agentsFromTargets,
  fleetOf,
  parseStaticList,
  validatePatterns,
  type FleetAgent,
  type TargetsAnswer,
} from '../fleet/discovery';

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

function messageOf(err: unknown): string {
  const e = err as { status?: number; data?: { message?: string; error?: string } };
  if (typeof e?.status === 'number') {
    return `HTTP ${e.status}${e.data?.message || e.data?.error ? `: ${e.data.message ?? e.data.error}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

export interface DiscoverPanelProps {
  /** After a successful adopt (default: reload the page, so the app reads the saved agents). */
  onAdopted?: () => void;
}

export function DiscoverPanel({ onAdopted = () => window.location.reload() }: DiscoverPanelProps) {
  const { jsonData } = usePluginSettings();
  const configured: AgentSetting[] = jsonData.agents ?? [];
  const [useProm, setUseProm] = useState(true);
  const [job, setJob] = useState('l3af.*');
  const [apiPort, setApiPort] = useState('53000');
  const [patterns, setPatterns] = useState((jsonData.allowPatterns ?? []).join('\n'));
  const [statics, setStatics] = useState('');
  const [fleet, setFleet] = useState<FleetAgent[] | undefined>();
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string | undefined>();
  const [message, setMessage] = useState<string | undefined>();
  const adoptedUrls = new Set(configured.map((a) => a.url.replace(/\/+$/, '')));

  const discover = async () => {
    setError(undefined);
    setMessage(undefined);
    try {
      const pats = lines(patterns);
      const problems = validatePatterns(pats);
      if (problems.length > 0) {
        throw new Error(problems.join('; '));
      }
      const port = Number(apiPort);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new Error(`API port "${apiPort}" is not a port`);
      }
      const list = parseStaticList(statics);
      let found: ReturnType<typeof agentsFromTargets> = [];
      if (useProm) {
        const uid = encodeURIComponent(jsonData.prometheusUid ?? 'prometheus');
        const res = await lastValueFrom(
          getBackendSrv().fetch<TargetsAnswer>({
            url: `api/datasources/proxy/uid/${uid}/api/v1/targets?state=active`,
            showErrorAlert: false,
          })
        );
        found = agentsFromTargets(res.data, { job, apiPort: port });
      }
      const f = fleetOf(list, found, pats);
      setFleet(f);
      setChosen(new Set());
    } catch (err) {
      setError(`Discovery failed: ${messageOf(err)}`);
    }
  };

  const adoptable = (fleet ?? []).filter((a) => a.allowed && !adoptedUrls.has(a.url));
  const toggle = (url: string, on: boolean) =>
    setChosen((s) => {
      const n = new Set(s);
      if (on) {
        n.add(url);
      } else {
        n.delete(url);
      }
      return n;
    });

  const save = async () => {
    setError(undefined);
    try {
      const picked = adoptable.filter((a) => chosen.has(a.url));
      const agents = adopt(configured, picked) as AgentSetting[];
      const problems = validateAgents(agents);
      if (problems.length > 0) {
        throw new Error(problems.join('; '));
      }
      await saveSettings(PLUGIN_ID, {
        enabled: true,
        pinned: true,
        jsonData: toJsonData(agents, { ...jsonData, allowPatterns: lines(patterns) }),
      });
      setMessage(`Adopted ${picked.length} agent(s); ${agents.length} configured.`);
      onAdopted();
    } catch (err) {
      setError(`Adopting failed: ${messageOf(err)}`);
    }
  };

  return (
    <section aria-label="discovery">
      <h3>Discover agents</h3>
      <p>
        Agents come from the Prometheus targets of the l3af jobs (a target&apos;s <code>l3af_api_url</code> label, else
        its host with the API port) and from the static list. Only agents the allow list admits can be adopted, and only
        adopted agents are reachable through the plugin&apos;s proxy. Adopting saves the plugin settings (Grafana admins
        only).
      </p>
      <label>
        <input
          type="checkbox"
          aria-label="from Prometheus"
          checked={useProm}
          onChange={(e) => setUseProm(e.target.checked)}
        />{' '}
        Prometheus targets
      </label>{' '}
      <label>
        Jobs (regular expression) <input aria-label="jobs" value={job} onChange={(e) => setJob(e.target.value)} />
      </label>{' '}
      <label>
        API port <input aria-label="api port" value={apiPort} size={6} onChange={(e) => setApiPort(e.target.value)} />
      </label>
      <br />
      <label>
        Allow list (one API URL pattern a line; * = one label or octet of the host, or the port)
        <br />
        <textarea
          aria-label="allow list"
          rows={3}
          cols={60}
          value={patterns}
          placeholder="http://10.1.*.*:53000"
          onChange={(e) => setPatterns(e.target.value)}
        />
      </label>
      <br />
      <label>
        Static list (one agent a line: name http://host:port)
        <br />
        <textarea
          aria-label="static list"
          rows={3}
          cols={60}
          value={statics}
          onChange={(e) => setStatics(e.target.value)}
        />
      </label>
      <div>
        <Button onClick={() => void discover()}>Discover</Button>{' '}
        <Button
          variant="secondary"
          onClick={() => setChosen(new Set(adoptable.map((a) => a.url)))}
          disabled={adoptable.length === 0}
        >
          Select every allowed
        </Button>{' '}
        <Button onClick={() => void save()} disabled={chosen.size === 0}>
          {`Adopt ${chosen.size} agent(s)`}
        </Button>
      </div>
      {error && <Alert title={error} severity="error" data-testid="discover-error" />}
      {message && <p data-testid="discover-message">{message}</p>}
      {fleet && (
        <>
          <p data-testid="discover-summary">
            {fleet.length} found, {fleet.filter((a) => a.allowed).length} allowed, {adoptable.length} to adopt
          </p>
          <table data-testid="discover-agents" style={{ borderCollapse: 'separate', borderSpacing: '12px 2px' }}>
            <thead>
              <tr>
                <th />
                <th>agent</th>
                <th>API URL</th>
                <th>host</th>
                <th>labels</th>
                <th>scrape</th>
                <th>status</th>
              </tr>
            </thead>
            <tbody>
              {fleet.map((a) => {
                const adopted = adoptedUrls.has(a.url);
                return (
                  <tr key={a.url} data-testid={`discover-agent-${a.name}`}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`adopt ${a.name}`}
                        disabled={!a.allowed || adopted}
                        checked={chosen.has(a.url)}
                        onChange={(e) => toggle(a.url, e.target.checked)}
                      />
                    </td>
                    <td>{a.name}</td>
                    <td>{a.url}</td>
                    <td>{a.host}</td>
                    <td>
                      {Object.entries(a.labels)
                        .filter(([k]) => !k.startsWith('__') && k !== 'instance' && k !== 'l3af_api_url')
                        .map(([k, v]) => `${k}=${v}`)
                        .join(', ')}
                    </td>
                    <td>{a.health ?? a.source}</td>
                    <td>{adopted ? 'adopted' : a.allowed ? 'allowed' : 'not allowed'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

export default function DiscoverPage() {
  return (
    <PluginPage>
      <DiscoverPanel />
    </PluginPage>
  );
}
