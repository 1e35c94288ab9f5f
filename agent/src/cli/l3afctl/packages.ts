/** `l3afctl packages` without an agent listing: a file:// package repository read directly. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CtlError, EXIT } from './client.ts';

/** One package file of a repository (`<name>/<version>/<platform>/<artifact>`). */
export interface PackageEntry {
  name: string;
  version: string;
  platform: string;
  artifact: string;
  bytes: number;
  /** A `<artifact>.sha256` file sits next to it. */
  checksum: boolean;
}

const dirs = (d: string): string[] => readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();

/** Lists a file:// repository (http(s) repositories cannot be listed). */
export function listFileRepository(url: string): PackageEntry[] {
  if (!url.startsWith('file://')) throw new CtlError(EXIT.USAGE, `${url}: only a file:// repository can be listed directly (the agent has no package listing)`);
  const root = fileURLToPath(url);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new CtlError(EXIT.USAGE, `${url}: not a directory`);
  const out: PackageEntry[] = [];
  for (const name of dirs(root)) {
    for (const version of dirs(join(root, name))) {
      for (const platform of dirs(join(root, name, version))) {
        const dir = join(root, name, version, platform);
        const files = readdirSync(dir);
        for (const artifact of files.filter((f) => /\.(?:tar\.gz|tgz|zip)$/.test(f)).sort()) {
          out.push({ name, version, platform, artifact, bytes: statSync(join(dir, artifact)).size, checksum: files.includes(`${artifact}.sha256`) });
        }
      }
    }
  }
  return out;
}
