/**
 * The app's configuration page: the list of agents (name, URL, optional data source for mTLS) and the
 * Prometheus data source of the Ratelimiting page. Saved to the plugin settings (jsonData), including one
 * `agentNUrl` per slot that the proxy routes of plugin.json read.
 */
import React, { useState } from 'react';
import { lastValueFrom } from 'rxjs';
import type { AppPluginMeta, PluginConfigPageProps, PluginMeta } from '@grafana/data';
import { getBackendSrv } from '@grafana/runtime';
import { Alert, Button, Field, FieldSet, Input, Stack } from '@grafana/ui';
import { MAX_AGENTS, toJsonData, validateAgents, type AgentSetting, type AppJsonData } from '../../api/settings';

export interface AppConfigProps extends PluginConfigPageProps<AppPluginMeta<AppJsonData>> {}

/** Saves the plugin settings through Grafana's API. */
export async function saveSettings(pluginId: string, data: Partial<PluginMeta<AppJsonData>>): Promise<void> {
  await lastValueFrom(
    getBackendSrv().fetch({ url: `/api/plugins/${pluginId}/settings`, method: 'POST', data, showErrorAlert: false })
  );
}

const AppConfig = ({ plugin }: AppConfigProps) => {
  const { enabled, pinned, jsonData } = plugin.meta;
  const [agents, setAgents] = useState<AgentSetting[]>(jsonData?.agents ?? []);
  const [prometheusUid, setPrometheusUid] = useState(jsonData?.prometheusUid ?? '');
  const [problems, setProblems] = useState<string[]>([]);
  const [saveError, setSaveError] = useState<string>();
  const [saved, setSaved] = useState(false);

  const edit = (i: number, patch: Partial<AgentSetting>) => {
    setSaved(false);
    setAgents((list) => list.map((a, j) => (j === i ? { ...a, ...patch } : a)));
  };

  const onSave = async () => {
    const found = validateAgents(agents);
    setProblems(found);
    setSaveError(undefined);
    if (found.length > 0) {
      return;
    }
    const cleaned = agents.map((a) => ({
      name: a.name.trim(),
      url: a.url.trim(),
      ...(a.datasourceUid?.trim() ? { datasourceUid: a.datasourceUid.trim() } : {}),
      // kept from discovery (selection by host and label)
      ...(a.host ? { host: a.host } : {}),
      ...(a.labels ? { labels: a.labels } : {}),
    }));
    try {
      await saveSettings(plugin.meta.id, {
        enabled: enabled ?? true,
        pinned: pinned ?? true,
        jsonData: toJsonData(cleaned, { ...(jsonData ?? {}), prometheusUid: prometheusUid.trim() || undefined }),
      });
      setSaved(true);
    } catch (err) {
      const e = err as { status?: number; data?: { message?: string } };
      setSaveError(`Saving failed${e.status ? ` (${e.status})` : ''}: ${e.data?.message ?? String(err)}`);
    }
  };

  return (
    <div data-testid="app-config">
      <FieldSet label="Agents">
        <p>
          Each agent is reached through Grafana&apos;s plugin proxy (route agentN of this plugin), so the URL is what
          the Grafana server can reach, e.g. http://10.0.0.5:53000. Viewers may read; changing chains needs the Editor
          role.
        </p>
        <p>
          mTLS: Grafana&apos;s app-plugin proxy cannot present a client certificate. For an agent that requires one,
          create a Grafana data source (any type whose proxy forwards to a URL, e.g. an HTTP/JSON API data source) with
          the agent&apos;s URL and &quot;TLS Client Auth&quot; (certificate and key are kept encrypted in that data
          source&apos;s secureJsonData), and enter its uid here.
        </p>
        {agents.map((a, i) => (
          <Stack key={i} direction="row" gap={1} alignItems="flex-end">
            <Field label="Name">
              <Input
                data-testid={`agent-name-${i}`}
                value={a.name}
                width={20}
                onChange={(e) => edit(i, { name: e.currentTarget.value })}
              />
            </Field>
            <Field label="URL">
              <Input
                data-testid={`agent-url-${i}`}
                value={a.url}
                width={40}
                placeholder="http://10.0.0.5:53000"
                onChange={(e) => edit(i, { url: e.currentTarget.value })}
              />
            </Field>
            <Field label="Data source uid (mTLS, optional)">
              <Input
                value={a.datasourceUid ?? ''}
                width={24}
                onChange={(e) => edit(i, { datasourceUid: e.currentTarget.value })}
              />
            </Field>
            <Field label="">
              <Button
                variant="destructive"
                icon="trash-alt"
                aria-label={`Remove agent ${i + 1}`}
                onClick={() => setAgents((l) => l.filter((_, j) => j !== i))}
              />
            </Field>
          </Stack>
        ))}
        <Button
          variant="secondary"
          icon="plus"
          data-testid="agent-add"
          disabled={agents.length >= MAX_AGENTS}
          onClick={() => setAgents((l) => [...l, { name: '', url: '' }])}
        >
          Add agent
        </Button>
      </FieldSet>
      <FieldSet label="Ratelimiting page">
        <Field label="Prometheus data source uid" description="Empty: the default Prometheus data source">
          <Input value={prometheusUid} width={30} onChange={(e) => setPrometheusUid(e.currentTarget.value)} />
        </Field>
      </FieldSet>
      {problems.length > 0 && (
        <Alert title="Cannot save" severity="error" data-testid="config-problems">
          <ul>
            {problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </Alert>
      )}
      {saveError && <Alert title={saveError} severity="error" />}
      {saved && (
        <Alert
          title="Saved. Reload the page for the app to use the new agents."
          severity="success"
          data-testid="config-saved"
        />
      )}
      <Button data-testid="config-save" onClick={() => void onSave()}>
        Save
      </Button>
    </div>
  );
};

export default AppConfig;
