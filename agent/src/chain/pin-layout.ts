/**
 * Where a chain's kernel objects are pinned: l3afd's layout under a pin root (its
 * `BpfMapDefaultPath`), with every path segment validated so that no name can leave the root.
 *
 *   XDP maps   <root>/<iface>/<name>/<ver>/<map>
 *   TC maps    <root>/tc/globals/<iface>/<name>/<ver>/<map>
 *   programs   <root>/progs/<iface>/<name>/<ver>/<entry>_<xdp|tc>
 *   links      <root>/links/<iface>/<name>/<ver>/<name>_xdp | <name>_tc_<ingress|egress>
 *
 * `<ver>` is the version with dots turned into underscores (TC: both directions of one name share the map
 * directory, as in l3afd). A pin that replaces a live one of the
 * same path is first made at `<path>~staged` and renamed over it once the chain has switched.
 * bpffs refuses names with a dot, hence the version rule; names and interfaces with a dot are
 * refused here with a clear error.
 */
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ChainError } from './errors.ts';
import { platform } from '../bpf/platform.ts';
import { joinPinName, pinStyleOf, type PinStyle } from '../bpf/pin-name.ts';

/** The three hooks a chain can hang from. */
export type ChainDirection = 'xdp_ingress' | 'tc_ingress' | 'tc_egress';

/** All directions, in a stable order. */
export const CHAIN_DIRECTIONS: readonly ChainDirection[] = ['xdp_ingress', 'tc_ingress', 'tc_egress'];

/** l3afd's `prog_type` of a direction: it decides the map directory and the program pin's suffix. */
export type PinProgType = 'xdp' | 'tc';

/** `xdp` for the XDP hook, `tc` for both TC directions. */
export function progTypeOf(direction: ChainDirection): PinProgType {
  return direction === 'xdp_ingress' ? 'xdp' : 'tc';
}

/**
 * Suffix of a pin made beside a live one, renamed over it after the switch. Not a `.`: bpffs
 * refuses every name with a dot (reserved for its own iterators).
 */
export const STAGED_SUFFIX = '~staged';

/** Top-level names the layout uses itself; an interface cannot be called that. */
const RESERVED_TOP = new Set(['progs', 'links', 'tc', 'chain-counts']);

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks one path segment: not empty, no `/`, no NUL, not `.` or `..`, at most 255 bytes, and
 * (for bpffs, which refuses them) no `.` at all unless `dotsAllowed`.
 */
export function checkSegment(what: string, value: string, dotsAllowed = false): string {
  if (typeof value !== 'string' || value.length === 0) throw new ChainError('invalid', `${what} must be a non-empty string`);
  if (value.includes('/') || value.includes('\0')) throw new ChainError('invalid', `${what} '${value}' must not contain '/' or NUL`);
  if (value === '.' || value === '..') throw new ChainError('invalid', `${what} must not be '${value}'`);
  if (!dotsAllowed && value.includes('.')) throw new ChainError('invalid', `${what} '${value}' must not contain '.' (bpffs refuses such names)`);
  if (Buffer.byteLength(value) > 255) throw new ChainError('invalid', `${what} is longer than 255 bytes`);
  return value;
}

/** Checks a C identifier (entry function, map name). */
export function checkIdentifier(what: string, value: string): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw new ChainError('invalid', `${what} '${String(value)}' is not a C identifier`);
  }
  return value;
}

/** The version as a path segment: dots become underscores (l3afd's rule). */
export function versionSegment(version: string): string {
  checkSegment('version', version, true);
  return checkSegment('version', version.replace(/\./g, '_'));
}

function checkIface(iface: string, style: PinStyle = 'files'): string {
  if (style === 'names') {
    // Windows friendly names ('Ethernet 4', 'vEthernet (Default Switch)'): one segment of a pin name
    if (typeof iface !== 'string' || iface.length === 0 || iface.length > 256 || iface === '.' || iface === '..' || /[\\/\0]/.test(iface)) {
      throw new ChainError('invalid', `interface name '${String(iface)}' must be 1-256 characters, not '.' or '..', without '/', '\\' or NUL`);
    }
    if (RESERVED_TOP.has(iface)) throw new ChainError('invalid', `interface name '${iface}' collides with the pin layout's '${iface}' directory`);
    return iface;
  }
  checkSegment('interface', iface);
  if (RESERVED_TOP.has(iface)) throw new ChainError('invalid', `interface name '${iface}' collides with the pin layout's '${iface}' directory`);
  if (Buffer.byteLength(iface) > 15) throw new ChainError('invalid', `interface name '${iface}' is longer than 15 bytes`);
  return iface;
}

/** One program pin found on bpffs. */
export interface PinnedProgramRef {
  readonly iface: string;
  readonly name: string;
  /** The version segment (dots already turned into underscores; the original cannot be told). */
  readonly versionSegment: string;
  readonly entry: string;
  readonly progType: PinProgType;
  /** Path of the pin (ends in {@link STAGED_SUFFIX} when staged). */
  readonly path: string;
  readonly staged: boolean;
}

/** One directory of map pins found on bpffs. */
export interface PinnedMapDirRef {
  readonly iface: string;
  readonly name: string;
  readonly versionSegment: string;
  readonly progType: PinProgType;
  readonly dir: string;
}

/** l3afd's pin layout under one root. */
export class PinLayout {
  /** The absolute pin root (Windows: the canonical pin name, `BPF:\\…`). */
  readonly root: string;
  /** Files on bpffs (Linux) or names in eBPF-for-Windows' pin table (`BPF:\\a\\b`). */
  readonly style: PinStyle;

  constructor(root: string, style: PinStyle = pinStyleOf(platform)) {
    this.style = style;
    if (style === 'names') {
      try {
        this.root = joinPinName('names', root);
      } catch (err) {
        throw new ChainError('invalid', `pin root: ${(err as Error).message}`);
      }
      return;
    }
    if (typeof root !== 'string' || !isAbsolute(root)) throw new ChainError('invalid', `pin root must be an absolute path, got '${String(root)}'`);
    this.root = resolve(root);
  }

  /** `dir` and one more segment, in this layout's style. */
  #join(dir: string, segment: string): string {
    return this.style === 'names' ? joinPinName('names', dir, segment) : join(dir, segment);
  }

  #inside(...parts: string[]): string {
    if (this.style === 'names') {
      try {
        return joinPinName('names', this.root, ...parts);
      } catch (err) {
        throw new ChainError('invalid', (err as Error).message);
      }
    }
    const p = join(this.root, ...parts);
    const rel = relative(this.root, p);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new ChainError('invalid', `pin path '${p}' is not inside ${this.root}`);
    return p;
  }

  /** Directory of an element's map pins. */
  mapDir(iface: string, direction: ChainDirection, name: string, version: string): string {
    const parts = [checkIface(iface, this.style), checkSegment('program name', name), versionSegment(version)];
    return progTypeOf(direction) === 'xdp' ? this.#inside(...parts) : this.#inside('tc', 'globals', ...parts);
  }

  /** Pin path of one map of an element. */
  mapPath(iface: string, direction: ChainDirection, name: string, version: string, map: string): string {
    return this.#join(this.mapDir(iface, direction, name, version), checkSegment('map name', map));
  }

  /** Directory of an element's program pin. */
  programDir(iface: string, name: string, version: string): string {
    return this.#inside('progs', checkIface(iface, this.style), checkSegment('program name', name), versionSegment(version));
  }

  /** Pin path of an element's entry program: `<entry>_<prog_type>`. */
  programPath(iface: string, direction: ChainDirection, name: string, version: string, entry: string): string {
    return this.#join(this.programDir(iface, name, version), `${checkIdentifier('entry function', entry)}_${progTypeOf(direction)}`);
  }

  /** Pin path of an element's link (l3afd pins links for directly attached programs). */
  linkPath(iface: string, direction: ChainDirection, name: string, version: string): string {
    const file = direction === 'xdp_ingress' ? `${name}_xdp` : `${name}_tc_${direction === 'tc_ingress' ? 'ingress' : 'egress'}`;
    return this.#inside('links', checkIface(iface, this.style), checkSegment('program name', name), versionSegment(version), file);
  }

  /**
   * Pin path of a part of an element's counting step (`[l3af] chain-counting`): its program, its counter and
   * its next array, under `<root>/chain-counts/<iface>/<direction>/<name>/<version>/` (outside l3afd's layout).
   */
  countPath(iface: string, direction: ChainDirection, name: string, version: string, part: 'prog' | 'count' | 'next'): string {
    return this.#inside('chain-counts', checkIface(iface, this.style), direction, checkSegment('program name', name), versionSegment(version), part);
  }

  /** The path a replacement pin is made at while `path` is still live. */
  stagedPath(path: string): string {
    return `${path}${STAGED_SUFFIX}`;
  }

  /** Every program pin under `<root>/progs` that fits the layout (other files are ignored). */
  scanPrograms(): PinnedProgramRef[] {
    const out: PinnedProgramRef[] = [];
    const progs = join(this.root, 'progs');
    for (const iface of subdirs(progs)) {
      for (const name of subdirs(join(progs, iface))) {
        for (const ver of subdirs(join(progs, iface, name))) {
          const dir = join(progs, iface, name, ver);
          for (const file of files(dir)) {
            const staged = file.endsWith(STAGED_SUFFIX);
            const base = staged ? file.slice(0, -STAGED_SUFFIX.length) : file;
            const m = /^([A-Za-z_][A-Za-z0-9_]*)_(xdp|tc)$/.exec(base);
            if (!m) continue;
            out.push({ iface, name, versionSegment: ver, entry: m[1] as string, progType: m[2] as PinProgType, path: join(dir, file), staged });
          }
        }
      }
    }
    return out;
  }

  /**
   * Map directories of the layout: every `<root>/tc/globals/<iface>/<name>/<ver>`, and
   * `<root>/<iface>/<name>/<ver>` for the interfaces in `xdpIfaces` (other top-level directories
   * may belong to someone else, e.g. probe maps at `<root>/<name>/<ver>`).
   */
  scanMapDirs(xdpIfaces: Iterable<string>): PinnedMapDirRef[] {
    const out: PinnedMapDirRef[] = [];
    const walk = (base: string, progType: PinProgType, ifaces: Iterable<string>): void => {
      for (const iface of ifaces) {
        for (const name of subdirs(join(base, iface))) {
          for (const ver of subdirs(join(base, iface, name))) out.push({ iface, name, versionSegment: ver, progType, dir: join(base, iface, name, ver) });
        }
      }
    };
    const tcBase = join(this.root, 'tc', 'globals');
    walk(tcBase, 'tc', subdirs(tcBase));
    walk(this.root, 'xdp', [...new Set(xdpIfaces)].filter((i) => !RESERVED_TOP.has(i)));
    return out;
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

function files(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** Names of the pins (non-directories) in `dir`; empty when it does not exist. */
export function pinsIn(dir: string): string[] {
  return files(dir);
}

/** True when something exists at `path`. */
export function pinExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
