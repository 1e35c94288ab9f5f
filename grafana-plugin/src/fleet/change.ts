/**
 * What a rollout writes to each agent, built per agent: a payload typed once with every element's `host_name`
 * set to the agent's own host name (the agent refuses a body for another host), or a rate/ports change of the
 * ratelimiting program built from the agent's own desired state (GET), so nothing else on the host changes and
 * the write is conditional on exactly the state it was built from (the GET's ETag). Pure functions plus the two
 * request builders over a {@link Send}.
 */
import { ChangeError, ordered, toRequestProgram } from '../api/chain-ops';
import { RATELIMITING_SETTINGS } from '../api/catalogue';
import { applySettings, parseSetting } from '../api/package-settings';
import { DIRECTIONS, type BpfProgram, type Direction, type GetInterface } from '../api/types';
import type { Send } from './agent-port';
import type { AgentRequest } from './rollout';

type Element = { host_name?: unknown; iface?: unknown } & Record<string, unknown>;

/** A copy of an add/update/delete body with every element's `host_name` set to `host`. */
export function withHostName(body: unknown, host: string): unknown[] {
  if (!Array.isArray(body)) {
    throw new ChangeError('the payload must be a JSON list of interfaces ([{"host_name": …, "iface": …}])');
  }
  return body.map((e: unknown, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) {
      throw new ChangeError(`payload[${i}] is not an object`);
    }
    return { ...(e as Element), host_name: host };
  });
}

/** A rate and/or ports change of the ratelimiting program; an undefined field is kept as each agent has it. */
export interface RatePortsChange {
  rate?: number;
  ports?: number[];
}

const RATE = RATELIMITING_SETTINGS.find((s) => s.id === 'rate')!;
const PORTS = RATELIMITING_SETTINGS.find((s) => s.id === 'ports')!;

/** Parses the form's two fields (empty = keep); throws a ChangeError when both are empty or one is invalid. */
export function parseRatePorts(rateText: string, portsText: string): RatePortsChange {
  const out: RatePortsChange = {};
  if (rateText.trim() !== '') {
    out.rate = parseSetting(RATE, rateText.trim()) as number;
  }
  if (portsText.trim() !== '') {
    const ports = parseSetting(PORTS, portsText) as number[];
    if (ports.length === 0) {
      throw new ChangeError('ports: name at least one port (or leave the field empty to keep each agent’s)');
    }
    out.ports = [...new Set(ports)].sort((a, b) => a - b);
  }
  if (out.rate === undefined && out.ports === undefined) {
    throw new ChangeError('give a rate, ports or both');
  }
  return out;
}

/**
 * The whole-host update body (every interface of `docs`, GET's answer without status) with the ratelimiting
 * program's rate and/or ports changed wherever it runs, and one summary line per changed program. Throws a
 * ChangeError when the agent runs no ratelimiting program (nothing to change: the rollout shows it as a failed
 * dry run).
 */
export function ratePortsBody(
  docs: readonly GetInterface[],
  change: RatePortsChange,
  program = 'ratelimiting'
): { body: unknown[]; summary: string[] } {
  const summary: string[] = [];
  let found = 0;
  const body = docs.map((doc) => {
    const lists: Partial<Record<Direction, BpfProgram[] | null>> = {};
    for (const d of DIRECTIONS) {
      const list = doc.bpf_programs[d];
      lists[d] =
        list === null || list === undefined
          ? null
          : ordered(list).map((p) => {
              const req = toRequestProgram(p);
              if (req.name !== program) {
                return req;
              }
              found++;
              const texts = {
                rate: String(change.rate ?? currentRate(req) ?? ''),
                ports: (change.ports ?? currentPorts(req)).join(','),
              };
              const settings = RATELIMITING_SETTINGS.filter((s) =>
                s.id === 'rate' ? change.rate !== undefined : change.ports !== undefined
              );
              const r = applySettings(settings, texts, req.map_args, req.map_args ?? null);
              summary.push(...r.summary.map((l) => `${doc.iface} ${d} ${program} ${l}`));
              return { ...req, map_args: r.map_args };
            });
    }
    return { host_name: doc.host_name, iface: doc.iface, ipv4_address: doc.ipv4_address, bpf_programs: lists };
  });
  if (found === 0) {
    throw new ChangeError(`no ${program} program on this agent (nothing to change)`);
  }
  if (summary.length === 0) {
    summary.push(`${program}: already so (no change)`);
  }
  return { body, summary };
}

function currentRate(p: BpfProgram): number | undefined {
  return p.map_args?.find((m) => m.name === RATE.map)?.args?.find((kv) => kv.key === (RATE.key ?? 0))?.value;
}

function currentPorts(p: BpfProgram): number[] {
  return (p.map_args?.find((m) => m.name === PORTS.map)?.args ?? []).map((kv) => kv.key);
}

/** Why an answer is not a 200, in a line. */
function failure(what: string, r: { status: number; data: unknown }): Error {
  const d = r.data as { error?: unknown; message?: unknown } | undefined;
  const why = typeof d?.error === 'string' ? d.error : typeof d?.message === 'string' ? d.message : '';
  return new Error(`${what}: HTTP ${r.status}${why ? ` ${why}` : ''}`);
}

/**
 * The request builder of a rate/ports change: reads the agent's desired state (GET /l3af/configs/v1) and builds
 * the update from it; the request carries the GET's ETag, so a state that changes before the dry run is caught.
 */
export function ratePortsRequests(send: Send, change: RatePortsChange): (agent: string) => Promise<AgentRequest> {
  return async (agent) => {
    const r = await send(agent, { method: 'GET', path: '/l3af/configs/v1' });
    if (r.status !== 200 || !Array.isArray(r.data)) {
      throw failure('reading the desired state', r);
    }
    const { body, summary } = ratePortsBody(r.data as GetInterface[], change);
    return { route: 'update', body, summary, ...(r.headers.etag ? { etag: r.headers.etag } : {}) };
  };
}

/**
 * The request builder of a payload typed once: each agent gets it with its own `host_name` (its `GET /l3af/host`
 * answer; `fallback(agent)` — e.g. the discovered host label — when the agent has no such route).
 */
export function payloadRequests(
  send: Send,
  route: AgentRequest['route'],
  body: unknown,
  fallback: (agent: string) => string | undefined = () => undefined
): (agent: string) => Promise<AgentRequest> {
  withHostName(body, ''); // the payload's shape, checked once before any agent is called
  return async (agent) => {
    const r = await send(agent, { method: 'GET', path: '/l3af/host' });
    const reported = r.status === 200 ? (r.data as { hostname?: unknown } | undefined)?.hostname : undefined;
    const host = typeof reported === 'string' && reported !== '' ? reported : fallback(agent);
    if (host === undefined) {
      throw failure('reading the host name (GET /l3af/host)', r);
    }
    return { route, body: withHostName(body, host), summary: [`host_name ${host}`] };
  };
}
