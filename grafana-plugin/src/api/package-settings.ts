/**
 * Program-specific form fields, described by data: a package's description lists the map entries a user tunes
 * (ratelimiting: `rl_config_map[0]` as a rate, the keys of `rl_ports_map` as ports). The form renders and
 * validates them from the description; nothing in the form knows a program by name.
 */
import { ChangeError, mapArgValue, withMapArg, withMapKeys } from './chain-ops';
import type { MapArg } from './types';

/** One tunable of a package: the value at one key of a map, or the set of keys of a map. */
export interface PackageSetting {
  /** Field id (the inputs' test ids are `add-{id}` / `edit-{id}`). */
  id: string;
  label: string;
  description?: string;
  map: string;
  /** `value`: the number at `key`; `keys`: the list of keys, each stored with `keyValue` (default 1). */
  kind: 'value' | 'keys';
  key?: number;
  keyValue?: number;
  /** Bounds of each number (inclusive). */
  min: number;
  max?: number;
  /** What one number is called in errors ("rate", "port"). */
  noun: string;
  /** What a value counts, for errors and summaries ("connections per second"; `value` settings). */
  unit?: string;
  /** The summary's suffix after a value ("per second"). */
  summarySuffix?: string;
  /** Start value of the add form. */
  initial?: number | number[];
}

/** The field's text for the current map_args (or the setting's initial value when the map lists none). */
export function settingText(s: PackageSetting, args: MapArg[] | null | undefined, useInitial = false): string {
  if (s.kind === 'value') {
    const v = mapArgValue(args, s.map, s.key ?? 0);
    const shown = v ?? (useInitial && typeof s.initial === 'number' ? s.initial : undefined);
    return shown === undefined ? '' : String(shown);
  }
  const keys = keysOf(s, args);
  return (keys.length === 0 && useInitial && Array.isArray(s.initial) ? s.initial : keys).join(', ');
}

/** The keys a `keys` setting's map lists. */
export function keysOf(s: PackageSetting, args: MapArg[] | null | undefined): number[] {
  return (args?.find((m) => m.name === s.map)?.args ?? []).map((kv) => kv.key);
}

function inRange(s: PackageSetting, n: number): boolean {
  return Number.isInteger(n) && n >= s.min && (s.max === undefined || n <= s.max);
}

/** Parses a field's text; throws ChangeError in the setting's own words. */
export function parseSetting(s: PackageSetting, text: string): number | number[] {
  if (s.kind === 'value') {
    const n = Number(text);
    if (text.trim() === '' || !inRange(s, n)) {
      throw new ChangeError(`${s.noun} "${text}" is not a whole number of ${s.unit ?? 'units'} (${s.min} or more)`);
    }
    return n;
  }
  return text
    .split(/[\s,]+/)
    .filter((x) => x !== '')
    .map((x) => {
      const n = Number(x);
      if (!inRange(s, n)) {
        throw new ChangeError(`${s.noun} "${x}" is not a number ${s.min}..${s.max ?? '∞'}`);
      }
      return n;
    });
}

/** map_args with the setting's parsed value written in (other maps and keys kept). */
export function applySetting(s: PackageSetting, args: MapArg[] | null | undefined, v: number | number[]): MapArg[] {
  return s.kind === 'value'
    ? withMapArg(args, s.map, s.key ?? 0, v as number)
    : withMapKeys(args, s.map, v as number[], s.keyValue ?? 1);
}

/** The setting's value as map_args hold it. */
function current(s: PackageSetting, args: MapArg[] | null | undefined): string {
  return s.kind === 'value' ? String(mapArgValue(args, s.map, s.key ?? 0) ?? '') : keysOf(s, args).join(',');
}

/**
 * Applies every field to `args`; returns the new map_args and one summary line per changed setting
 * (against `before`, the program as it is; for an add, `before` is undefined and every setting is listed).
 */
export function applySettings(
  settings: PackageSetting[],
  texts: Record<string, string>,
  args: MapArg[] | null | undefined,
  before?: MapArg[] | null
): { map_args: MapArg[] | null; summary: string[] } {
  let out: MapArg[] | null = args ?? null;
  const summary: string[] = [];
  for (const s of settings) {
    const v = parseSetting(s, texts[s.id] ?? '');
    const next = applySetting(s, out, v);
    if (current(s, next) !== current(s, out)) {
      out = next;
    }
    const shown = (x: number | number[] | undefined) =>
      Array.isArray(x) ? x.join(', ') || 'none' : `${x ?? 'unset'}${s.summarySuffix ? ` ${s.summarySuffix}` : ''}`;
    if (before === undefined) {
      summary.push(`${s.id} ${shown(v)}`);
    } else if (current(s, before) !== current(s, next)) {
      const old = s.kind === 'value' ? mapArgValue(before, s.map, s.key ?? 0) : keysOf(s, before);
      summary.push(`${s.id}: ${s.kind === 'value' ? (old ?? 'unset') : shown(old)} → ${shown(v)}`);
    }
  }
  return { map_args: out, summary };
}
