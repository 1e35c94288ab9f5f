/**
 * Unknown keys, l3afd-style: Go's JSON decoder ignores keys a struct does not have, so a payload
 * written for a newer l3afd (or with an extra field a tool adds) still works there. The request
 * schemas list the known keys (`additionalProperties: false`); {@link stripUnknownKeys} walks a
 * value along the same schema, removes the keys an object schema does not list and returns their
 * JSON pointers, so the route can log them and answer them as warnings instead of a 400.
 *
 * Only objects with named `properties` are stripped. Maps with key patterns (`start_args`, ...)
 * are left to validation (a bad key there is an error, not an unknown field).
 */
import type { TSchema } from 'typebox';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const pointer = (path: string, key: string): string => `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** The branch of a union that can describe `value` (object schema for an object, array schema for an array). */
function branchFor(schema: Json, value: unknown): Json | undefined {
  const branches = (schema.anyOf ?? schema.oneOf) as Json[] | undefined;
  if (!branches) return schema;
  if (isObject(value)) {
    // among object branches, the first whose required keys the value has (else the first)
    const objs = branches.filter((b) => b.type === 'object' || b.anyOf !== undefined);
    return objs.find((b) => b.anyOf !== undefined || ((b.required as string[] | undefined) ?? []).every((k) => Object.hasOwn(value, k))) ?? objs[0];
  }
  if (Array.isArray(value)) return branches.find((b) => b.type === 'array' || b.anyOf !== undefined);
  return undefined;
}

/**
 * Removes, in place, every key of `value` that the object schemas along `schema` do not know;
 * returns the JSON pointers of the removed keys (in document order). Values the schema does not
 * describe (wrong types) are left for validation to report.
 */
export function stripUnknownKeys(schema: TSchema, value: unknown, path = ''): string[] {
  const s = branchFor(schema as unknown as Json, value);
  if (!s) return [];
  if (s.anyOf !== undefined || s.oneOf !== undefined) return stripUnknownKeys(s as unknown as TSchema, value, path);
  const removed: string[] = [];
  if (Array.isArray(value) && s.type === 'array' && isObject(s.items)) {
    value.forEach((item, i) => removed.push(...stripUnknownKeys(s.items as TSchema, item, `${path}/${i}`)));
  } else if (isObject(value) && s.type === 'object' && isObject(s.properties) && s.patternProperties === undefined) {
    const props = s.properties as Record<string, TSchema>;
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(props, key)) {
        if (s.additionalProperties === false) {
          delete value[key];
          removed.push(pointer(path, key));
        }
        continue;
      }
      removed.push(...stripUnknownKeys(props[key] as TSchema, value[key], pointer(path, key)));
    }
  }
  return removed;
}
