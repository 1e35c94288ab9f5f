/**
 * What a package repository offers: `{repo}/{name}/{version}/{platform}/{artifact}` entries.
 * A file: repository is walked; an http(s) one is asked for `{repo}/index.json` (a JSON array of
 * `{name, version, platform, artifact}`), since plain web servers have no directory listing.
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { messageOf } from '../error-message.ts';

export interface CatalogEntry {
  readonly name: string;
  readonly version: string;
  readonly platform: string;
  readonly artifact: string;
  /** sha256 from the `.sha256` beside the artifact, when there is one (file: repositories). */
  readonly sha256?: string;
}

/** The repository cannot be listed (no such folder, no index.json, unreachable). */
export class CatalogError extends Error {
  override readonly name = 'CatalogError';
}

function dirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    return [];
  }
}

function listFileRepo(root: string, platform: string | undefined): CatalogEntry[] {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new CatalogError(`package repository ${root} is not a folder`);
  const out: CatalogEntry[] = [];
  for (const name of dirs(root)) {
    for (const version of dirs(join(root, name))) {
      for (const plat of dirs(join(root, name, version))) {
        if (platform !== undefined && plat !== platform) continue;
        const dir = join(root, name, version, plat);
        for (const artifact of readdirSync(dir).filter((f) => /\.(tar\.gz|zip)$/.test(f)).sort()) {
          const sumFile = join(dir, `${artifact}.sha256`);
          const sha256 = existsSync(sumFile) ? readFileSync(sumFile, 'utf8').trim().split(/\s+/)[0] : undefined;
          out.push({ name, version, platform: plat, artifact, ...(sha256 ? { sha256 } : {}) });
        }
      }
    }
  }
  return out;
}

function isEntry(x: unknown): x is CatalogEntry {
  const e = x as Record<string, unknown>;
  return typeof x === 'object' && x !== null && ['name', 'version', 'platform', 'artifact'].every((k) => typeof e[k] === 'string');
}

async function listHttpRepo(base: string, platform: string | undefined, timeoutMs: number): Promise<CatalogEntry[]> {
  const url = `${base.replace(/\/+$/, '')}/index.json`;
  let res;
  try {
    const { request } = await import('undici'); // loaded when an http repository is listed
    res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (err) {
    throw new CatalogError(`cannot reach ${url}: ${messageOf(err)}`);
  }
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new CatalogError(`${url} answered ${res.statusCode}: this repository publishes no index`);
  }
  const data: unknown = await res.body.json().catch(() => undefined);
  if (!Array.isArray(data) || !data.every(isEntry)) throw new CatalogError(`${url} is not a JSON array of {name, version, platform, artifact}`);
  return data.filter((e) => platform === undefined || e.platform === platform);
}

/** Lists a repository's packages, for one platform or all. */
export async function listPackages(repoUrl: string, opts: { platform?: string; timeoutMs?: number } = {}): Promise<CatalogEntry[]> {
  let url: URL;
  try {
    url = new URL(repoUrl);
  } catch {
    throw new CatalogError(`'${repoUrl}' is not a URL`);
  }
  if (url.protocol === 'file:') return listFileRepo(fileURLToPath(url), opts.platform);
  if (url.protocol === 'http:' || url.protocol === 'https:') return listHttpRepo(repoUrl, opts.platform, opts.timeoutMs ?? 10_000);
  throw new CatalogError(`unsupported repository scheme ${url.protocol}`);
}
