/**
 * Programs this browser session disabled. The agent's update, as l3afd's, stops a program whose admin_status is
 * disabled and drops it from GET; the Chains page keeps what it disabled here (sessionStorage) so it can show it
 * greyed out and enable it again (an update that lists it enabled loads it anew).
 */
import { DIRECTIONS, type Direction, type GetInterface, type GetProgram } from './types';

const KEY = 'l3af-chains-app/parked';

type Store = Record<string, GetProgram>;

function read(): Store {
  try {
    return JSON.parse(globalThis.sessionStorage?.getItem(KEY) ?? '{}') as Store;
  } catch {
    return {};
  }
}

function write(s: Store): void {
  try {
    globalThis.sessionStorage?.setItem(KEY, JSON.stringify(s));
  } catch {
    // storage full or unavailable: the program is simply not offered again
  }
}

function keyOf(agent: string, iface: string, direction: Direction, name: string): string {
  return JSON.stringify([agent, iface, direction, name]);
}

/** Remembers `p` (as disabled) after the agent dropped it. */
export function park(agent: string, iface: string, direction: Direction, p: GetProgram): void {
  const s = read();
  const { status: _status, ...rest } = p;
  s[keyOf(agent, iface, direction, p.name)] = { ...rest, admin_status: 'disabled' } as GetProgram;
  write(s);
}

/** Forgets `name` (enabled again, or deleted). */
export function unpark(agent: string, iface: string, direction: Direction, name: string): void {
  const s = read();
  delete s[keyOf(agent, iface, direction, name)];
  write(s);
}

/** `doc` with the programs this session disabled on it added back (disabled), unless GET lists them again. */
export function withParked(agent: string, doc: GetInterface): GetInterface {
  const s = read();
  const lists = { ...doc.bpf_programs };
  for (const d of DIRECTIONS) {
    const live = lists[d] ?? [];
    const extra = Object.entries(s)
      .filter(([k]) => {
        const [a, i, dir] = JSON.parse(k) as string[];
        return a === agent && i === doc.iface && dir === d;
      })
      .map(([, p]) => p)
      .filter((p) => !live.some((x) => x.name === p.name));
    if (extra.length > 0) {
      lists[d] = [...live, ...extra];
    }
  }
  return { ...doc, bpf_programs: lists };
}
