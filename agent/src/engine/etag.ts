/**
 * The version of the desired state: the first 32 hex digits of the sha256 of its canonical JSON
 * (object keys sorted at every level), quoted as an ETag header carries it.
 */
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** `"<32 hex>"` of `state`. */
export function etagOf(state: unknown): string {
  return `"${createHash('sha256').update(canonicalJson(state)).digest('hex').slice(0, 32)}"`;
}

/** True when an If-Match header value matches `etag` (`*`, or one of a comma-separated list; weak prefix ignored). */
export function ifMatchMatches(header: string, etag: string): boolean {
  return header.split(',').map((s) => s.trim().replace(/^W\//, '')).some((s) => s === '*' || s === etag);
}
