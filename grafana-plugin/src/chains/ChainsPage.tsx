/**
 * Chains: per agent, interface and direction, the programs in chain order with their status, version and
 * kernel id (and whether the kernel really links them), with actions: add, delete, enable/disable, move
 * up/down, edit start_args/map_args. Every action is confirmed, shows progress, and then the agent's
 * per-program result or its error. This file is the page (agent and interface pickers); the interface's
 * chains are InterfaceView, each chain a ChainTable, the actions useChainActions.
 */
import React, { useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { PluginPage } from '@grafana/runtime';
import { Alert, Button, Field, Input, LoadingPlaceholder, RadioButtonGroup, Stack } from '@grafana/ui';
import { AgentClient } from '../api/client';
import { AgentErrorView } from '../components/AgentErrorView';
import { AgentPicker, NoAgents } from '../components/AgentPicker';
import { usePluginSettings } from '../components/PluginContext';
import { useAsync } from '../hooks/useAsync';
import { InterfaceView } from './InterfaceView';

/** The Chains page. */
export default function Chains() {
  const { agents } = usePluginSettings();
  const [params, setParams] = useSearchParams();
  const agent = agents.find((a) => a.name === params.get('agent')) ?? agents[0];
  const iface = params.get('iface') ?? '';
  const [other, setOther] = useState('');
  const client = agent ? new AgentClient(agent) : undefined;
  const all = useAsync(async () => (client ? client.configs() : []), [agent?.name, agent?.url]);
  const host = useAsync(
    async () => (client ? client.host().catch(() => undefined) : undefined),
    [agent?.name, agent?.url]
  );
  const set = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    next.set(k, v);
    if (k === 'agent') {
      next.delete('iface');
    }
    setParams(next, { replace: true });
  };
  const withPrograms = (all.value ?? []).map((d) => d.iface);
  const hostIfaces = (host.value?.interfaces ?? []).filter((i) => !i.internal).map((i) => i.name);
  const ifaces = [...new Set([...withPrograms, ...hostIfaces, ...(iface ? [iface] : [])])];

  return (
    <PluginPage>
      <div data-testid="page-chains">
        {!agent ? (
          <NoAgents />
        ) : (
          <Stack direction="column" gap={2}>
            <Field label="Agent">
              <AgentPicker agents={agents} value={agent.name} onChange={(v) => set('agent', v)} />
            </Field>
            {all.error ? (
              <AgentErrorView error={all.error} />
            ) : all.loading && !all.value ? (
              <LoadingPlaceholder text={`Asking ${agent.name}…`} />
            ) : (
              <>
                <Field
                  label="Interface"
                  description={
                    withPrograms.length === 0
                      ? `${agent.name} runs no programs yet; pick an interface to add one.`
                      : undefined
                  }
                >
                  <Stack direction="row" gap={1}>
                    {ifaces.length > 0 && (
                      <div data-testid="iface-picker">
                        <RadioButtonGroup
                          options={ifaces.map((n) => ({ label: withPrograms.includes(n) ? `${n} ●` : n, value: n }))}
                          value={iface}
                          onChange={(v) => set('iface', v)}
                        />
                      </div>
                    )}
                    <Input
                      data-testid="iface-other"
                      placeholder="other interface"
                      width={20}
                      value={other}
                      onChange={(e) => setOther(e.currentTarget.value)}
                      onKeyDown={(e) => e.key === 'Enter' && other.trim() && set('iface', other.trim())}
                    />
                    <Button
                      variant="secondary"
                      data-testid="iface-other-go"
                      disabled={!other.trim()}
                      onClick={() => set('iface', other.trim())}
                    >
                      Open
                    </Button>
                  </Stack>
                </Field>
                {iface ? (
                  <InterfaceView agent={agent} iface={iface} onChanged={all.reload} />
                ) : (
                  <Alert title="Pick an interface" severity="info" data-testid="pick-iface">
                    {withPrograms.length === 0
                      ? `${agent.name} runs no programs.`
                      : `Interfaces with programs: ${withPrograms.join(', ')}.`}
                  </Alert>
                )}
              </>
            )}
          </Stack>
        )}
      </div>
    </PluginPage>
  );
}
