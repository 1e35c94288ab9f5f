/**
 * `monitor_maps` element: l3afd's `{name, key, aggregator}` (one integer key, meaning exactly what
 * it means in l3afd) and the typed forms, all in one schema:
 *
 * - L3AF's open work on typed keys, accepted unchanged: `key` as a string with `key_type`
 *   (`"int"` or `"ipv4"`; `"*"` = every key) (l3afd PR #556), and `key` as a typed field schema
 *   `{name, type: uint8|uint16|uint32|uint64|ipv4|struct|array, value, fields, elem, length}` with
 *   `labels: [{name, path}]` naming key fields by path (l3afd PR #661).
 * - l3af extensions: `key` as a list of keys or an inclusive integer range `{from, to}`; `labels`
 *   paths into the key (`src.port`, `addr[2]`) decoded through the map's BTF when the key is not
 *   a field schema, with an optional `format` (int, ipv4, ipv6, port, hex, string); `values`
 *   (value fields by path, each with its own aggregator); `per_cpu` (`sum` or `cpu`); `max_keys`
 *   (series bound, reported when hit); aggregator `histogram` (log2 slots of an ARRAY).
 */
import { Type, type Static } from 'typebox';
import * as P from './patterns.ts';

/** Aggregators of `monitor_maps` (l3afd: scalar, max-rate, avg; l3af: histogram). */
export const Aggregator = Type.Enum(['scalar', 'max-rate', 'avg', 'histogram'], {
  description: 'scalar = the value; max-rate = highest per-second rate over the sample ring; avg = mean of the ring; histogram = log2 slots of an ARRAY map (l3af).',
});
export type Aggregator = Static<typeof Aggregator>;

/**
 * A typed key as l3afd PR #661 writes it (`decode.FieldSchema`). Nested `fields` / `elem` are
 * checked by the decoder (metrics/field-schema.ts), which names the bad part.
 */
export const FieldSchema = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 128 })),
  type: Type.Enum(['uint8', 'uint16', 'uint32', 'uint64', 'ipv4', 'struct', 'array']),
  value: Type.Optional(Type.Unknown()),
  fields: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 64 })),
  elem: Type.Optional(Type.Unknown()),
  length: Type.Optional(Type.Integer({ minimum: 0, maximum: 4096 })),
}, { additionalProperties: false });
export type FieldSchema = Static<typeof FieldSchema>;

const INT_KEY = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** One key: an integer (l3afd), a string (`"7"`, `"10.0.0.1"`, `"*"`: PR #556) or a field schema (PR #661). */
const OneKey = Type.Union([INT_KEY, Type.String({ minLength: 1, maxLength: 64 }), FieldSchema]);

export const KeyRange = Type.Object({ from: INT_KEY, to: INT_KEY }, { additionalProperties: false });

const LABEL_NAME = '^[A-Za-z_][A-Za-z0-9_]{0,63}$';
const PATH = '^[A-Za-z0-9_.\\[\\]]{0,256}$';

export const MonitorLabel = Type.Object({
  name: Type.String({ pattern: LABEL_NAME, description: 'Prometheus label name.' }),
  path: Type.String({ pattern: PATH, description: 'Key field path, e.g. `src.port` or `addr[1]`; empty = the whole key.' }),
  format: Type.Optional(Type.Enum(['int', 'ipv4', 'ipv6', 'port', 'hex', 'string'])),
}, { additionalProperties: false });
export type MonitorLabel = Static<typeof MonitorLabel>;

export const MonitorValue = Type.Object({
  path: Type.String({ pattern: PATH, description: 'Value field path; empty = the whole value.' }),
  aggregator: Type.Optional(Aggregator),
}, { additionalProperties: false });
export type MonitorValue = Static<typeof MonitorValue>;

const monitorMapFields = {
  name: Type.String({ pattern: P.MAP_NAME, description: 'Map name inside the loaded ELF object.' }),
  // one flat union (no nested anyOf): unknown-keys.ts picks the object branch whose required keys are present
  key: Type.Union([INT_KEY, Type.String({ minLength: 1, maxLength: 64 }), FieldSchema, KeyRange, Type.Array(OneKey, { minItems: 1, maxItems: 1024 })], {
    description: 'Key(s) to read: an integer (l3afd; absent = 0), a string with key_type ("*" = all keys), a typed field schema, a list, or {from, to}.',
  }),
  aggregator: Aggregator,
  key_type: Type.Optional(Type.Enum(['int', 'ipv4', 'ipv6'], { description: 'How a string key is encoded (l3afd PR #556).' })),
  labels: Type.Optional(Type.Array(MonitorLabel, { maxItems: 16 })),
  values: Type.Optional(Type.Array(MonitorValue, { minItems: 1, maxItems: 32 })),
  per_cpu: Type.Optional(Type.Enum(['sum', 'cpu'])),
  max_keys: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
};

/** `monitor_maps` element as GET shows it. */
export const MonitorMap = Type.Object(monitorMapFields, { additionalProperties: false });
export type MonitorMap = Static<typeof MonitorMap>;

/** `monitor_maps` element as a request carries it: `key` may be absent (means 0, as l3afd). */
export const MonitorMapRequest = Type.Object({ ...monitorMapFields, key: Type.Optional(monitorMapFields.key) }, { additionalProperties: false });
export type MonitorMapRequest = Static<typeof MonitorMapRequest>;

/** Whether an entry is l3afd's plain `{name, integer key, scalar|max-rate|avg}`. */
export function isPlainMonitorMap(m: MonitorMap): m is MonitorMap & { key: number } {
  return typeof m.key === 'number' && m.key_type === undefined && m.labels === undefined && m.values === undefined
    && m.per_cpu === undefined && m.max_keys === undefined && m.aggregator !== 'histogram';
}

/** The entry with `key` defaulted to 0 and only the keys it carries. */
export function normalizeMonitorMap(m: MonitorMapRequest): MonitorMap {
  const out: MonitorMap = { name: m.name, key: m.key === undefined ? 0 : structuredClone(m.key), aggregator: m.aggregator };
  if (m.key_type !== undefined) out.key_type = m.key_type;
  if (m.labels !== undefined) out.labels = structuredClone(m.labels);
  if (m.values !== undefined) out.values = structuredClone(m.values);
  if (m.per_cpu !== undefined) out.per_cpu = m.per_cpu;
  if (m.max_keys !== undefined) out.max_keys = m.max_keys;
  return out;
}

/** A stable identity of an entry's key, for duplicate checks. */
export function monitorKeyId(m: MonitorMapRequest): string {
  const k = m.key ?? 0;
  // "17" with key_type int (or none) is the key 17
  if (typeof k === 'string' && /^\d+$/.test(k) && (m.key_type === undefined || m.key_type === 'int')) return String(Number(k));
  return typeof k === 'number' ? String(k) : JSON.stringify(k);
}
