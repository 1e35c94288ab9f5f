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

/** The most problems one answer lists; the rest are counted in one last problem (see {@link capProblems}). */
export const MAX_PROBLEMS = 100;

/**
 * `problems` cut to `limit` entries; when some are left out, one more entry (path "") says how
 * many, so a client knows the list is not complete.
 */
export function capProblems(problems: readonly FieldError[], limit = MAX_PROBLEMS, total = problems.length): FieldError[] {
  if (total <= limit) return [...problems];
  return [
    ...problems.slice(0, limit),
    { path: '', message: `${total - limit} more problems not listed (an answer lists the first ${limit} of ${total})` },
  ];
}

/**
 * Formats ajv errors. For an `anyOf` (our nullable unions), branches that failed only because
 * the value has another type are dropped when some branch failed deeper (so `[{"seq_id": -1}]`
 * reports `/…/seq_id` rather than "must be null"); when every branch is a type mismatch, one
 * message lists the accepted types. Duplicates are removed; order follows the input; at most
 * `limit` problems are listed (then one more says how many were left out).
 *
 * Linear in the number of errors: each error is filed once under every `anyOf` whose schema path
 * is a prefix of its own (an index of the anyOfs by path, looked up only at the `/anyOf/` steps
 * of the error's path), so a body with thousands of failing unions costs no more per error than
 * one with a single one.
 */
export function formatSchemaErrors(errors: readonly SchemaErrorLike[] | null | undefined, limit = MAX_PROBLEMS): FieldError[] {
  if (!errors || errors.length === 0) return [];
  const dropped = new Set<SchemaErrorLike>();
  const replacement = new Map<SchemaErrorLike, FieldError>();
  // anyOf schema path -> branch index -> indexes (into errors) of the errors inside that branch, in input order
  const members = new Map<string, Map<string, number[]>>();
  const anyOfs: SchemaErrorLike[] = [];
  for (const e of errors) {
    if (e.keyword !== 'anyOf') continue;
    anyOfs.push(e);
    if (!members.has(e.schemaPath)) members.set(e.schemaPath, new Map());
  }
  if (anyOfs.length > 0) {
    errors.forEach((e, i) => {
      const sp = e.schemaPath;
      // only the prefixes that end in an anyOf can be an anyOf's path: `…/anyOf/<branch>/…`
      for (let at = sp.indexOf('/anyOf/'); at !== -1; at = sp.indexOf('/anyOf/', at + 1)) {
        const cut = at + '/anyOf'.length;
        const branches = members.get(sp.slice(0, cut));
        if (!branches) continue;
        const end = sp.indexOf('/', cut + 1);
        const idx = sp.slice(cut + 1, end === -1 ? undefined : end);
        const list = branches.get(idx);
        if (list) list.push(i);
        else branches.set(idx, [i]);
      }
    });
  }
  anyOfs.sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const a of anyOfs) {
    dropped.add(a);
    const all: SchemaErrorLike[][] = [];
    const firsts: number[] = [];
    for (const idxs of members.get(a.schemaPath)?.values() ?? []) {
      const kept = idxs.filter((i) => !dropped.has(errors[i] as SchemaErrorLike));
      if (kept.length === 0) continue;
      all.push(kept.map((i) => errors[i] as SchemaErrorLike));
      firsts.push(kept[0] as number);
    }
    // branches in the order their first remaining error appears
    const order = all.map((_, k) => k).sort((x, y) => (firsts[x] as number) - (firsts[y] as number));
    const branches = order.map((k) => all[k] as SchemaErrorLike[]);
    const typeOnly = (list: SchemaErrorLike[]) =>
      list.every((e) => e.keyword === 'type' && e.instancePath === a.instancePath);
    if (branches.length > 0 && branches.every(typeOnly)) {
      const flat = branches.flat();
      const types = [...new Set(flat.map(typeOf))];
      const first = flat[0];
      for (const e of flat) dropped.add(e);
      if (first) {
        dropped.delete(first);
        replacement.set(first, { path: a.instancePath, message: `must be ${types.join(' or ')}` });
      }
    } else {
      for (const list of branches) if (typeOnly(list)) for (const e of list) dropped.add(e);
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
    if (out.length < limit) out.push(fe);
  }
  return capProblems(out, limit, seen.size);
}
