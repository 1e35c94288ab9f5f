/**
 * The identity of a chained program: interface, direction and name. One constructor and one
 * formatter ("iface/direction/name", the supervisor's and the runtime table's key), one parser.
 */
import type { ChainDirection } from '../chain/index.ts';

export interface ProgramKey {
  readonly iface: string;
  readonly direction: ChainDirection;
  readonly name: string;
}

export function programKey(iface: string, direction: ChainDirection, name: string): ProgramKey {
  return { iface, direction, name };
}

/** "iface/direction/name" (interface and program names never hold a '/': the payload schema refuses it). */
export function formatKey(k: ProgramKey): string {
  return `${k.iface}/${k.direction}/${k.name}`;
}

/** Shorthand: {@link formatKey} of (iface, direction, name). */
export function keyString(iface: string, direction: ChainDirection, name: string): string {
  return formatKey({ iface, direction, name });
}

/** The key a {@link formatKey} string holds, or undefined when it is not one. */
export function parseKey(s: string): ProgramKey | undefined {
  const parts = s.split('/');
  if (parts.length !== 3 || parts.some((x) => x === '')) return undefined;
  const [iface, direction, name] = parts as [string, ChainDirection, string];
  return { iface, direction, name };
}
