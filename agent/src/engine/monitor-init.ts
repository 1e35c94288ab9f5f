/**
 * l3afd zero-initialises the monitored maps of a program when it loads it (InitialiseMetricMaps):
 * programs such as L3AF's ratelimiting look their counters up and pass the packet when the key is
 * missing, so without this they never count nor limit. Here every `monitor_maps` key (l3afd writes
 * key 0 only, whatever the key says) gets a zero value when it has none, with the map's own key and
 * value widths; a value already there (kept maps of a replaced program, map_args) is left alone.
 */
import { BpfError } from '../bpf/index.ts';
import type { MonitorMap } from '../payload/index.ts';
import { MapArgsError, type MapArgsTarget } from './map-args.ts';
import { messageOf } from '../error-message.ts';

/** Encodes a non-negative integer key of `size` bytes (host order), or undefined when it does not fit. */
function encodeKey(key: number, size: number): Buffer | undefined {
  if (!Number.isInteger(key) || key < 0 || size < 1) return undefined;
  const b = Buffer.alloc(size);
  let v = BigInt(key);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  for (let i = 0; i < size; i++) {
    b[le ? i : size - 1 - i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return v === 0n ? b : undefined;
}

/** What {@link initMonitorMaps} did, for the log. */
export interface MonitorInitReport {
  /** `map[key]` entries written with zero. */
  readonly written: string[];
  /** Monitored maps the program does not have (l3afd logs and goes on). */
  readonly missing: string[];
}

/**
 * Writes a zero value under every monitored key that has none. Maps the program lacks are
 * reported, not refused (as l3afd); a write the kernel refuses throws, naming the map.
 */
export function initMonitorMaps(target: MapArgsTarget, monitorMaps: readonly MonitorMap[] | null | undefined, who: string): MonitorInitReport {
  const written: string[] = [];
  const missing: string[] = [];
  for (const m of monitorMaps ?? []) {
    const key = m.key;
    if (typeof key !== 'number') continue; // typed keys (l3af / L3AF's open work): read, never initialised
    let map;
    try {
      map = target.open(m.name);
    } catch {
      missing.push(m.name);
      continue;
    }
    try {
      if (map.type === 'prog_array' || map.type === 'ringbuf' || map.type === 'perf_event_array') continue;
      const k = encodeKey(key, map.keySize);
      if (k === undefined) throw new MapArgsError(`${who}: monitor_maps key ${key} does not fit map '${m.name}' (${map.keySize}-byte keys)`);
      if (map.lookup(k) !== undefined) continue;
      try {
        map.update(k, Buffer.alloc(map.valueSize), 'noexist');
        written.push(`${m.name}[${key}]`);
      } catch (err) {
        if (err instanceof BpfError && err.errno === 17) continue; // the program wrote it meanwhile
        throw new MapArgsError(`${who}: initialising monitored map '${m.name}' key ${key} failed: ${messageOf(err)}`, { cause: err });
      }
    } finally {
      map.close();
    }
  }
  return { written, missing };
}
