/**
 * Agents of a fleet: discovered from Prometheus (the active targets of the jobs that scrape l3af agents,
 * with their labels: `instance`, `host`, `job`, any relabelled ones) and/or a static list, and filtered
 * by the admin's allow list. The agent's REST API is not its metrics port: a target's API URL comes from
 * its `l3af_api_url` label when the scrape config sets one, else from the target's host with the
 * configured API port and scheme. Also the selection of a rollout's agents (by label, host pattern or
 * by name). Pure functions: the page fetches `/api/v1/targets` through the Prometheus data source.
 */

/** One agent the fleet knows of. */
export interface FleetAgent {
  /** Unique name (the static name, or the target's host:port). */
  name: string;
  /** Base URL of the agent's REST API. */
  url: string;
  /** Host name (the `host` label, else the target's host). */
  host: string;
  /** Prometheus labels of the target (static agents: none). */
  labels: Record<string, string>;
  source: 'prometheus' | 'static';
  /** Prometheus's view of the scrape ("up", "down", "unknown"); static: undefined. */
  health?: string;
  /** Whether the admin's allow list admits it: only allowed agents are ever called. */
  allowed: boolean;
}

/** The part of Prometheus's `/api/v1/targets` answer used here. */
export interface TargetsAnswer {
  status?: string;
  data?: { activeTargets?: Array<{ labels?: Record<string, string>; scrapeUrl?: string; health?: string }> };
}

export interface DiscoveryOptions {
  /** Jobs whose targets are l3af agents (regular expression, anchored; default `l3af.*`). */
  job?: string;
  /** REST API port when a target has no `l3af_api_url` label (default 53000, l3afd's). */
  apiPort?: number;
  /** REST API scheme (default http). */
  scheme?: 'http' | 'https';
}

/** l3af agents among Prometheus's active targets (not yet filtered by the allow list). */
export function agentsFromTargets(answer: TargetsAnswer, o: DiscoveryOptions = {}): Array<Omit<FleetAgent, 'allowed'>> {
  if (answer.status !== undefined && answer.status !== 'success') {
    throw new Error(`Prometheus answered status ${answer.status}`);
  }
  const job = new RegExp(`^(?:${o.job ?? 'l3af.*'})$`);
  const out = new Map<string, Omit<FleetAgent, 'allowed'>>();
  for (const t of answer.data?.activeTargets ?? []) {
    const labels = t.labels ?? {};
    if (!job.test(labels.job ?? '')) {
      continue;
    }
    const instance = labels.instance ?? (t.scrapeUrl ? new URL(t.scrapeUrl).host : '');
    if (instance === '') {
      continue;
    }
    const targetHost = hostOf(instance);
    const url = labels.l3af_api_url
      ? trimUrl(labels.l3af_api_url)
      : `${o.scheme ?? 'http'}://${bracket(targetHost)}:${o.apiPort ?? 53000}`;
    // one agent per API URL: the same agent scraped by two jobs is listed once
    if (!out.has(url)) {
      out.set(url, {
        name: instance,
        url,
        host: labels.host ?? targetHost,
        labels,
        source: 'prometheus',
        health: t.health ?? 'unknown',
      });
    }
  }
  return [...out.values()];
}

/**
 * The fleet: static agents first, then discovered ones not already listed (same API URL), each marked
 * allowed or not by the allow list (`patterns`: API URLs where `*` stands for one label of a host
 * name or one octet of an address, e.g. `http://10.1.*.*:53000`; the static list is always allowed: the admin typed it).
 */
export function fleetOf(
  statics: ReadonlyArray<{ name: string; url: string }>,
  discovered: ReadonlyArray<Omit<FleetAgent, 'allowed'>>,
  patterns: readonly string[]
): FleetAgent[] {
  const allow = patterns.map(patternRegExp);
  const out: FleetAgent[] = statics.map((a) => {
    const url = trimUrl(a.url);
    return { name: a.name, url, host: hostOf(new URL(url).host), labels: {}, source: 'static', allowed: true };
  });
  const urls = new Set(out.map((a) => a.url));
  const names = new Set(out.map((a) => a.name));
  for (const d of discovered) {
    if (urls.has(d.url)) {
      continue;
    }
    const name = names.has(d.name) ? d.url : d.name;
    names.add(name);
    urls.add(d.url);
    out.push({ ...d, name, allowed: allow.some((re) => re.test(d.url)) });
  }
  return out;
}

/** Problems with allow-list patterns (empty when they can be saved). */
export function validatePatterns(patterns: readonly string[]): string[] {
  const out: string[] = [];
  patterns.forEach((p, i) => {
    if (!/^https?:\/\/[A-Za-z0-9.*:[\]-]+:\d{1,5}$/.test(p)) {
      out.push(`pattern ${i + 1}: "${p}" is not scheme://host:port (a * stands for one label or octet of the host)`);
    } else if (/^https?:\/\/\*+:/.test(p)) {
      out.push(`pattern ${i + 1}: "${p}" allows every host: name the network (e.g. http://10.1.*.*:53000)`);
    }
  });
  return out;
}

/** How a rollout chooses its agents; every given criterion must hold. */
export interface AgentSelector {
  /** Label equalities (value may hold `*`). */
  labels?: Record<string, string>;
  /** Host name pattern (`*` = any run of characters). */
  host?: string;
  /** Explicit agent names. */
  names?: readonly string[];
}

/** The allowed agents the selector picks, in fleet order. */
export function selectAgents(fleet: readonly FleetAgent[], sel: AgentSelector): FleetAgent[] {
  const host = sel.host ? globRegExp(sel.host) : undefined;
  const labels = Object.entries(sel.labels ?? {}).map(([k, v]) => [k, globRegExp(v)] as const);
  const names = sel.names ? new Set(sel.names) : undefined;
  return fleet.filter(
    (a) =>
      a.allowed &&
      (!host || host.test(a.host)) &&
      labels.every(([k, re]) => a.labels[k] !== undefined && re.test(a.labels[k])) &&
      (!names || names.has(a.name))
  );
}

/** "host:port" or "[v6]:port" → the host. */
function hostOf(hostPort: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(hostPort);
  if (v6) {
    return v6[1];
  }
  return hostPort.replace(/:\d+$/, '');
}

function bracket(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function trimUrl(u: string): string {
  return u.replace(/\/+$/, '');
}

function globRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map(escapeRe).join('.*')}$`);
}

/** A `*` in an allow pattern stands for one part of the host (no dot, colon or slash): never another domain, port or path. */
function patternRegExp(p: string): RegExp {
  return new RegExp(`^${p.split('*').map(escapeRe).join('[A-Za-z0-9-]*')}$`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
