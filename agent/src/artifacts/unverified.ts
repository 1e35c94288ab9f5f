/**
 * Packages used without a checksum: L3AF's repositories publish no `.sha256` files, and l3afd
 * verifies nothing, so an http(s) package without one is accepted (unless `[l3af]
 * checksum-required-http` asks for one) — with a warning and this count, exported as
 * `l3af_artifact_unverified_total{scheme}` by the metrics module. Process-wide, like the
 * packages it counts.
 */
const counts = new Map<string, number>();

/** Counts one package accepted without a checksum (`scheme`: http, https, file). */
export function countUnverified(scheme: string): void {
  counts.set(scheme, (counts.get(scheme) ?? 0) + 1);
}

/** The counts so far, per scheme. */
export function unverifiedCounts(): ReadonlyMap<string, number> {
  return counts;
}
