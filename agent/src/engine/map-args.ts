/**
 * `map_args`: l3afd's integer key → value writes into the maps of a loaded program, with
 * "replace" semantics per named map. Each key and value is encoded with the map's own key and
 * value width (1, 2, 4 or 8 bytes, host order). Keys the payload does not list are deleted from
 * hash maps and set to 0 in array maps (whose slots cannot be deleted; l3afd fails there).
 * Everything is checked before the first write, and a write the kernel refuses restores every
 * named map to what it held before, so a failed call changes nothing.
 */
import { join } from 'node:path';
import { BpfMap, uint } from '../bpf/index.ts';
import type { MapArg } from '../payload/index.ts';
import { messageOf } from '../error-message.ts';

/** A map_args problem: names the program, the map and what is wrong. */
export class MapArgsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MapArgsError';
  }
}

const HASH_TYPES = new Set<string>(['hash', 'lru_hash', 'percpu_hash', 'lru_percpu_hash']);
const ARRAY_TYPES = new Set<string>(['array', 'percpu_array']);
const MAP_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface Plan {
  readonly name: string;
  readonly map: BpfMap;
  readonly hash: boolean;
  readonly writes: Array<[Buffer, Buffer]>;
  readonly keep: Set<string>;
}

/** Encodes `v` as an unsigned integer of `size` bytes (negative values as two's complement). */
function encodeInt(v: number, size: number, what: string): Buffer {
  const bits = BigInt(size * 8);
  const big = BigInt(v);
  const max = (1n << bits) - 1n;
  const min = -(1n << (bits - 1n));
  if (big > max || big < min) throw new MapArgsError(`${what} ${v} does not fit in ${size} byte${size === 1 ? '' : 's'}`);
  return uint(size).encode(BigInt.asUintN(size * 8, big));
}

function isZero(b: Buffer): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/** Where map_args find the program's maps: by name (each open is a new fd, closed here). */
export interface MapArgsTarget {
  names(): string[];
  open(name: string): BpfMap;
}

/** The maps pinned in a program's map directory (`listing` lists a directory's pins). */
export function mapsInDir(mapDir: string, listing: (dir: string) => string[]): MapArgsTarget {
  return { names: () => listing(mapDir), open: (name) => BpfMap.openPinned(join(mapDir, name)) };
}

/**
 * Writes `mapArgs` into a program's maps. `who` names the program in errors. Every write is
 * checked first; if the kernel refuses one, every named map is restored.
 */
export function applyMapArgs(target: MapArgsTarget, mapArgs: readonly MapArg[] | null, who: string): void {
  if (!mapArgs || mapArgs.length === 0) return;
  const plans: Plan[] = [];
  try {
    for (const arg of mapArgs) {
      if (!MAP_NAME.test(arg.name)) throw new MapArgsError(`${who}: map_args name '${arg.name}' is not a map name`);
      let map: BpfMap;
      try {
        map = target.open(arg.name);
      } catch (err) {
        const names = target.names();
        throw new MapArgsError(`${who}: map_args names map '${arg.name}', which the program does not have (its maps: ${names.length > 0 ? names.join(', ') : 'none'})`, { cause: err });
      }
      const plan: Plan = { name: arg.name, map, hash: HASH_TYPES.has(map.type), writes: [], keep: new Set() };
      plans.push(plan);
      if (!plan.hash && !ARRAY_TYPES.has(map.type)) {
        throw new MapArgsError(`${who}: map '${arg.name}' is a ${map.type} map; map_args writes only hash and array maps`);
      }
      for (const [what, size] of [['key', map.keySize], ['value', map.valueSize]] as const) {
        if (![1, 2, 4, 8].includes(size)) throw new MapArgsError(`${who}: map '${arg.name}' has ${size}-byte ${what}s; map_args writes 1-, 2-, 4- or 8-byte integers`);
      }
      const args = arg.args ?? [];
      if (plan.hash && args.length > map.maxEntries) {
        throw new MapArgsError(`${who}: map '${arg.name}' holds at most ${map.maxEntries} entries, map_args lists ${args.length}`);
      }
      for (const kv of args) {
        if (!plan.hash && (kv.key < 0 || kv.key >= map.maxEntries)) {
          throw new MapArgsError(`${who}: key ${kv.key} is outside array map '${arg.name}' (0..${map.maxEntries - 1})`);
        }
        const k = encodeInt(kv.key, map.keySize, `${who}: map '${arg.name}': key`);
        const v = encodeInt(kv.value, map.valueSize, `${who}: map '${arg.name}': value for key ${kv.key}`);
        plan.writes.push([k, v]);
        plan.keep.add(k.toString('hex'));
      }
    }
    const snapshots = plans.map((p) => p.map.entries());
    try {
      for (const p of plans) {
        for (const [k, v] of p.writes) p.map.update(k, v);
        for (const [k, v] of p.map.entries()) {
          if (p.keep.has(k.toString('hex'))) continue;
          if (p.hash) p.map.delete(k);
          else if (!isZero(v)) p.map.update(k, Buffer.alloc(p.map.valueSize));
        }
      }
    } catch (err) {
      plans.forEach((p, i) => restore(p, snapshots[i] ?? []));
      throw new MapArgsError(`${who}: writing map_args failed (maps restored): ${messageOf(err)}`, { cause: err });
    }
  } finally {
    for (const p of plans) p.map.close();
  }
}

function restore(p: Plan, snapshot: Array<[Buffer, Buffer]>): void {
  try {
    if (p.hash) {
      const had = new Set(snapshot.map(([k]) => k.toString('hex')));
      for (const k of [...p.map.keys()]) if (!had.has(k.toString('hex'))) p.map.delete(k);
    }
    for (const [k, v] of snapshot) p.map.update(k, v);
  } catch {
    // best effort: the original error is the one reported
  }
}
