/**
 * ratelimiting's drop events (`rl_events`, 72-byte little-endian records; programs/README.md)
 * decoded into JSON, and the switch that makes the program produce them (`rl_config_map[2]` =
 * events per window, 0 = none).
 */
import { join } from 'node:path';
import { BpfMap } from '../bpf/index.ts';

/** Size of one `rl_events` record. */
export const RL_EVENT_SIZE = 72;

/** A decoded drop event. */
export interface RatelimitingDrop {
  /** bpf_ktime_get_ns() of the drop (CLOCK_MONOTONIC), as a decimal string (can exceed 2^53). */
  readonly ts_ns: string;
  /** rl_drop_count_map[0] including this drop. */
  readonly drops: number;
  readonly window_ns: number;
  readonly rate: number;
  readonly ifindex: number;
  readonly sport: number;
  readonly dport: number;
  /** Outer VLAN id, 0 = untagged. */
  readonly vlan: number;
  readonly family: 4 | 6;
  readonly saddr: string;
  readonly daddr: string;
}

function ip(b: Buffer, off: number, family: number): string {
  if (family === 4) return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(off + i).toString(16));
  // shorten the longest run of zero groups (RFC 5952)
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Decodes one record; throws a RangeError on a record of the wrong size or family. */
export function decodeRatelimitingDrop(b: Buffer): RatelimitingDrop {
  if (b.length < RL_EVENT_SIZE) throw new RangeError(`rl_events record is ${b.length} bytes, expected ${RL_EVENT_SIZE}`);
  const family = b[38]!;
  if (family !== 4 && family !== 6) throw new RangeError(`rl_events record has family ${family}`);
  return {
    ts_ns: b.readBigUInt64LE(0).toString(),
    drops: Number(b.readBigUInt64LE(8)),
    window_ns: Number(b.readBigUInt64LE(16)),
    rate: b.readUInt32LE(24),
    ifindex: b.readUInt32LE(28),
    sport: b.readUInt16LE(32),
    dport: b.readUInt16LE(34),
    vlan: b.readUInt16LE(36),
    family,
    saddr: ip(b, 40, family),
    daddr: ip(b, 56, family),
  };
}

/** Sets `rl_config_map[2]` (drop events per window) of the program pinned under `mapPinDir`. */
export function setRatelimitingEvents(mapPinDir: string, perWindow: number): void {
  using map = BpfMap.openPinned(join(mapPinDir, 'rl_config_map'));
  const key = Buffer.alloc(4);
  key.writeUInt32LE(2);
  const value = Buffer.alloc(8);
  value.writeBigUInt64LE(BigInt(perWindow));
  map.update(key, value);
}

/** `rl_window_map[3]`: drop events the program could not write because rl_events was full. */
export function ratelimitingEventsLost(mapPinDir: string): number {
  using map = BpfMap.openPinned(join(mapPinDir, 'rl_window_map'));
  const key = Buffer.alloc(4);
  key.writeUInt32LE(3);
  const v = map.lookup(key);
  return v ? Number(v.readBigUInt64LE(0)) : 0;
}
