/**
 * The package repositories tests use: the bundled one (programs/repo, built by `make -C programs package` when
 * missing) and small file repositories made from it (count-and-pass under other names, one per instance).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { platformName } from '../../agent/src/platform/platform-name.ts';

/** The checkout. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The bundled repository's file URL. */
export const BUNDLED_REPO = pathToFileURL(join(ROOT, 'programs', 'repo')).href;

/** Builds programs/repo with `make -C programs package` when the packages are not there yet. */
export function ensurePackages(): void {
  const platform = platformName();
  const need = ['xdp-root/latest/${p}/l3af_xdp_root.tar.gz', 'tc-root/latest/${p}/l3af_tc_root.tar.gz',
    'ratelimiting/latest/${p}/l3af_ratelimiting.tar.gz', 'count-and-pass/latest/${p}/l3af_count_and_pass.tar.gz']
    .map((f) => join(ROOT, 'programs', 'repo', f.replace('${p}', platform)));
  if (need.every((f) => existsSync(f))) return;
  execFileSync('make', ['-C', join(ROOT, 'programs'), 'package'], { stdio: 'ignore', timeout: 300_000 });
  for (const f of need) if (!existsSync(f)) throw new Error(`${f} is missing after 'make -C programs package'`);
}

/**
 * A package repository under `dir` holding count-and-pass under each of `names` (l3afd fetches a package by
 * the program's name, so a second instance needs its own name in a repository); returns its file URL.
 */
export function countAndPassRepo(dir: string, names: string[]): string {
  const repo = join(dir, 'extra-repo');
  for (const n of names) cpSync(join(ROOT, 'programs', 'repo', 'count-and-pass'), join(repo, n), { recursive: true });
  return pathToFileURL(repo).href;
}
