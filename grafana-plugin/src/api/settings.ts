/**
 * The plugin's settings: a list of agents, the admin's allow list. Each plain agent is reached through one of
 * the plugin's proxy routes (`agent0` .. `agent255` in plugin.json, whose URL is `{{ .JsonData.agentNUrl }}`:
 * only an admin saves jsonData, so only admitted agents are reachable); an agent behind a Grafana data source
 * (client certificate, or beyond the route slots) takes no slot, so the list itself has no limit. Grafana's
 * route URLs see only jsonData, never the request: that is why a route per slot and not one route with a
 * parameter (see the README, "Many agents").
 */
import pluginJson from '../plugin.json';

/** How many agents the plugin proxy can address (plugin.json declares one GET and one POST route per slot). */
export const MAX_AGENTS = 256;

/** One configured agent. */
export interface AgentSetting {
  /** Display name (unique). */
  name: string;
  /** Base URL of the agent's REST API as Grafana's server reaches it, e.g. http://10.0.0.5:53000. */
  url: string;
  /**
   * Optional: uid of a Grafana data source whose proxy reaches this agent with a client certificate
   * (mTLS). Grafana's app-plugin proxy has no client-certificate option, its data source proxy has.
   */
  datasourceUid?: string;
  /** Host name (discovery's `host` label, or the target's host), for selecting agents by host pattern. */
  host?: string;
  /** The Prometheus labels the agent was discovered with, for selecting agents by label. */
  labels?: Record<string, string>;
}

/** jsonData of the app: the list, plus one flat `agentNUrl` per slot for the proxy routes. */
export interface AppJsonData {
  agents?: AgentSetting[];
  /** Uid of the Prometheus data source of the Ratelimiting page (default: Grafana's default data source). */
  prometheusUid?: string;
  /** The admin's allow list for discovered agents: API URL patterns (see fleet/discovery.ts `fleetOf`). */
  allowPatterns?: string[];
  [slotUrl: `agent${number}Url`]: string | undefined;
}

/** An agent together with its route slot (-1: reached through its data source). */
export interface AgentRef extends AgentSetting {
  slot: number;
}

/** The agents of the settings, each plain one with its slot (its position among the plain ones). */
export function agentsOf(jsonData: AppJsonData | undefined): AgentRef[] {
  let next = 0;
  return (jsonData?.agents ?? [])
    .map((a) => ({ ...a, slot: a.datasourceUid ? -1 : next++ }))
    .filter((a) => a.slot < MAX_AGENTS);
}

/** Problems with a list of agents (empty when it can be saved). */
export function validateAgents(agents: AgentSetting[]): string[] {
  const out: string[] = [];
  const proxied = agents.filter((a) => !a.datasourceUid).length;
  if (proxied > MAX_AGENTS) {
    out.push(
      `at most ${MAX_AGENTS} agents without a data source (got ${proxied}); reach the others through data sources`
    );
  }
  const seen = new Set<string>();
  agents.forEach((a, i) => {
    const where = `agent ${i + 1}`;
    if (a.name.trim() === '') {
      out.push(`${where}: name is required`);
    } else if (seen.has(a.name)) {
      out.push(`${where}: name "${a.name}" is used twice`);
    }
    seen.add(a.name);
    let url: URL | undefined;
    try {
      url = new URL(a.url);
    } catch {
      out.push(`${where}: URL "${a.url}" is not a URL (e.g. http://10.0.0.5:53000)`);
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') {
      out.push(`${where}: URL must start with http:// or https://`);
    }
    if (url && url.pathname !== '/' && url.pathname !== '') {
      out.push(`${where}: URL must not have a path (the plugin appends /l3af/...)`);
    }
  });
  return out;
}

/** The jsonData to save for a list of agents (keeps other keys; clears slots no longer used). */
export function toJsonData(agents: AgentSetting[], previous: AppJsonData = {}): AppJsonData {
  const out: AppJsonData = { ...previous, agents: agents.map((a) => ({ ...a, url: a.url.replace(/\/+$/, '') })) };
  const plain = (out.agents ?? []).filter((a) => !a.datasourceUid);
  for (let i = 0; i < MAX_AGENTS; i++) {
    out[`agent${i}Url`] = plain[i]?.url;
  }
  return out;
}

/** URL prefix (relative to Grafana's root) through which the browser reaches an agent. */
export function agentBaseUrl(agent: AgentRef): string {
  if (agent.datasourceUid) {
    return `api/datasources/proxy/uid/${encodeURIComponent(agent.datasourceUid)}`;
  }
  return `api/plugin-proxy/${pluginJson.id}/agent${agent.slot}`;
}
