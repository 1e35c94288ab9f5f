/**
 * Packages: fetched ahead of the queue for an operation (so a slow repository delays only it), then taken
 * from there inside the queue; object files refused when they would leave their package folder.
 */
import { resolve, sep } from 'node:path';
import type { ArtifactRef } from '../artifacts/index.ts';
import type { ChainDirection } from '../chain/index.ts';
import type { AddUpdateBody, NormalizedBpfProgram } from '../payload/index.ts';
import { withSpan } from '../telemetry/tracing.ts';
import type { PackageSource, EngineCore } from './core.ts';
import { EngineError } from './errors.ts';
import { programAttributes } from './step-spans.ts';

/** The object file of a package, refused when it would leave the package folder. */
export function objectIn(dir: string, file: string): string {
  const p = resolve(dir, file);
  if (!p.startsWith(resolve(dir) + sep)) throw new EngineError(`object file '${file}' is outside the package folder`, 'invalid');
  return p;
}

/** Identity of a package reference (the prefetch cache key). */
export function packageKey(r: ArtifactRef): string {
  return JSON.stringify([r.repoUrl ?? '', r.name, r.version, r.artifact]);
}

/** The package references of the enabled programs an add/update body names (chains and probes), with where. */
export function packageRefs(body: AddUpdateBody): { iface: string; direction: string; ref: ArtifactRef }[] {
  const out: { iface: string; direction: string; ref: ArtifactRef }[] = [];
  for (const e of Array.isArray(body) ? body : []) {
    for (const [direction, list] of Object.entries(e?.bpf_programs ?? {})) {
      for (const raw of Array.isArray(list) ? (list as unknown[]) : []) {
        const p = raw as { name?: unknown; version?: unknown; artifact?: unknown; admin_status?: unknown; ebpf_package_repo_url?: unknown };
        if (typeof p?.name !== 'string' || typeof p.version !== 'string' || typeof p.artifact !== 'string' || p.admin_status === 'disabled') continue;
        const repo = typeof p.ebpf_package_repo_url === 'string' ? p.ebpf_package_repo_url : '';
        out.push({ iface: String(e.iface), direction, ref: { name: p.name, version: p.version, artifact: p.artifact, ...(repo !== '' ? { repoUrl: repo } : {}) } });
      }
    }
  }
  return out;
}

/**
 * Fetches (downloads, verifies, extracts) the packages `body` names BEFORE `run` takes the queue,
 * so a slow or hostile repository delays only the operation that needs it, never a change to
 * another interface; inside the queue, {@link fetchPackage} takes the fetched result (or its
 * error) from here instead of fetching again.
 */
export async function withPackages<T>(c: EngineCore, body: AddUpdateBody, run: () => Promise<T>): Promise<T> {
  const keys: string[] = [];
  if (c.artifacts && c.phase === 'running') {
    const source = c.artifacts;
    for (const { iface, direction, ref } of packageRefs(body)) {
      const key = packageKey(ref);
      // a program that already runs from this very package is reloaded (and fetched) only when it must be
      const held = direction === 'probes' ? [c.probesWanted.get(ref.name)?.p] : c.state.get(iface)?.lists[direction as ChainDirection] ?? [];
      if (held.some((h) => h && h.name === ref.name && h.version === ref.version && h.artifact === ref.artifact && h.ebpf_package_repo_url === (ref.repoUrl ?? ''))) continue;
      keys.push(key);
      const have = c.prefetched.get(key);
      if (have) {
        have.users += 1;
        continue;
      }
      const pkg = source.fetch(ref);
      pkg.catch(() => undefined); // reported inside the operation
      c.prefetched.set(key, { pkg, users: 1 });
    }
  }
  try {
    await Promise.allSettled(keys.map((k) => c.prefetched.get(k)?.pkg));
    return await run();
  } finally {
    for (const k of keys) {
      const e = c.prefetched.get(k);
      if (e && --e.users === 0) c.prefetched.delete(k);
    }
  }
}

/** Fetches a package inside a `fetch` span (sha256 and cache hit as attributes). */
export function fetchPackage(c: EngineCore, p: NormalizedBpfProgram, attrs = programAttributes(p)): Promise<{ readonly dir: string; readonly sha256?: string; readonly cached?: boolean }> {
  return withSpan('fetch', async (span) => {
    const ref = { name: p.name, version: p.version, artifact: p.artifact, ...(p.ebpf_package_repo_url !== '' ? { repoUrl: p.ebpf_package_repo_url } : {}) };
    const pkg = await (c.prefetched.get(packageKey(ref))?.pkg ?? (c.artifacts as PackageSource).fetch(ref));
    if (pkg.sha256 !== undefined) span.setAttribute('l3af.artifact.sha256', pkg.sha256);
    if (pkg.cached !== undefined) span.setAttribute('l3af.artifact.cached', pkg.cached);
    return pkg;
  }, { ...attrs, 'l3af.artifact': p.artifact });
}

export async function packageDir(c: EngineCore, p: NormalizedBpfProgram): Promise<string> {
  return (await fetchPackage(c, p)).dir;
}
