/**
 * Pure functions that turn a user's action on a chain into the agent request that performs it. Changes to a
 * program are sent as `update` with the host's complete desired state (the agent's update, as l3afd's, is the
 * whole state: interfaces it omits are stopped), built from what GET returned, without the live `status`.
 */
import {
  DIRECTIONS,
  type AddUpdateBody,
  type BpfProgram,
  type DeleteBody,
  type Direction,
  type GetInterface,
  type GetProgram,
  type MapArg,
  type ProgramArgs,
} from './types';

/** A program as a request may carry it: GET's program without `status`. */
export function toRequestProgram(p: GetProgram | BpfProgram): BpfProgram {
  const { status: _status, ...rest } = p as GetProgram;
  return rest;
}

/** The programs of one list in chain order (seq_id ascending, then name). */
export function ordered(list: GetProgram[] | null | undefined): GetProgram[] {
  return [...(list ?? [])].sort((a, b) => a.seq_id - b.seq_id || a.name.localeCompare(b.name));
}

/** A change to one program of an interface. */
export type ProgramChange =
  | { kind: 'admin_status'; value: 'enabled' | 'disabled' }
  | { kind: 'move'; by: -1 | 1 }
  | { kind: 'start_args'; value: ProgramArgs }
  | { kind: 'map_args'; value: MapArg[] | null };

/** Thrown when a change cannot be made (e.g. moving the first program up). */
export class ChangeError extends Error {}

/**
 * The update body that applies `change` to program `name` of `direction` on interface `doc`; every other
 * program of the interface is sent as it is.
 */
export function updateBody(
  doc: GetInterface,
  direction: Direction,
  name: string,
  change: ProgramChange
): AddUpdateBody {
  const lists: Partial<Record<Direction, BpfProgram[] | null>> = {};
  for (const d of DIRECTIONS) {
    const list = doc.bpf_programs[d];
    lists[d] = list === null ? null : ordered(list).map(toRequestProgram);
  }
  const list = lists[direction];
  const i = list?.findIndex((p) => p.name === name) ?? -1;
  if (!list || i < 0) {
    throw new ChangeError(`${name} is not in ${direction} of ${doc.iface}`);
  }
  const p = { ...list[i]! };
  switch (change.kind) {
    case 'admin_status':
      p.admin_status = change.value;
      break;
    case 'start_args':
      p.start_args = change.value;
      break;
    case 'map_args':
      p.map_args = change.value;
      break;
    case 'move': {
      const j = i + change.by;
      const other = list[j];
      if (!other) {
        throw new ChangeError(`${name} is already ${change.by < 0 ? 'first' : 'last'} in ${direction}`);
      }
      // Swap positions. Equal seq_ids (allowed when unique is not enforced) get distinct ones.
      const mine = p.seq_id ?? 0;
      const theirs = other.seq_id ?? 0;
      const [a, b] = mine === theirs ? (change.by < 0 ? [theirs, theirs + 1] : [theirs + 1, theirs]) : [theirs, mine];
      p.seq_id = a;
      list[j] = { ...other, seq_id: b };
      break;
    }
  }
  list[i] = p;
  return [{ host_name: doc.host_name, iface: doc.iface, ipv4_address: doc.ipv4_address, bpf_programs: lists }];
}

/**
 * The update body for the whole host: `body`'s interfaces as given, every other interface of `all` (GET of every
 * interface) as it is, without status — an update that named only one interface would stop the others.
 */
export function wholeHost(all: GetInterface[], body: AddUpdateBody): AddUpdateBody {
  const named = new Set(body.map((e) => e.iface));
  const others = all
    .filter((e) => !named.has(e.iface))
    .map((e) => {
      const lists: Partial<Record<Direction, BpfProgram[] | null>> = {};
      for (const d of DIRECTIONS) {
        const list = e.bpf_programs[d];
        lists[d] = list === null ? null : ordered(list).map(toRequestProgram);
      }
      return { host_name: e.host_name, iface: e.iface, ipv4_address: e.ipv4_address, bpf_programs: lists };
    });
  return [...body, ...others];
}

/** The add body for one program on an interface. */
export function addBody(hostName: string, iface: string, direction: Direction, program: BpfProgram): AddUpdateBody {
  return [{ host_name: hostName, iface, bpf_programs: { [direction]: [program] } }];
}

/** The delete body for one program. */
export function deleteBody(hostName: string, iface: string, direction: Direction, name: string): DeleteBody {
  return [{ host_name: hostName, iface, bpf_programs: { [direction]: [name] } }];
}

/** The next free seq_id at the end of a list. */
export function nextSeqId(list: GetProgram[] | null | undefined): number {
  return (list ?? []).reduce((m, p) => Math.max(m, p.seq_id), 0) + 1;
}

/** Value at `key` of map `map` in map_args (undefined when not listed). */
export function mapArgValue(args: MapArg[] | null | undefined, map: string, key: number): number | undefined {
  return args?.find((m) => m.name === map)?.args?.find((kv) => kv.key === key)?.value;
}

/** map_args with `map[key] = value` (other maps and keys kept). */
export function withMapArg(args: MapArg[] | null | undefined, map: string, key: number, value: number): MapArg[] {
  const out = (args ?? []).map((m) => ({ name: m.name, args: m.args ? m.args.map((kv) => ({ ...kv })) : null }));
  let m = out.find((x) => x.name === map);
  if (!m) {
    m = { name: map, args: [] };
    out.push(m);
  }
  const list = m.args ?? (m.args = []);
  const kv = list.find((x) => x.key === key);
  if (kv) {
    kv.value = value;
  } else {
    list.push({ key, value });
  }
  return out;
}

/** map_args with map `map` holding exactly `keys`, each with `value` (the "ports" shape of ratelimiting). */
export function withMapKeys(args: MapArg[] | null | undefined, map: string, keys: number[], value = 1): MapArg[] {
  const out = (args ?? []).filter((m) => m.name !== map).map((m) => ({ ...m }));
  out.push({ name: map, args: keys.map((key) => ({ key, value })) });
  return out;
}

/**
 * Parses map_args typed by a user as JSON; throws a ChangeError naming the first problem. Accepts `null`.
 */
export function parseMapArgs(text: string): MapArg[] | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ChangeError(`map_args is not JSON: ${(err as Error).message}`);
  }
  if (v === null) {
    return null;
  }
  if (!Array.isArray(v)) {
    throw new ChangeError(
      'map_args must be a list like [{"name": "rl_config_map", "args": [{"key": 0, "value": 2}]}] or null'
    );
  }
  v.forEach((m: unknown, i) => {
    const o = m as { name?: unknown; args?: unknown };
    if (typeof o !== 'object' || o === null || typeof o.name !== 'string') {
      throw new ChangeError(`map_args[${i}]: needs a "name" (string)`);
    }
    if (o.args !== null && !Array.isArray(o.args)) {
      throw new ChangeError(`map_args[${i}].args must be a list or null`);
    }
    ((o.args as unknown[] | null) ?? []).forEach((kv: unknown, k) => {
      const p = kv as { key?: unknown; value?: unknown };
      if (!Number.isInteger(p?.key) || !Number.isInteger(p?.value)) {
        throw new ChangeError(`map_args[${i}].args[${k}]: key and value must be integers`);
      }
    });
  });
  return v as MapArg[];
}

/** Parses start_args typed as JSON (an object of scalars, or null). */
export function parseArgs(text: string, field = 'start_args'): ProgramArgs {
  let v: unknown;
  try {
    v = JSON.parse(text === '' ? 'null' : text);
  } catch (err) {
    throw new ChangeError(`${field} is not JSON: ${(err as Error).message}`);
  }
  if (v === null) {
    return null;
  }
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new ChangeError(`${field} must be an object like {"verbose": true} or null`);
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (!['string', 'number', 'boolean'].includes(typeof x)) {
      throw new ChangeError(`${field}.${k} must be a string, number or boolean`);
    }
  }
  return v as ProgramArgs;
}
