/**
 * l3afd's minimum kernel (`[l3afd] kernel-major-version` / `kernel-minor-version`, 5.15 by
 * default): on Linux the agent refuses to start on an older kernel, naming both keys. Other
 * platforms are not checked (l3afd skips the check off Linux too).
 */
import { release } from 'node:os';

/** `major.minor` of a kernel release string (`6.18.44-fc-v1252` → 6, 18); undefined when unreadable. */
export function kernelVersion(rel: string): { major: number; minor: number } | undefined {
  const m = /^(\d+)\.(\d+)/.exec(rel.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/**
 * Why the running kernel is below the configured minimum, or undefined when it is not (or when
 * not on Linux / the release is unreadable — then nothing is refused).
 */
export function kernelTooOld(min: { major: number; minor: number }, rel = release(), platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform !== 'linux') return undefined;
  const k = kernelVersion(rel);
  if (!k) return undefined;
  if (k.major > min.major || (k.major === min.major && k.minor >= min.minor)) return undefined;
  return `[l3afd] kernel-major-version / kernel-minor-version: this kernel is ${k.major}.${k.minor} (${rel.trim()}), older than the configured minimum ${min.major}.${min.minor}`;
}
