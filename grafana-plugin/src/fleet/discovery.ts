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
    if (!/^https?:\/\/[A-Za-z0-9.*:[\]-]+:(?:\d{1,5}|\*)$/.test(p)) {
      out.push(
        `pattern ${i + 1}: "${p}" is not scheme://host:port (a * stands for one label or octet of the host, or for the port)`
      );
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
  /** Agent name pattern (`*` = any run of characters). */
  name?: string;
}

/** Anything a selector can pick: a discovered agent, or a configured one (whose host and labels are optional). */
export interface Selectable {
  name: string;
  url: string;
  host?: string;
  labels?: Record<string, string>;
  /** false: never picked (not admitted by the allow list). */
  allowed?: boolean;
}

/** The allowed agents the selector picks, in list order (an agent without a host is matched by its URL's host). */
export function selectAgents<T extends Selectable>(fleet: readonly T[], sel: AgentSelector): T[] {
  const host = sel.host ? globRegExp(sel.host) : undefined;
  const labels = Object.entries(sel.labels ?? {}).map(([k, v]) => [k, globRegExp(v)] as const);
  const names = sel.names ? new Set(sel.names) : undefined;
  const name = sel.name ? globRegExp(sel.name) : undefined;
  return fleet.filter(
    (a) =>
      a.allowed !== false &&
      (!host || host.test(a.host ?? hostOf(new URL(a.url).host))) &&
      labels.every(([k, re]) => a.labels?.[k] !== undefined && re.test(a.labels[k])) &&
      (!names || names.has(a.name)) &&
      (!name || name.test(a.name))
  );
}

/**
 * A selector from the rollout form's fields: a name pattern, a host pattern (`*` = any run of characters, empty =
 * any) and label equalities `key=value, key2=value2` (values may hold `*`). Throws on a malformed label.
 */
export function parseSelector(namePattern: string, hostPattern: string, labelsText: string): AgentSelector {
  const labels: Record<string, string> = {};
  for (const part of labelsText.split(',').map((x) => x.trim())) {
    if (part === '') {
      continue;
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(part);
    if (!m) {
      throw new Error(`label "${part}" is not key=value`);
    }
    labels[m[1]] = m[2];
  }
  return {
    ...(namePattern.trim() && namePattern.trim() !== '*' ? { name: namePattern.trim() } : {}),
    ...(hostPattern.trim() && hostPattern.trim() !== '*' ? { host: hostPattern.trim() } : {}),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
  };
}

/** The static list as typed: one agent a line, `name url` or just `url` (then the name is host:port). */
export function parseStaticList(text: string): Array<{ name: string; url: string }> {
  const out: Array<{ name: string; url: string }> = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) {
      return;
    }
    const parts = line.split(/\s+/);
    const url = parts.length === 1 ? parts[0] : parts[1];
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`line ${i + 1}: "${url}" is not a URL (e.g. http://10.0.0.5:53000)`);
    }
    if (parts.length > 2 || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      throw new Error(`line ${i + 1}: write "name http://host:port" or "http://host:port"`);
    }
    out.push({ name: parts.length === 1 ? u.host : parts[0], url: trimUrl(url) });
  });
  return out;
}

/** An agent as the app's settings keep it once adopted: its host and labels stay for selection. */
export interface AdoptedAgent {
  name: string;
  url: string;
  host?: string;
  labels?: Record<string, string>;
}

/**
 * The settings' agent list after adopting `chosen`: agents already listed (same URL) are kept as they are, the
 * others appended with their host and labels (a name already used gets the API URL's host:port instead). An agent
 * the allow list does not admit is refused: the allow list, not the discovery, decides what the proxy may reach.
 */
export function adopt<T extends AdoptedAgent>(
  existing: readonly T[],
  chosen: readonly FleetAgent[]
): Array<T | AdoptedAgent> {
  const refused = chosen.filter((a) => !a.allowed);
  if (refused.length > 0) {
    throw new Error(`not admitted by the allow list: ${refused.map((a) => a.url).join(', ')}`);
  }
  const out: Array<T | AdoptedAgent> = [...existing];
  const urls = new Set(existing.map((a) => trimUrl(a.url)));
  const names = new Set(existing.map((a) => a.name));
  for (const a of chosen) {
    if (urls.has(a.url)) {
      continue;
    }
    const name = names.has(a.name) ? new URL(a.url).host : a.name;
    const labels = Object.fromEntries(Object.entries(a.labels).filter(([k]) => !k.startsWith('__')));
    out.push({ name, url: a.url, host: a.host, ...(Object.keys(labels).length > 0 ? { labels } : {}) });
    urls.add(a.url);
    names.add(name);
  }
  return out;
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
