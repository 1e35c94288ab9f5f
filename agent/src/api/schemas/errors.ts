/**
 * Turns JSON Schema validation errors (ajv's error objects, as fastify's validator produces
 * them) into a short list of `{ path, message }` for clients: one entry per offending field,
 * nullable-union noise removed, pattern failures explained in words.
 */
import * as P from './patterns.ts';
import type { FieldError } from './semantics.ts';

/** The part of an ajv `ErrorObject` this module reads (kept structural so ajv need not be imported). */
export interface SchemaErrorLike {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, unknown>;
  message?: string;
}

const PATTERN_RULES = new Map<string, string>([
  [P.PROGRAM_NAME, P.PROGRAM_NAME_RULE],
  [P.VERSION, P.VERSION_RULE],
  [P.ARTIFACT, P.ARTIFACT_RULE],
  [P.RELATIVE_PATH, P.RELATIVE_PATH_RULE],
  [P.C_IDENTIFIER_OR_EMPTY, P.C_IDENTIFIER_RULE],
  [P.MAP_NAME, P.MAP_NAME_RULE],
  [P.IFACE, P.IFACE_RULE],
  [P.HOST_NAME, P.HOST_NAME_RULE],
  [P.IPV4_OR_EMPTY, P.IPV4_RULE],
  [P.REPO_URL_OR_EMPTY, P.REPO_URL_RULE],
  [P.ARG_KEY, P.ARG_KEY_RULE],
  [P.RESTART_VERSION, P.RESTART_VERSION_RULE],
  [P.PROG_TYPE, P.PROG_TYPE_RULE],
]);

function describe(e: SchemaErrorLike): FieldError {
  const path = e.instancePath;
  switch (e.keyword) {
    case 'required':
      return { path: `${path}/${String(e.params.missingProperty)}`, message: 'is required' };
    case 'additionalProperties':
      return { path: `${path}/${String(e.params.additionalProperty)}`, message: 'is not a known field' };
    case 'enum':
      return { path, message: `must be one of: ${(e.params.allowedValues as unknown[]).map(String).join(', ')}` };
    case 'pattern': {
      const rule = PATTERN_RULES.get(String(e.params.pattern));
      return { path, message: rule ?? e.message ?? 'has an invalid format' };
    }
    case 'propertyNames':
      return { path, message: e.message ?? 'has an invalid property name' };
    default:
      return { path, message: e.message ?? `fails ${e.keyword}` };
  }
}

const typeOf = (e: SchemaErrorLike) => String(e.params.type);

/**
 * Formats ajv errors. For an `anyOf` (our nullable unions), branches that failed only because
 * the value has another type are dropped when some branch failed deeper (so `[{"seq_id": -1}]`
 * reports `/…/seq_id` rather than "must be null"); when every branch is a type mismatch, one
 * message lists the accepted types. Duplicates are removed; order follows the input.
 */
export function formatSchemaErrors(errors: readonly SchemaErrorLike[] | null | undefined): FieldError[] {
  if (!errors || errors.length === 0) return [];
  const dropped = new Set<SchemaErrorLike>();
  const replacement = new Map<SchemaErrorLike, FieldError>();
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const a of anyOfs) {
    dropped.add(a);
    const prefix = `${a.schemaPath}/`;
    const branches = new Map<string, SchemaErrorLike[]>();
    for (const e of errors) {
      if (!e.schemaPath.startsWith(prefix) || dropped.has(e)) continue;
      const idx = e.schemaPath.slice(prefix.length).split('/')[0] ?? '';
      const list = branches.get(idx) ?? [];
      list.push(e);
      branches.set(idx, list);
    }
    const typeOnly = (list: SchemaErrorLike[]) =>
      list.every((e) => e.keyword === 'type' && e.instancePath === a.instancePath);
    const all = [...branches.values()];
    if (all.length > 0 && all.every(typeOnly)) {
      const types = [...new Set(all.flat().map(typeOf))];
      const first = all.flat()[0];
      for (const e of all.flat()) dropped.add(e);
      if (first) {
        dropped.delete(first);
        replacement.set(first, { path: a.instancePath, message: `must be ${types.join(' or ')}` });
      }
    } else {
      for (const list of all) if (typeOnly(list)) for (const e of list) dropped.add(e);
    }
  }
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (dropped.has(e)) continue;
    const fe = replacement.get(e) ?? describe(e);
    const key = `${fe.path}\0${fe.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(fe);
  }
  return out;
}
