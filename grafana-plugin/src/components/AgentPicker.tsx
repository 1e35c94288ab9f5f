/** Choice of one configured agent (kept in the page URL as ?agent=<name>). */
import React from 'react';
import { Alert, RadioButtonGroup } from '@grafana/ui';
import type { AgentRef } from '../api/settings';
import { PLUGIN_ID } from '../constants';

/** The message for an app without agents. */
export function NoAgents() {
  return (
    <Alert title="No agents configured" severity="info" data-testid="no-agents">
      Add the l3af agents this Grafana should reach on the app&apos;s configuration page (
      <a href={`/plugins/${PLUGIN_ID}`}>Administration → Plugins → l3af chains</a>): a name and the URL of each
      agent&apos;s REST API, e.g. http://10.0.0.5:53000.
    </Alert>
  );
}

export function AgentPicker({
  agents,
  value,
  onChange,
}: {
  agents: AgentRef[];
  value?: string;
  onChange: (name: string) => void;
}) {
  return (
    <div data-testid="agent-picker">
      <RadioButtonGroup
        options={agents.map((a) => ({ label: a.name, value: a.name }))}
        value={value}
        onChange={onChange}
      />
    </div>
  );
}
