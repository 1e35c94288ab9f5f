/**
 * The `{platform}` segment of package repository URLs (`{repo}/{name}/{version}/{platform}/{artifact}`).
 *
 * l3afd uses `lsb_release -cs` on Linux (the distribution's codename: `bookworm`, `jammy`, ...) and the
 * literal `Windows` on Windows. We read the same codename from os-release instead of spawning
 * lsb_release, which many hosts (containers, minimal images) do not have.
 */
import { readFileSync } from 'node:fs';

/** What Linux reports when os-release names no codename (e.g. rolling or minimal distributions). */
export const LINUX_FALLBACK_PLATFORM = 'linux';
/** The platform segment on Windows, as l3afd spells it. */
export const WINDOWS_PLATFORM = 'Windows';

/** Where os-release lives, in the order systemd documents (the second is the fallback). */
const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'];

export interface PlatformNameOptions {
  /** The OS to name; default `process.platform`. */
  readonly os?: NodeJS.Platform;
  /** os-release text to use instead of reading /etc/os-release (tests, non-standard hosts). */
  readonly osRelease?: string;
}

/**
 * Parses os-release text (KEY=value lines, values optionally quoted) and returns its codename:
 * VERSION_CODENAME, else UBUNTU_CODENAME, else undefined.
 */
export function codenameFromOsRelease(text: string): string | undefined {
  const fields = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
      value = value.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    }
    fields.set(line.slice(0, eq), value);
  }
  for (const key of ['VERSION_CODENAME', 'UBUNTU_CODENAME']) {
    const v = fields.get(key);
    if (v !== undefined && /^[A-Za-z0-9._-]+$/.test(v)) return v;
  }
  return undefined;
}

function readOsRelease(): string | undefined {
  for (const p of OS_RELEASE_PATHS) {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      // try the next location
    }
  }
  return undefined;
}

/**
 * The platform segment for this host: Linux = the distribution codename (what `lsb_release -cs`
 * prints), or `linux` when there is none; Windows = `Windows`; any other OS = its Node name.
 */
export function platformName(opts: PlatformNameOptions = {}): string {
  const os = opts.os ?? process.platform;
  if (os === 'win32') return WINDOWS_PLATFORM;
  if (os !== 'linux') return os;
  const text = opts.osRelease ?? readOsRelease();
  return (text !== undefined ? codenameFromOsRelease(text) : undefined) ?? LINUX_FALLBACK_PLATFORM;
}
