/**
 * Fleet: every configured agent, reachable or not, with its host facts, the programs it runs and the ones
 * that fail (not attached while enabled, or with a last error).
 */
import React from 'react';
import { Link } from 'react-router-dom';
import { PluginPage } from '@grafana/runtime';
import { Alert, Badge, Button, Card, LoadingPlaceholder, Stack } from '@grafana/ui';
import { AgentClient } from '../api/client';
import { AgentError } from '../api/agent-error';
import type { AgentRef } from '../api/settings';
import { DIRECTIONS, type GetInterface, type GetProgram, type HostFacts } from '../api/types';
import { AgentErrorView } from '../components/AgentErrorView';
import { NoAgents } from '../components/AgentPicker';
import { usePluginSettings } from '../components/PluginContext';
import { useAsync } from '../hooks/useAsync';
import { PLUGIN_BASE_URL, ROUTES } from '../constants';

/** One program with where it runs. */
export interface PlacedProgram {
  iface: string;
  direction: string;
  program: GetProgram;
}

/** Every program of a GET answer with its interface and direction. */
export function programsOf(docs: GetInterface[]): PlacedProgram[] {
  return docs.flatMap((d) =>
    DIRECTIONS.flatMap((dir) =>
      (d.bpf_programs[dir] ?? []).map((program) => ({ iface: d.iface, direction: dir, program }))
    )
  );
}

/** Why a program counts as failing, or undefined when it is fine. */
export function failureOf(p: GetProgram): string | undefined {
  if (p.status?.last_error) {
    return p.status.last_error;
  }
  if (p.admin_status === 'enabled' && p.status && !p.status.attached) {
    return 'enabled but not attached';
  }
  return undefined;
}

interface AgentView {
  configs?: GetInterface[];
  configsError?: unknown;
  host?: HostFacts;
  hostError?: unknown;
}

async function load(agent: AgentRef): Promise<AgentView> {
  const c = new AgentClient(agent);
  const [configs, host] = await Promise.allSettled([c.configs(), c.host()]);
  return {
    configs: configs.status === 'fulfilled' ? configs.value : undefined,
    configsError: configs.status === 'rejected' ? configs.reason : undefined,
    host: host.status === 'fulfilled' ? host.value : undefined,
    hostError: host.status === 'rejected' ? host.reason : undefined,
  };
}

function HostLine({ host, error }: { host?: HostFacts; error?: unknown }) {
  if (host) {
    const nics = host.interfaces.filter((i) => !i.internal).length;
    return (
      <div data-testid="fleet-host">
        {host.hostname} · {host.os.distro} {host.os.release} ({host.os.arch}) · kernel {host.kernel} · {nics} interfaces
        · BTF {host.bpf.btf ? 'yes' : 'no'} · JIT {host.bpf.jitEnabled ? 'on' : 'off'}
      </div>
    );
  }
  if (error instanceof AgentError && error.kind === 'not-supported') {
    return <div data-testid="fleet-host">This agent does not report host facts (no GET /l3af/host).</div>;
  }
  return null;
}

function AgentCard({ agent }: { agent: AgentRef }) {
  const { value, loading, reload } = useAsync(() => load(agent), [agent.name, agent.url, agent.slot]);
  const programs = value?.configs ? programsOf(value.configs) : [];
  const failing = programs.filter((p) => failureOf(p.program));
  const running = programs.filter((p) => p.program.status?.attached);
  const down = value?.configsError instanceof AgentError ? value.configsError : undefined;
  return (
    <Card data-testid={`fleet-agent-${agent.name}`}>
      <Card.Heading>{agent.name}</Card.Heading>
      <Card.Meta>
        {[agent.url, agent.datasourceUid ? `via data source ${agent.datasourceUid}` : 'via the plugin proxy']}
      </Card.Meta>
      <Card.Tags>
        {loading ? (
          <Badge text="checking…" color="blue" />
        ) : down ? (
          <Badge
            text={down.kind === 'forbidden' ? 'refused' : down.kind === 'unreachable' ? 'down' : 'error'}
            color="red"
            icon="exclamation-triangle"
          />
        ) : (
          <Badge text="reachable" color="green" icon="check" />
        )}
      </Card.Tags>
      <Card.Description>
        {loading && !value ? (
          <LoadingPlaceholder text="Asking the agent…" />
        ) : value?.configsError ? (
          <AgentErrorView error={value.configsError} />
        ) : (
          <Stack direction="column" gap={1}>
            <HostLine host={value?.host} error={value?.hostError} />
            <div data-testid="fleet-programs">
              {programs.length === 0
                ? 'No programs on this agent.'
                : `${running.length} of ${programs.length} programs running on ${new Set(programs.map((p) => p.iface)).size} interfaces.`}
            </div>
            {failing.length > 0 && (
              <Alert title={`${failing.length} failing`} severity="error" data-testid="fleet-failures">
                <ul>
                  {failing.map((p) => (
                    <li key={`${p.iface}/${p.direction}/${p.program.name}`}>
                      {p.program.name} on {p.iface} / {p.direction}: {failureOf(p.program)}
                    </li>
                  ))}
                </ul>
              </Alert>
            )}
          </Stack>
        )}
      </Card.Description>
      <Card.Actions>
        <Link to={`${PLUGIN_BASE_URL}/${ROUTES.Chains}?agent=${encodeURIComponent(agent.name)}`}>
          <Button variant="secondary" size="sm" icon="link">
            Chains
          </Button>
        </Link>
        <Button variant="secondary" size="sm" icon="sync" onClick={reload}>
          Refresh
        </Button>
      </Card.Actions>
    </Card>
  );
}

/** The Fleet page. */
export default function Fleet() {
  const { agents } = usePluginSettings();
  return (
    <PluginPage>
      <div data-testid="page-fleet">
        {agents.length === 0 ? <NoAgents /> : agents.map((a) => <AgentCard key={`${a.slot}-${a.name}`} agent={a} />)}
      </div>
    </PluginPage>
  );
}
