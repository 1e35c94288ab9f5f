/**
 * One element of a chain: an entry program and its one-slot "next program" array, pinned under
 * the pin layout. It is either loaded from an object file or adopted from its pins after a
 * restart. Closing releases file descriptors and never unpins; only {@link ChainProgram.remove}
 * (and {@link ChainProgram.retire}) take pins away.
 */
import { existsSync, renameSync, rmdirSync } from 'node:fs';
import { dirname, join, relative, isAbsolute } from 'node:path';
import { BpfError, BpfMap, BpfObject, BpfProgram, ProgArray, unpin, type ProgramInfo, type ProgramType } from '../bpf/index.ts';
import type { ProgramFigures } from '../observer/program.ts';
import { probeFromSection } from '../probes/probe-target.ts';
import { ChainError, messageOf } from './errors.ts';
import { CountStep } from './count-step.ts';
import {
  STAGED_SUFFIX, checkIdentifier, checkSegment, pinExists, pinsIn, versionSegment,
  type ChainDirection, type PinLayout,
} from './pin-layout.ts';

/** What to load: an l3afd program reduced to what the kernel needs. */
export interface ProgramSpec {
  /** Package name (a pin path segment). */
  readonly name: string;
  /** Package version (a pin path segment after dots → underscores). */
  readonly version: string;
  /** Path of the ELF object file. */
  readonly objectPath: string;
  /** The function that is the element's entry point. */
  readonly entry: string;
  /** The PROG_ARRAY through whose slot 0 the program tail-calls the next element. */
  readonly nextMap: string;
  /**
   * Runs after the program is loaded and pinned and before any traffic can reach it (before its
   * predecessor's slot points at it): e.g. writes its configuration maps. A throw aborts the
   * operation and leaves the chain as it was.
   */
  readonly prepare?: (maps: MapSource) => void;
  /**
   * Runs after {@link prepare}, still before the switch, with the loaded object. When it is given,
   * the object's probe programs (kprobe, kretprobe, tracepoint, uprobe, uretprobe sections) are
   * loaded beside the entry, sharing its maps, so the hook can attach them (l3afd attaches the
   * non-network programs of a package's collection); without it only the entry is loaded. A throw
   * aborts the load and leaves the chain as it was; whatever the hook attached is its own to undo.
   */
  readonly loaded?: (obj: BpfObject) => void;
}

/** The maps of a freshly loaded element, by name (each call opens a new fd the caller closes). */
export interface MapSource {
  /** Names of the element's pinned maps. */
  names(): string[];
  /** Opens map `name`; throws when the element has no such map. */
  open(name: string): BpfMap;
}

/** Which chain an element belongs to. */
export interface ChainPlace {
  readonly iface: string;
  readonly direction: ChainDirection;
}

/** Options of {@link ChainProgram.load}. */
export interface LoadOptions {
  /**
   * Existing maps to use instead of creating new ones, by map name (e.g. those of the instance
   * being replaced, so its state carries over). Names with a `.` may be kernel names (truncated
   * to 15 bytes). The next-program array is never reused.
   */
  readonly reuseMaps?: ReadonlyMap<string, BpfMap>;
  /**
   * Pins other live elements hold (the same program name on the other TC direction shares l3afd's
   * map directory): a map pinned there under the same name is shared (see {@link sharedMaps}); any
   * other collision is refused instead of being pinned over.
   */
  readonly foreignPins?: ReadonlySet<string>;
  /** Maps of the same program on the other TC direction, by name, used instead of new ones (not the next array). */
  readonly sharedMaps?: ReadonlyMap<string, BpfMap>;
  /**
   * Places a counting step before the program (`[l3af] chain-counting`): the step's object, and the counter of
   * the instance this one replaces (its count goes on).
   */
  readonly countStep?: { readonly objectPath: string; readonly reuseCount?: BpfMap | undefined };
}

/** Maps lent for a reload; close them once the load is done. */
export interface ReusableMaps {
  readonly maps: ReadonlyMap<string, BpfMap>;
  close(): void;
}

/** The slot of a next-program array that holds the next program (L3AF_CHAIN_SLOT). */
export const CHAIN_SLOT = 0;

const KERNEL_NAME_LEN = 15;

function kernelProgramType(direction: ChainDirection): ProgramType {
  return direction === 'xdp_ingress' ? 'xdp' : 'sched_cls';
}

/** Checks a spec's fields and returns it. */
export function checkSpec(spec: ProgramSpec): ProgramSpec {
  if (spec === null || typeof spec !== 'object') throw new ChainError('invalid', 'program spec must be an object');
  checkSegment('program name', spec.name);
  versionSegment(spec.version);
  checkIdentifier('entry function', spec.entry);
  checkIdentifier('next-program map', spec.nextMap);
  if (typeof spec.objectPath !== 'string' || spec.objectPath.length === 0) throw new ChainError('invalid', `program '${spec.name}': object path must be a non-empty string`);
  return spec;
}

function kernelError(what: string, err: unknown): ChainError {
  if (err instanceof ChainError) return err;
  return new ChainError(err instanceof BpfError ? 'kernel' : 'invalid', `${what}: ${messageOf(err)}`, { cause: err });
}

/** The verifier's and JIT's figures of a program from its info. */
function figuresOf(info: ProgramInfo): ProgramFigures {
  return { verifiedInstructions: info.verifiedInstructions, xlatedBytes: info.xlatedBytes, jitedBytes: info.jitedBytes };
}

/** A pin this element answers for: where it belongs and where it is now (staged or final). */
interface PinRecord {
  at: string;
  /** Made by this element (a rollback removes it); false for pins of maps lent by a predecessor. */
  readonly created: boolean;
}

export class ChainProgram {
  readonly iface: string;
  readonly direction: ChainDirection;
  readonly name: string;
  /** The version as given, or for an adopted element its pin segment (dots cannot be recovered). */
  readonly version: string;
  readonly entry: string;
  readonly nextMapName: string;
  /** The object file, when known (loaded elements, or adopted ones the caller told). */
  objectPath: string | undefined;
  /** The entry program. */
  readonly program: BpfProgram;
  /** Its next-program array. */
  readonly next: ProgArray;
  /** Kernel id of the entry program. */
  readonly id: number;
  /** True when this element came from pins rather than from an object file. */
  readonly adopted: boolean;
  /**
   * False when the entry program never tail-calls through its next array (its code does not use
   * the map, like L3AF's connection-limit): it is chained, but nothing after it ever runs.
   */
  readonly continues: boolean;
  /** The verifier's and JIT's figures, read once (and the object's load time when this agent loaded it). */
  readonly figures: ProgramFigures;
  /** The counting step before the program, when the chain counts (see count-step.ts). */
  #counter: CountStep | undefined;

  readonly #layout: PinLayout;
  readonly #object: BpfObject | undefined;
  readonly #nextMap: BpfMap;
  /** Final pin path → record. */
  readonly #pins = new Map<string, PinRecord>();
  #closed = false;

  private constructor(init: {
    layout: PinLayout; place: ChainPlace; name: string; version: string; entry: string; nextMapName: string;
    objectPath: string | undefined; program: BpfProgram; nextMap: BpfMap; object: BpfObject | undefined; id: number; continues: boolean;
    figures: ProgramFigures;
  }) {
    this.#layout = init.layout;
    this.iface = init.place.iface;
    this.direction = init.place.direction;
    this.name = init.name;
    this.version = init.version;
    this.entry = init.entry;
    this.nextMapName = init.nextMapName;
    this.objectPath = init.objectPath;
    this.program = init.program;
    this.#nextMap = init.nextMap;
    this.next = new ProgArray(init.nextMap);
    this.#object = init.object;
    this.id = init.id;
    this.adopted = init.object === undefined;
    this.continues = init.continues;
    this.figures = init.figures;
  }

  /** The counting step before the program, if any. */
  get counter(): CountStep | undefined {
    return this.#counter;
  }

  /** What a predecessor's next slot holds to reach this element: its counting step, or the program itself. */
  get linkTarget(): BpfProgram {
    return this.#counter?.program ?? this.program;
  }

  /** The id a predecessor's next slot holds when linked to this element. */
  get entryId(): number {
    return this.#counter?.id ?? this.id;
  }

  /** Pin path of the entry program (final, not staged). */
  get programPin(): string {
    return this.#layout.programPath(this.iface, this.direction, this.name, this.version, this.entry);
  }

  /** Directory of the element's map pins. */
  get mapDir(): string {
    return this.#layout.mapDir(this.iface, this.direction, this.name, this.version);
  }

  /** Final paths of every pin this element answers for. */
  get pinPaths(): string[] {
    return [...this.#pins.keys()];
  }

  /** True while some of its pins are still staged beside the ones they will replace. */
  get staged(): boolean {
    return [...this.#pins].some(([final, r]) => r.at !== final);
  }

  /**
   * Loads `spec` from its object file, notes whether the entry program tail-calls through the
   * next-program array ({@link continues}; l3afd chains it either way), and pins every map (except internal ones, with a `.` in the name) and
   * the entry program. A pin whose path is taken is made at `<path>.staged` instead (see
   * {@link promote}). On failure nothing stays pinned or open.
   */
  static load(layout: PinLayout, place: ChainPlace, spec: ProgramSpec, opts: LoadOptions = {}): ChainProgram {
    checkSpec(spec);
    const who = `program '${spec.name}' ${spec.version} on ${place.iface} ${place.direction}`;
    if (!existsSync(spec.objectPath)) throw new ChainError('invalid', `${who}: object file '${spec.objectPath}' does not exist`);
    let obj: BpfObject;
    try {
      obj = BpfObject.open(spec.objectPath, { programTypes: { [spec.entry]: kernelProgramType(place.direction) } });
    } catch (err) {
      throw kernelError(`${who}: cannot open '${spec.objectPath}'`, err);
    }
    let element: ChainProgram | undefined;
    try {
      if (!obj.programNames.includes(spec.entry)) {
        throw new ChainError('invalid', `${who}: '${spec.objectPath}' has no program '${spec.entry}' (it has: ${obj.programNames.join(', ') || 'none'})`);
      }
      if (!obj.mapNames.includes(spec.nextMap)) {
        throw new ChainError('invalid', `${who}: '${spec.objectPath}' has no map '${spec.nextMap}' (it has: ${obj.mapNames.join(', ') || 'none'})`);
      }
      const keep = (p: string): boolean => p === spec.entry
        || (spec.loaded !== undefined && probeFromSection(obj.programSections.get(p) ?? '') !== undefined);
      for (const p of obj.programNames) if (!keep(p)) obj.skipProgram(p);
      const reused = new Set<string>();
      for (const [name, map] of [...(opts.reuseMaps ?? []), ...[...(opts.sharedMaps ?? [])].filter(([n]) => !opts.reuseMaps?.has(n))]) {
        const target = name === spec.nextMap ? undefined
          : obj.mapNames.find((m) => m === name) ?? (name.includes('.') ? obj.mapNames.find((m) => m.includes('.') && m.slice(0, KERNEL_NAME_LEN) === name) : undefined);
        if (target === undefined || target === spec.nextMap || reused.has(target)) continue;
        obj.reuseMap(target, map);
        reused.add(target);
      }
      const t0 = performance.now();
      try {
        obj.load();
      } catch (err) {
        throw kernelError(`${who}: load failed`, err);
      }
      const loadMs = performance.now() - t0;
      const program = obj.program(spec.entry);
      const nextMap = obj.map(spec.nextMap);
      if (nextMap.type !== 'prog_array' || nextMap.maxEntries < 1) {
        throw new ChainError('invalid', `${who}: map '${spec.nextMap}' is a ${nextMap.type} of ${nextMap.maxEntries} entries, not a prog_array`);
      }
      const info = program.info();
      element = new ChainProgram({
        layout, place, name: spec.name, version: spec.version, entry: spec.entry, nextMapName: spec.nextMap,
        objectPath: spec.objectPath, program, nextMap, object: obj, id: info.id, continues: info.mapIds.includes(nextMap.id),
        figures: { ...figuresOf(info), loadMs },
      });
      const foreign = (final: string, what: string): void => {
        if (opts.foreignPins?.has(final)) {
          throw new ChainError('conflict', `${who}: ${what} pin ${final} is held by the same program on the other TC direction (l3afd's layout pins both directions in one directory: give each direction its own ${what} name)`);
        }
      };
      for (const m of obj.maps()) {
        if (m.name.includes('.')) continue;
        const final = layout.mapPath(place.iface, place.direction, spec.name, spec.version, m.name);
        if (reused.has(m.name) && pinnedMapId(final) === m.id) {
          element.#pins.set(final, { at: final, created: false });
          continue;
        }
        foreign(final, m.name === spec.nextMap ? 'next-program map' : 'map');
        element.#pin(final, (at) => m.pin(at));
      }
      foreign(element.programPin, 'entry function');
      element.#pin(element.programPin, (at) => program.pin(at));
      if (opts.countStep) {
        const el = element;
        const step = CountStep.load(opts.countStep.objectPath, place.direction, program, opts.countStep.reuseCount);
        el.#counter = step;
        step.pinAll(countPaths(layout, place, spec.name, spec.version), (final, make) => el.#pin(final, make));
      }
      spec.prepare?.(element.#mapSource());
      spec.loaded?.(obj);
      return element;
    } catch (err) {
      if (element) element.discard();
      else obj.close();
      throw kernelError(`${who}`, err);
    }
  }

  /** The element's maps through their pins (staged or final, wherever they are now). */
  #mapSource(): MapSource {
    const dir = this.mapDir;
    const byName = new Map<string, string>();
    for (const [final, rec] of this.#pins) if (final.startsWith(`${dir}/`)) byName.set(final.slice(dir.length + 1), rec.at);
    return {
      names: () => [...byName.keys()].sort(),
      open: (name) => {
        const at = byName.get(name);
        if (at === undefined) throw new ChainError('invalid', `program '${this.name}' has no map '${name}' (its maps: ${[...byName.keys()].sort().join(', ')})`);
        return BpfMap.openPinned(at);
      },
    };
  }

  #pin(final: string, make: (at: string) => void): void {
    const at = pinExists(final) ? this.#layout.stagedPath(final) : final;
    if (at !== final && pinExists(at)) unpin(at); // a staged leftover of an interrupted operation
    make(at);
    this.#pins.set(final, { at, created: true });
  }

  /**
   * Opens an element from its pins: the entry program pin and, among the pins of its map
   * directory, the prog_array the program uses (by `nextMap` name when given). Staged pins are
   * used when `staged` is set (an operation was interrupted after its switch).
   */
  static adopt(layout: PinLayout, place: ChainPlace, ref: {
    readonly name: string; readonly version: string; readonly entry: string; readonly nextMap?: string; readonly staged?: boolean;
  }): ChainProgram {
    const who = `pinned program '${ref.name}' ${ref.version} on ${place.iface} ${place.direction}`;
    const programFinal = layout.programPath(place.iface, place.direction, ref.name, ref.version, ref.entry);
    const programAt = ref.staged ? layout.stagedPath(programFinal) : programFinal;
    let program: BpfProgram;
    try {
      program = BpfProgram.openPinned(programAt);
    } catch (err) {
      throw kernelError(`${who}: cannot open ${programAt}`, err);
    }
    const opened: BpfMap[] = [];
    try {
      const info = program.info();
      if (info.type !== kernelProgramType(place.direction)) {
        throw new ChainError('state', `${who}: ${programAt} holds a ${info.type} program, not ${kernelProgramType(place.direction)}`);
      }
      const mapDir = layout.mapDir(place.iface, place.direction, ref.name, ref.version);
      const pins = new Map<string, string>();
      for (const file of pinsIn(mapDir)) {
        const isStaged = file.endsWith(STAGED_SUFFIX);
        const base = isStaged ? file.slice(0, -STAGED_SUFFIX.length) : file;
        if (isStaged && !ref.staged) continue;
        if (!isStaged && pins.has(base)) continue;
        pins.set(base, join(mapDir, file));
      }
      // its next array: the pinned prog_array the program uses; for a program that never tail-calls
      // (continues = false), the only pinned prog_array of its directory it does not use
      const used: Array<[string, BpfMap]> = [];
      const unused: Array<[string, BpfMap]> = [];
      for (const [name, at] of pins) {
        if (ref.nextMap !== undefined && name !== ref.nextMap) continue;
        let m: BpfMap;
        try {
          m = BpfMap.openPinned(at);
        } catch {
          continue;
        }
        if (m.type !== 'prog_array') m.close();
        else (info.mapIds.includes(m.id) ? used : unused).push([name, m]);
      }
      const pick = used.length > 0 ? used : unused;
      const chosen = pick.length === 1 ? pick[0] : undefined;
      for (const [, m] of [...used, ...unused]) if (m !== chosen?.[1]) m.close();
      if (chosen === undefined) {
        throw new ChainError('state', pick.length === 0
          ? `${who}: no pinned prog_array in ${mapDir} can be its next array`
          : `${who}: several pinned prog_arrays could be its next array (${pick.map(([n]) => n).join(', ')}); name it`);
      }
      const [nextName, next] = chosen;
      opened.push(next);
      const element = new ChainProgram({
        layout, place, name: ref.name, version: ref.version, entry: ref.entry, nextMapName: nextName,
        objectPath: undefined, program, nextMap: next, object: undefined, id: info.id, continues: used.length > 0,
        figures: figuresOf(info),
      });
      element.#pins.set(programFinal, { at: programAt, created: false });
      // the same name on both TC directions shares the directory: then only the maps its program uses are its own
      const twins = place.direction !== 'xdp_ingress'
        && pinsIn(dirname(programFinal)).filter((f) => /_tc(~staged)?$/.test(f) && !f.startsWith(`${ref.entry}_tc`)).length > 0;
      for (const [name, at] of pins) {
        if (twins && name !== nextName && !info.mapIds.includes(pinnedMapId(at) ?? -1)) continue;
        element.#pins.set(join(mapDir, name), { at, created: false });
      }
      // its counting step, when one was placed before it (and still counts for it)
      const finals = countPaths(layout, place, ref.name, ref.version);
      const at = (p: string): string => (ref.staged && pinExists(layout.stagedPath(p)) ? layout.stagedPath(p) : p);
      if (pinExists(at(finals.prog))) {
        const step = CountStep.adopt({ prog: at(finals.prog), count: at(finals.count), next: at(finals.next) });
        if (step && step.nextId() === info.id) {
          element.#counter = step;
          for (const p of [finals.prog, finals.count, finals.next]) element.#pins.set(p, { at: at(p), created: false });
        } else {
          step?.close();
        }
      }
      return element;
    } catch (err) {
      for (const m of opened) m.close();
      program.close();
      throw kernelError(who, err);
    }
  }

  /** The id slot 0 of the next-program array holds, read from the kernel (undefined: empty). */
  nextId(): number | undefined {
    return this.next.get(CHAIN_SLOT);
  }

  /**
   * Points slot 0 at `successor` (or empties it) — one atomic map update — and reads it back.
   * Throws a `state` error if the kernel then holds something else.
   */
  linkTo(successor: ChainProgram | undefined): void {
    if (successor) this.next.set(CHAIN_SLOT, successor.linkTarget);
    else this.next.clear(CHAIN_SLOT);
    const now = this.nextId();
    if (now !== successor?.entryId) {
      throw new ChainError('state', `${this.name}: next slot holds ${now ?? 'nothing'} after writing ${successor?.entryId ?? 'nothing'}`);
    }
  }

  /**
   * The element's maps, to be reused by a new instance of it (all except the next array): its
   * pinned maps, plus internal maps (kernel names) of the program. Close the result after use.
   */
  reusableMaps(): ReusableMaps {
    const maps = new Map<string, BpfMap>();
    const owned: BpfMap[] = [];
    try {
      if (this.#object) {
        for (const m of this.#object.maps()) if (m.name !== this.nextMapName) maps.set(m.name, m);
      } else {
        for (const [final, rec] of this.#pins) {
          if (dirname(final) !== this.mapDir) continue;
          const name = final.slice(this.mapDir.length + 1);
          if (name === this.nextMapName) continue;
          const m = BpfMap.openPinned(rec.at);
          owned.push(m);
          maps.set(name, m);
        }
        for (const id of this.program.info().mapIds) {
          const m = BpfMap.fromId(id);
          owned.push(m);
          if (m.name.includes('.') && !maps.has(m.name)) maps.set(m.name, m);
        }
      }
    } catch (err) {
      for (const m of owned) m.close();
      throw err;
    }
    return { maps, close: () => { for (const m of owned) m.close(); } };
  }

  /** Renames staged pins over the ones they replace (call once the chain has switched). */
  promote(): void {
    for (const [final, rec] of this.#pins) {
      if (rec.at === final) continue;
      renameSync(rec.at, final);
      rec.at = final;
    }
  }

  /** Releases file descriptors; the pins (and so the kernel objects) stay. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#counter?.close();
    if (this.#object) this.#object.close();
    else {
      this.#nextMap.close();
      this.program.close();
    }
  }

  /** Unpins everything this element answers for (except `keep`: pins other elements hold), removes its empty directories, and closes. */
  remove(keep: ReadonlySet<string> = new Set()): void {
    this.#unpinWhere((final) => !keep.has(final));
    this.close();
  }

  /**
   * Releases an element that `successor` replaced: unpins the pins the successor does not now
   * hold at the same paths, then closes.
   */
  retire(successor: ChainProgram, keep: ReadonlySet<string> = new Set()): void {
    this.#unpinWhere((final, rec) => !keep.has(final) && !(successor.#pins.get(final)?.at === final && rec.at === final));
    this.close();
  }

  /** Rolls back a load: unpins only what this element pinned itself, then closes. */
  discard(): void {
    this.#unpinWhere((_final, rec) => rec.created);
    this.close();
  }

  #unpinWhere(pred: (final: string, rec: PinRecord) => boolean): void {
    const dirs = new Set<string>();
    for (const [final, rec] of [...this.#pins]) {
      if (!pred(final, rec)) continue;
      unpin(rec.at);
      this.#pins.delete(final);
      dirs.add(dirname(final));
    }
    for (const d of dirs) pruneEmptyDirs(d, this.#layout.root);
  }
}

/** Where an element's counting step is pinned. */
function countPaths(layout: PinLayout, place: ChainPlace, name: string, version: string): { prog: string; count: string; next: string } {
  return {
    prog: layout.countPath(place.iface, place.direction, name, version, 'prog'),
    count: layout.countPath(place.iface, place.direction, name, version, 'count'),
    next: layout.countPath(place.iface, place.direction, name, version, 'next'),
  };
}

/** The id of the map pinned at `path`, or undefined. */
function pinnedMapId(path: string): number | undefined {
  if (!pinExists(path)) return undefined;
  try {
    using m = BpfMap.openPinned(path);
    return m.id;
  } catch {
    return undefined;
  }
}

/** Removes `dir` and its parents while they are empty, stopping at `root` (kept). */
export function pruneEmptyDirs(dir: string, root: string): void {
  let d = dir;
  for (;;) {
    const rel = relative(root, d);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return;
    try {
      rmdirSync(d);
    } catch {
      return;
    }
    d = dirname(d);
  }
}
