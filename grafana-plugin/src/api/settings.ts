/**
 * The plugin's settings: a list of agents. Each agent is reached through one of the plugin's proxy routes
 * (`agent0` .. `agent15` in plugin.json, whose URL is `{{ .JsonData.agentNUrl }}`), or — for agents that want
 * a client certificate — through a Grafana data source whose proxy carries TLS client authentication.
 */
import pluginJson from '../plugin.json';

/** How many agents one Grafana can address (plugin.json declares one GET and one POST route per slot). */
export const MAX_AGENTS = 16;

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
}

/** jsonData of the app: the list, plus one flat `agentNUrl` per slot for the proxy routes. */
export interface AppJsonData {
  agents?: AgentSetting[];
  /** Uid of the Prometheus data source of the Ratelimiting page (default: Grafana's default data source). */
  prometheusUid?: string;
  [slotUrl: `agent${number}Url`]: string | undefined;
}

/** An agent together with its route slot. */
export interface AgentRef extends AgentSetting {
  slot: number;
}

/** The agents of the settings, each with its slot (position in the list). */
export function agentsOf(jsonData: AppJsonData | undefined): AgentRef[] {
  return (jsonData?.agents ?? []).slice(0, MAX_AGENTS).map((a, slot) => ({ ...a, slot }));
}

/** Problems with a list of agents (empty when it can be saved). */
export function validateAgents(agents: AgentSetting[]): string[] {
  const out: string[] = [];
  if (agents.length > MAX_AGENTS) {
    out.push(`at most ${MAX_AGENTS} agents (got ${agents.length})`);
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
  for (let i = 0; i < MAX_AGENTS; i++) {
    const a = out.agents?.[i];
    out[`agent${i}Url`] = a && !a.datasourceUid ? a.url : undefined;
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
