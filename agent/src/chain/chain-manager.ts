/**
 * Chains of programs per (interface, direction), kept hitless: every change is built and linked
 * onward first, then switched in with ONE atomic write to the predecessor's next-program slot,
 * and only then is the old program released. A failed operation leaves the chain as it was.
 *
 * The root program of a chain is loaded, pinned and attached with the chain's first program and
 * detached and unpinned with its last. After a restart, {@link ChainManager.adopt} rebuilds the
 * chains from the pins alone, without touching the data plane.
 */
import {
  BpfError, BpfProgram, type BpfMap, attachTc, attachTcx, detachTcx, tcxProgId, updateTcx, attachXdp, detachTc, detachXdp, ifindex, queryTc, queryXdp, unpin, type XdpMode,
} from '../bpf/index.ts';
import type { ProgramFigures } from '../observer/program.ts';
import { ChainProgram, checkSpec, pruneEmptyDirs, type ChainPlace, type ProgramSpec } from './chain-program.ts';
import { ChainError, messageOf } from './errors.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import {
  CHAIN_DIRECTIONS, PinLayout, STAGED_SUFFIX, checkSegment, pinExists, pinsIn, progTypeOf,
  type ChainDirection, type PinProgType, type PinnedProgramRef,
} from './pin-layout.ts';
import { dirname, join } from 'node:path';

/** The root program of each direction (l3afd's `[xdp-root]` and `[tc-root]`). */
export type RootSpecs = Readonly<Record<ChainDirection, ProgramSpec>>;

export interface ChainManagerOptions {
  /** l3afd's `BpfMapDefaultPath`: a directory on a mounted bpffs. */
  readonly pinRoot: string;
  readonly roots: RootSpecs;
  /** XDP attach mode of roots. Default `drv`. */
  readonly xdpMode?: XdpMode;
  /** With `drv`, fall back to `skb` when the driver refuses native XDP. Default true. */
  readonly xdpFallbackToSkb?: boolean;
  /** TC filter handle and priority of roots on clsact. Default 1 and 1. */
  readonly tcHandle?: number;
  readonly tcPriority?: number;
  /**
   * l3afd's `bpf-chaining-enabled = false`: no roots; each hook holds one program attached directly
   * (its next array is left empty). A chain is then that one program: {@link ChainDescription.root}
   * and its only element are the program itself. Default false.
   */
  readonly direct?: boolean;
  /**
   * How TC hooks are attached: `clsact` (a bpf filter in direct-action mode at tcHandle/tcPriority) or
   * `tcx` (a TCX link, kernel >= 6.6, pinned at l3afd's link path). Default `clsact`.
   */
  readonly tcAttach?: 'clsact' | 'tcx';
  /**
   * Per-program packet counts inside chains (`[l3af] chain-counting`): a counting step (the object at
   * `objectPath`, programs/src/count_step.bpf.c) is placed before each program loaded on a chain for which
   * `where` is true. Programs already in a chain keep what they have until they are loaded again.
   */
  readonly countSteps?: { readonly objectPath: string; readonly where: (iface: string, direction: ChainDirection) => boolean };
}

/** One element as the kernel sees it. */
export interface ElementState {
  readonly name: string;
  readonly version: string;
  readonly entry: string;
  /** Kernel id of the element's program. */
  readonly id: number;
  /**
   * What points at this element, read back from the kernel: for the root, the id attached to
   * the hook; for a program, the id its predecessor's next slot holds.
   */
  readonly slotId: number | undefined;
  /** slotId === id: traffic reaches this element. */
  readonly linked: boolean;
  /** The id its own next slot holds (undefined: end of the chain). */
  readonly nextId: number | undefined;
  readonly adopted: boolean;
  /** False when its code never tail-calls through its next array: nothing after it runs (L3AF's connection-limit). */
  readonly continues: boolean;
  /** Traffic reaches it: the hook runs the root, and every element before it is linked and continues. */
  readonly reachable: boolean;
  /** With chain counting: the kernel id of its counting step and the packets that entered it (summed over CPUs). */
  readonly counted?: { readonly stepId: number; readonly packets: bigint };
  /** The verifier's and JIT's figures (the object's load time when this agent loaded it). */
  readonly figures: ProgramFigures;
}

/** A chain as the kernel sees it. */
export interface ChainDescription {
  readonly iface: string;
  readonly direction: ChainDirection;
  /** `drv` / `skb` for XDP, `tc` for a clsact filter, `tcx` for a TCX link. */
  readonly attachMode: XdpMode | 'tc' | 'tcx';
  readonly root: ElementState;
  /** The programs after the root, in chain order. */
  readonly programs: ElementState[];
}

/** Pins that no chain reaches: left behind by a crash or by someone else. */
export interface Orphan {
  readonly iface: string;
  readonly name: string;
  readonly versionSegment: string;
  /** Undefined for a map directory without a program pin. */
  readonly entry: string | undefined;
  readonly progType: PinProgType;
  readonly reason: string;
  readonly paths: string[];
}

/** What {@link ChainManager.adopt} found. */
export interface AdoptReport {
  readonly chains: ChainDescription[];
  readonly orphans: Orphan[];
  /** Things that did not fit (a slot holding a program without pins, …); the chains stop there. */
  readonly problems: string[];
}

/** An adopted element, as shown to {@link AdoptOptions.objectPathFor}. */
export interface AdoptedRef {
  readonly iface: string;
  readonly direction: ChainDirection;
  readonly name: string;
  readonly versionSegment: string;
  readonly entry: string;
}

export interface AdoptOptions {
  /** The object file of an adopted program, when the caller knows it (needed to move it later). */
  readonly objectPathFor?: (ref: AdoptedRef) => string | undefined;
}

/** Options of {@link ChainManager.replace}. */
export interface ReplaceOptions {
  /** Let the new program use the old one's maps (except the next array), so state carries over. Default false. */
  readonly keepMaps?: boolean;
}

interface Chain {
  readonly iface: string;
  readonly direction: ChainDirection;
  root: ChainProgram;
  programs: ChainProgram[];
  attachMode: XdpMode | 'tc' | 'tcx';
  /** The pinned TCX link (attachMode `tcx`). */
  linkPin?: string;
}

function keyOf(iface: string, direction: ChainDirection): string {
  return `${iface}/${direction}`;
}

function checkDirection(direction: ChainDirection): ChainDirection {
  if (!CHAIN_DIRECTIONS.includes(direction)) throw new ChainError('invalid', `direction must be one of ${CHAIN_DIRECTIONS.join(', ')}, got '${String(direction)}'`);
  return direction;
}

function tcDir(direction: ChainDirection): 'ingress' | 'egress' {
  return direction === 'tc_egress' ? 'egress' : 'ingress';
}

function specOf(p: ChainProgram): ProgramSpec {
  if (p.objectPath === undefined) {
    throw new ChainError('invalid', `program '${p.name}' on ${p.iface} ${p.direction} was adopted from pins and its object file is unknown, so it cannot be rebuilt`);
  }
  return { name: p.name, version: p.version, objectPath: p.objectPath, entry: p.entry, nextMap: p.nextMapName };
}

function ifaceExists(iface: string): boolean {
  try {
    ifindex(iface);
    return true;
  } catch {
    return false;
  }
}

function programIdAt(path: string): number | undefined {
  try {
    using p = BpfProgram.openPinned(path);
    return p.info().id;
  } catch {
    return undefined;
  }
}

export class ChainManager {
  readonly layout: PinLayout;
  readonly #roots: RootSpecs;
  readonly #xdpMode: XdpMode;
  readonly #xdpFallback: boolean;
  readonly #tcHandle: number;
  readonly #tcPriority: number;
  /** bpf-chaining-enabled = false: one program per hook, attached directly. */
  readonly direct: boolean;
  readonly #tcAttach: 'clsact' | 'tcx';
  readonly #countSteps: ChainManagerOptions['countSteps'];
  readonly #chains = new Map<string, Chain>();
  readonly #mutex = new KeyedMutex();
  #gate: Promise<unknown> = Promise.resolve();

  constructor(opts: ChainManagerOptions) {
    this.layout = new PinLayout(opts.pinRoot);
    for (const d of CHAIN_DIRECTIONS) {
      if (!opts.roots?.[d]) throw new ChainError('invalid', `root program for ${d} is missing`);
      checkSpec(opts.roots[d]);
    }
    this.#roots = opts.roots;
    this.#xdpMode = opts.xdpMode ?? 'drv';
    if (this.#xdpMode !== 'drv' && this.#xdpMode !== 'skb') throw new ChainError('invalid', `xdpMode must be 'drv' or 'skb', got '${String(this.#xdpMode)}'`);
    this.#xdpFallback = opts.xdpFallbackToSkb ?? true;
    this.#tcHandle = opts.tcHandle ?? 1;
    this.#tcPriority = opts.tcPriority ?? 1;
    this.direct = opts.direct ?? false;
    this.#tcAttach = opts.tcAttach ?? 'clsact';
    this.#countSteps = opts.countSteps;
  }

  #locked<T>(iface: string, direction: ChainDirection, task: () => T): Promise<T> {
    checkSegment('interface', iface);
    checkDirection(direction);
    return this.#gate.then(() => this.#mutex.run(keyOf(iface, direction), task));
  }

  /** Chains that exist, as (interface, direction) pairs. */
  chains(): Array<{ iface: string; direction: ChainDirection }> {
    return [...this.#chains.values()].map((c) => ({ iface: c.iface, direction: c.direction }));
  }

  /** The in-memory elements of a chain (root excluded), in order; empty when there is no chain. */
  programs(iface: string, direction: ChainDirection): readonly ChainProgram[] {
    return this.#chains.get(keyOf(iface, direction))?.programs ?? [];
  }

  #chain(iface: string, direction: ChainDirection): Chain {
    const c = this.#chains.get(keyOf(iface, direction));
    if (!c) throw new ChainError('not_found', `no chain on ${iface} ${direction}`);
    return c;
  }

  #index(chain: Chain, name: string): number {
    const i = chain.programs.findIndex((p) => p.name === name);
    if (i < 0) throw new ChainError('not_found', `no program '${name}' in the chain on ${chain.iface} ${chain.direction}`);
    return i;
  }

  /** Refuses a name that would share pins with another element. */
  #checkName(iface: string, direction: ChainDirection, name: string, except?: ChainProgram): void {
    for (const d of CHAIN_DIRECTIONS) {
      if (this.#roots[d].name === name) throw new ChainError('conflict', `'${name}' is the name of the ${d} root program`);
    }
    const clash = (d: ChainDirection): ChainProgram | undefined =>
      this.#chains.get(keyOf(iface, d))?.programs.find((p) => p.name === name && p !== except);
    if (clash(direction)) throw new ChainError('conflict', `program '${name}' is already in the chain on ${iface} ${direction}`);
    // the same name on the other TC direction is fine (L3AF's ipfix-flow-exporter, traffic-mirroring): l3afd pins
    // both in one directory, so pins that would collide are refused at load and same-named maps are shared
  }

  /** Pins every live element except `except` holds (what a load must not pin over, or a removal unpin). */
  #heldPins(except?: ChainProgram): Set<string> {
    const out = new Set<string>();
    for (const c of this.#chains.values()) {
      for (const p of [c.root, ...c.programs]) if (p !== except) for (const path of p.pinPaths) out.add(path);
    }
    return out;
  }

  /**
   * Load options for `spec` on (iface, direction): the pins other elements hold, and the maps of the same
   * program on the other TC direction (shared, as l3afd's common map directory makes them). Close `lent` after.
   */
  #loadOptions(iface: string, direction: ChainDirection, spec: ProgramSpec, except?: ChainProgram): { foreignPins: Set<string>; sharedMaps?: ReadonlyMap<string, BpfMap>; close(): void } {
    const foreignPins = this.#heldPins(except);
    if (progTypeOf(direction) !== 'tc') return { foreignPins, close: () => undefined };
    const other: ChainDirection = direction === 'tc_ingress' ? 'tc_egress' : 'tc_ingress';
    const twin = this.#chains.get(keyOf(iface, other))?.programs.find((p) => p.name === spec.name && p.version === spec.version);
    if (!twin) return { foreignPins, close: () => undefined };
    const lent = twin.reusableMaps();
    const shared = new Map([...lent.maps].filter(([n]) => n !== spec.nextMap && !n.includes('.') && foreignPins.has(this.layout.mapPath(iface, direction, spec.name, spec.version, n))));
    return { foreignPins, sharedMaps: shared, close: () => lent.close() };
  }

  #loadElement(place: ChainPlace, spec: ProgramSpec, opts: { reuseMaps?: ReadonlyMap<string, BpfMap> } = {}, except?: ChainProgram): ChainProgram {
    const lo = this.#loadOptions(place.iface, place.direction, spec, except);
    const steps = this.#countSteps;
    // the instance it replaces (a new version, a moved copy) hands on its counter: the count goes on
    const countStep = steps && !this.direct && steps.where(place.iface, place.direction)
      ? { objectPath: steps.objectPath, reuseCount: except?.name === spec.name ? except.counter?.count : undefined } : undefined;
    try {
      return ChainProgram.load(this.layout, place, spec, { ...opts, foreignPins: lo.foreignPins, ...(lo.sharedMaps ? { sharedMaps: lo.sharedMaps } : {}), ...(countStep ? { countStep } : {}) });
    } finally {
      lo.close();
    }
  }

  /**
   * Points `pred`'s next slot from `expected` to `to` with one atomic write and reads it back.
   * Refuses when the slot does not hold `expected` (the kernel differs from what we know).
   */
  #switch(pred: ChainProgram, to: ChainProgram | undefined, expected: ChainProgram | undefined): void {
    const before = pred.nextId();
    if (before !== expected?.entryId) {
      throw new ChainError('state', `next slot of '${pred.name}' on ${pred.iface} ${pred.direction} holds ${before ?? 'nothing'}, expected ${expected?.entryId ?? 'nothing'}`);
    }
    try {
      pred.linkTo(to);
    } catch (err) {
      try {
        pred.linkTo(expected);
      } catch {
        // the write failed and left the slot as it was, or the restore failed too: report the first error
      }
      throw err instanceof ChainError ? err : new ChainError('kernel', `switching '${pred.name}' to '${to?.name ?? 'nothing'}': ${messageOf(err)}`, { cause: err });
    }
  }

  /**
   * Inserts a program at `position` (0 = right after the root; default: at the end). The first
   * program of a chain also loads, pins and attaches the root.
   */
  insert(iface: string, direction: ChainDirection, spec: ProgramSpec, position?: number): Promise<ElementState> {
    return this.#locked(iface, direction, () => {
      checkSpec(spec);
      this.#checkName(iface, direction, spec.name);
      const place = { iface, direction };
      const chain = this.#chains.get(keyOf(iface, direction));
      if (this.direct && chain) {
        throw new ChainError('conflict', `bpf-chaining-enabled is false: one program per hook, and '${chain.root.name}' is attached to ${iface} ${direction}`);
      }
      if (!chain) {
        if (position !== undefined && position !== 0) throw new ChainError('invalid', `position ${position} is out of range: the chain on ${iface} ${direction} is empty`);
        return this.#element(this.direct ? this.#createDirect(place, spec) : this.#create(place, spec), 0);
      }
      const pos = position ?? chain.programs.length;
      if (!Number.isInteger(pos) || pos < 0 || pos > chain.programs.length) {
        throw new ChainError('invalid', `position ${pos} is out of range 0..${chain.programs.length}`);
      }
      const el = this.#loadElement(place, spec);
      try {
        const succ = chain.programs[pos];
        el.linkTo(succ);
        this.#switch(pos === 0 ? chain.root : chain.programs[pos - 1] as ChainProgram, el, succ);
      } catch (err) {
        el.discard();
        throw err;
      }
      chain.programs.splice(pos, 0, el);
      el.promote(); // after the switch: a failure here is reported, the chain stays switched
      return this.#element(chain, pos);
    });
  }

  #create(place: ChainPlace, spec: ProgramSpec): Chain {
    if (!ifaceExists(place.iface)) throw new ChainError('not_found', `no interface named '${place.iface}'`);
    const root = ChainProgram.load(this.layout, place, this.#roots[place.direction]);
    let el: ChainProgram | undefined;
    try {
      el = this.#loadElement(place, spec);
      root.linkTo(el);
    } catch (err) {
      el?.discard();
      root.discard();
      throw err;
    }
    let attachMode: XdpMode | 'tc' | 'tcx';
    try {
      attachMode = this.#attach(place, root);
    } catch (err) {
      el.discard();
      root.discard();
      throw err;
    }
    const chain: Chain = { iface: place.iface, direction: place.direction, root, programs: [el], attachMode, ...(attachMode === 'tcx' ? { linkPin: this.#linkPinOf(place, root) } : {}) };
    this.#chains.set(keyOf(place.iface, place.direction), chain);
    root.promote(); // stale pins of a crashed run, if any, are replaced only now that the root is attached
    el.promote();
    return chain;
  }

  /** Chaining disabled: loads the program and attaches it to the hook itself. */
  #createDirect(place: ChainPlace, spec: ProgramSpec): Chain {
    if (!ifaceExists(place.iface)) throw new ChainError('not_found', `no interface named '${place.iface}'`);
    const el = this.#loadElement(place, spec);
    let attachMode: XdpMode | 'tc' | 'tcx';
    try {
      attachMode = this.#attach(place, el);
    } catch (err) {
      el.discard();
      throw err;
    }
    const chain: Chain = { iface: place.iface, direction: place.direction, root: el, programs: [el], attachMode, ...(attachMode === 'tcx' ? { linkPin: this.#linkPinOf(place, el) } : {}) };
    this.#chains.set(keyOf(place.iface, place.direction), chain);
    el.promote();
    return chain;
  }

  /** Chaining disabled: swaps the attached program for `el` atomically (XDP replace with the expected old one, TC filter replace). */
  #reattach(chain: Chain, el: ChainProgram): void {
    const old = chain.root;
    try {
      if (chain.direction === 'xdp_ingress') {
        attachXdp({ iface: chain.iface, program: el.program, mode: chain.attachMode === 'skb' ? 'skb' : 'drv', expectedOld: old.program });
      } else if (chain.attachMode === 'tcx' && chain.linkPin !== undefined) {
        updateTcx(chain.linkPin, el.program, old.program); // the link keeps its pin (named after the first version)
      } else {
        attachTc({ iface: chain.iface, direction: tcDir(chain.direction), program: el.program, handle: this.#tcHandle, priority: this.#tcPriority, replace: true });
      }
    } catch (err) {
      throw new ChainError('kernel', `replacing the program attached to ${chain.iface} ${chain.direction}: ${messageOf(err)}`, { cause: err });
    }
  }

  /** l3afd's pin of the TCX link of the program attached to a TC hook. */
  #linkPinOf(place: ChainPlace, p: { name: string; version: string }): string {
    return this.layout.linkPath(place.iface, place.direction, p.name, p.version);
  }

  #attach(place: ChainPlace, root: ChainProgram): XdpMode | 'tc' | 'tcx' {
    const wrap = (err: unknown): ChainError => {
      const code = err instanceof BpfError && (err.code === 'EBUSY' || err.code === 'EEXIST') ? 'conflict' : 'kernel';
      return new ChainError(code, `attaching the root of ${place.iface} ${place.direction}: ${messageOf(err)}`, { cause: err });
    };
    if (place.direction === 'xdp_ingress') {
      try {
        attachXdp({ iface: place.iface, program: root.program, mode: this.#xdpMode, expectedOld: null });
        return this.#xdpMode;
      } catch (err) {
        // EOPNOTSUPP (95, named ENOTSUP by Node), EINVAL, or the kernel-internal ENOTSUPP (524)
        const refused = err instanceof BpfError && [95, 22, 524].includes(err.errno);
        if (this.#xdpMode !== 'drv' || !this.#xdpFallback || !refused) throw wrap(err);
      }
      try {
        attachXdp({ iface: place.iface, program: root.program, mode: 'skb', expectedOld: null });
        return 'skb';
      } catch (err) {
        throw wrap(err);
      }
    }
    try {
      if (this.#tcAttach === 'tcx') {
        const pin = this.#linkPinOf(place, root);
        detachTcx(pin); // a stale link of a crashed run (a live chain would have been adopted)
        attachTcx({ iface: place.iface, direction: tcDir(place.direction), program: root.program, pinPath: pin });
        return 'tcx';
      }
      attachTc({ iface: place.iface, direction: tcDir(place.direction), program: root.program, handle: this.#tcHandle, priority: this.#tcPriority });
      return 'tc';
    } catch (err) {
      throw wrap(err);
    }
  }

  /** The id attached to the chain's hook, from the kernel (undefined: none or no interface). */
  #attachedId(iface: string, direction: ChainDirection, linkPin?: string): number | undefined {
    if (!ifaceExists(iface)) return undefined;
    if (direction === 'xdp_ingress') return queryXdp(iface).progId || undefined;
    const viaLink = linkPin === undefined ? undefined : tcxProgId(linkPin);
    return viaLink ?? queryTc({ iface, direction: tcDir(direction), handle: this.#tcHandle, priority: this.#tcPriority });
  }

  #detach(chain: Chain): void {
    if (chain.attachMode === 'tcx' && chain.linkPin !== undefined) {
      try {
        detachTcx(chain.linkPin);
      } catch (err) {
        throw new ChainError('kernel', `detaching the TCX link of ${chain.iface} ${chain.direction}: ${messageOf(err)}`, { cause: err });
      }
      pruneEmptyDirs(dirname(chain.linkPin), this.layout.root);
      return;
    }
    const attached = this.#attachedId(chain.iface, chain.direction);
    if (attached !== chain.root.id) return; // gone with the interface, or someone else's program now
    try {
      if (chain.direction === 'xdp_ingress') {
        detachXdp({ iface: chain.iface, ...(chain.attachMode === 'drv' || chain.attachMode === 'skb' ? { mode: chain.attachMode } : {}), expectedOld: chain.root.program });
      } else {
        detachTc({ iface: chain.iface, direction: tcDir(chain.direction), handle: this.#tcHandle, priority: this.#tcPriority });
      }
    } catch (err) {
      throw new ChainError('kernel', `detaching the root of ${chain.iface} ${chain.direction}: ${messageOf(err)}`, { cause: err });
    }
  }

  /**
   * Removes a program: its predecessor's slot is pointed at its successor in one write (or
   * emptied at the end), then it is unpinned. The last program takes the root with it.
   */
  remove(iface: string, direction: ChainDirection, name: string): Promise<void> {
    return this.#locked(iface, direction, () => {
      const chain = this.#chain(iface, direction);
      const i = this.#index(chain, name);
      const el = chain.programs[i] as ChainProgram;
      if (chain.programs.length === 1) {
        this.#detach(chain);
        this.#chains.delete(keyOf(iface, direction));
        el.remove(this.#heldPins(el));
        if (chain.root !== el) chain.root.remove(this.#heldPins(chain.root));
        return;
      }
      this.#switch(i === 0 ? chain.root : chain.programs[i - 1] as ChainProgram, chain.programs[i + 1], el);
      chain.programs.splice(i, 1);
      el.remove(this.#heldPins(el));
    });
  }

  /**
   * Moves a program to `position` (its index after the move). The programs between the old and
   * the new place are rebuilt as new instances that keep their maps, linked in the new order
   * behind the untouched tail, and switched in with one write at the first changed position:
   * every packet crosses either the old order or the new one, each program exactly once.
   */
  move(iface: string, direction: ChainDirection, name: string, position: number): Promise<void> {
    return this.#locked(iface, direction, () => {
      const chain = this.#chain(iface, direction);
      const i = this.#index(chain, name);
      const old = chain.programs;
      if (!Number.isInteger(position) || position < 0 || position >= old.length) {
        throw new ChainError('invalid', `position ${position} is out of range 0..${old.length - 1}`);
      }
      const order = old.filter((_, k) => k !== i);
      order.splice(position, 0, old[i] as ChainProgram);
      const lo = Math.min(i, position);
      const hi = Math.max(i, position);
      if (lo === hi) return;
      const copies: ChainProgram[] = [];
      try {
        for (let k = hi; k >= lo; k--) {
          const orig = order[k] as ChainProgram;
          const spec = specOf(orig);
          const lent = orig.reusableMaps();
          let copy: ChainProgram;
          try {
            copy = this.#loadElement({ iface, direction }, spec, { reuseMaps: lent.maps }, orig);
          } finally {
            lent.close();
          }
          copies.unshift(copy);
          copy.linkTo(k === hi ? old[hi + 1] : copies[1]);
        }
        this.#switch(lo === 0 ? chain.root : old[lo - 1] as ChainProgram, copies[0], old[lo]);
      } catch (err) {
        for (const c of copies) c.discard();
        throw err;
      }
      for (const c of copies) c.promote();
      for (let k = lo; k <= hi; k++) {
        const orig = order[k] as ChainProgram;
        orig.retire(copies[k - lo] as ChainProgram, this.#heldPins(orig));
      }
      chain.programs = [...old.slice(0, lo), ...copies, ...old.slice(hi + 1)];
    });
  }

  /**
   * Replaces program `name` by `spec` (a new version, or the same with any field changed): the
   * new program is loaded and linked to the successor, switched in with one write, and the old
   * one is released.
   */
  replace(iface: string, direction: ChainDirection, name: string, spec: ProgramSpec, opts: ReplaceOptions = {}): Promise<ElementState> {
    return this.#locked(iface, direction, () => {
      checkSpec(spec);
      const chain = this.#chain(iface, direction);
      const i = this.#index(chain, name);
      const old = chain.programs[i] as ChainProgram;
      this.#checkName(iface, direction, spec.name, old);
      const lent = opts.keepMaps ? old.reusableMaps() : undefined;
      let el: ChainProgram;
      try {
        el = this.#loadElement({ iface, direction }, spec, lent ? { reuseMaps: lent.maps } : {}, old);
      } finally {
        lent?.close();
      }
      try {
        if (this.direct) {
          this.#reattach(chain, el);
        } else {
          el.linkTo(chain.programs[i + 1]);
          this.#switch(i === 0 ? chain.root : chain.programs[i - 1] as ChainProgram, el, old);
        }
      } catch (err) {
        el.discard();
        throw err;
      }
      el.promote();
      if (this.direct) chain.root = el;
      chain.programs[i] = el;
      old.retire(el, this.#heldPins(old));
      return this.#element(chain, i);
    });
  }

  #state(p: ChainProgram, slotId: number | undefined, reachable: boolean): ElementState {
    // linked: the predecessor's slot holds the element's entry (its counting step, which holds the program)
    const step = p.counter;
    const linked = slotId === p.entryId && (step === undefined || step.nextId() === p.id);
    return {
      name: p.name, version: p.version, entry: p.entry, id: p.id, slotId, linked, nextId: p.nextId(), adopted: p.adopted,
      continues: p.continues, reachable: reachable && linked, figures: p.figures,
      ...(step ? { counted: { stepId: step.id, packets: step.packets() } } : {}),
    };
  }

  #element(chain: Chain, i: number): ElementState {
    return this.#describe(chain).programs[i] as ElementState;
  }

  #describe(chain: Chain): ChainDescription {
    const root = this.#state(chain.root, this.#attachedId(chain.iface, chain.direction, chain.linkPin), true);
    if (this.direct) return { iface: chain.iface, direction: chain.direction, attachMode: chain.attachMode, root, programs: [root] };
    const programs: ElementState[] = [];
    let prev = chain.root;
    let reach = root.reachable;
    for (const p of chain.programs) {
      const el = this.#state(p, prev.nextId(), reach);
      programs.push(el);
      reach = el.reachable && el.continues;
      prev = p;
    }
    return { iface: chain.iface, direction: chain.direction, attachMode: chain.attachMode, root, programs };
  }

  /** The chain as the kernel sees it: ids, and what each slot (and the hook) actually holds. */
  describe(iface: string, direction: ChainDirection): ChainDescription {
    return this.#describe(this.#chain(iface, checkDirection(direction)));
  }

  /**
   * Rebuilds the chains from the pins alone (for a fresh manager after a restart): for each
   * interface and direction whose pinned root is the program attached to the hook, follows root
   * slot → program id → that program's pinned next array → … Nothing is attached or relinked;
   * an operation interrupted after its switch has its staged pins renamed into place. Pinned
   * programs no chain reaches are reported as orphans (see {@link removeOrphan}).
   */
  adopt(opts: AdoptOptions = {}): Promise<AdoptReport> {
    const run = this.#gate.then(() => this.#adopt(opts));
    this.#gate = run.catch(() => undefined);
    return run;
  }

  #adopt(opts: AdoptOptions): AdoptReport {
    if (this.#chains.size > 0) throw new ChainError('conflict', 'adopt() is for a fresh manager: this one already has chains');
    if (this.direct) return this.#adoptDirect(opts);
    const refs = this.layout.scanPrograms();
    const ids = new Map<string, number | undefined>();
    const idOf = (r: PinnedProgramRef): number | undefined => {
      if (!ids.has(r.path)) ids.set(r.path, programIdAt(r.path));
      return ids.get(r.path);
    };
    const live = new Set<string>();
    const problems: string[] = [];
    const orphanReasons = new Map<string, string>();
    const made: Chain[] = [];
    try {
      for (const iface of [...new Set(refs.map((r) => r.iface))]) {
        const exists = ifaceExists(iface);
        for (const direction of CHAIN_DIRECTIONS) {
          const rs = this.#roots[direction];
          const type = progTypeOf(direction);
          const rootRefs = refs.filter((r) => r.iface === iface && r.name === rs.name && r.entry === rs.entry && r.progType === type);
          if (rootRefs.length === 0) continue;
          const linkPins = rootRefs.map((r) => this.layout.linkPath(iface, direction, r.name, r.versionSegment));
          const viaLink = exists ? linkPins.find((l) => tcxProgId(l) !== undefined) : undefined;
          const attached = exists ? this.#attachedId(iface, direction, viaLink) : undefined;
          const rootRef = rootRefs.find((r) => attached !== undefined && idOf(r) === attached);
          if (!rootRef) {
            const why = exists ? `root of ${direction} is pinned but not attached` : `interface '${iface}' does not exist`;
            for (const r of rootRefs) orphanReasons.set(r.path, why);
            continue;
          }
          const place = { iface, direction };
          const root = ChainProgram.adopt(this.layout, place, { name: rootRef.name, version: rootRef.versionSegment, entry: rootRef.entry, nextMap: rs.nextMap, staged: rootRef.staged });
          live.add(rootRef.path);
          const chain: Chain = {
            iface, direction, root, programs: [],
            attachMode: direction === 'xdp_ingress' ? (queryXdp(iface).attached === 'skb' ? 'skb' : 'drv') : viaLink !== undefined ? 'tcx' : 'tc',
            ...(viaLink !== undefined ? { linkPin: viaLink } : {}),
          };
          made.push(chain);
          let prev = root;
          for (let slot = prev.nextId(); slot !== undefined; slot = prev.nextId()) {
            // the slot holds the program, or the counting step placed before it (chain counting)
            const stepIdOf = (r: PinnedProgramRef): number | undefined => programIdAt(this.layout.countPath(iface, direction, r.name, r.versionSegment, 'prog'));
            const ref = refs.find((r) => r.iface === iface && r.progType === type && !live.has(r.path) && idOf(r) === slot)
              ?? refs.find((r) => r.iface === iface && r.progType === type && !live.has(r.path) && stepIdOf(r) === slot);
            if (!ref) {
              problems.push(`${iface} ${direction}: the next slot of '${prev.name}' holds program ${slot}, which has no pins; the chain is known up to '${prev.name}'`);
              break;
            }
            const el = ChainProgram.adopt(this.layout, place, { name: ref.name, version: ref.versionSegment, entry: ref.entry, staged: ref.staged });
            live.add(ref.path);
            chain.programs.push(el);
            el.objectPath = opts.objectPathFor?.({ iface, direction, name: el.name, versionSegment: ref.versionSegment, entry: el.entry });
            prev = el;
          }
          for (const p of [root, ...chain.programs]) p.promote();
          if (chain.programs.length === 0) problems.push(`${iface} ${direction}: the root is attached but no program follows it`);
        }
      }
    } catch (err) {
      for (const c of made) for (const p of [c.root, ...c.programs]) p.close();
      throw err;
    }
    for (const c of made) this.#chains.set(keyOf(c.iface, c.direction), c);
    return { chains: made.map((c) => this.#describe(c)), orphans: this.#orphans(refs, live, orphanReasons), problems };
  }

  /** Chaining disabled: each pinned program that is the one attached to a hook of its interface is that hook's chain. */
  #adoptDirect(opts: AdoptOptions): AdoptReport {
    const refs = this.layout.scanPrograms();
    const live = new Set<string>();
    const made: Chain[] = [];
    const problems: string[] = [];
    try {
      for (const ref of refs) {
        if (ref.staged || !ifaceExists(ref.iface)) continue;
        const id = programIdAt(ref.path);
        const linkOf = (d: ChainDirection): string | undefined => {
          if (d === 'xdp_ingress') return undefined;
          const l = this.layout.linkPath(ref.iface, d, ref.name, ref.versionSegment);
          return tcxProgId(l) === id ? l : undefined;
        };
        const direction = CHAIN_DIRECTIONS.find((d) => progTypeOf(d) === ref.progType && !made.some((c) => c.iface === ref.iface && c.direction === d) && id !== undefined && this.#attachedId(ref.iface, d, linkOf(d)) === id);
        if (direction === undefined) continue;
        const linkPin = linkOf(direction);
        const place = { iface: ref.iface, direction };
        const el = ChainProgram.adopt(this.layout, place, { name: ref.name, version: ref.versionSegment, entry: ref.entry });
        el.objectPath = opts.objectPathFor?.({ iface: ref.iface, direction, name: el.name, versionSegment: ref.versionSegment, entry: el.entry });
        live.add(ref.path);
        made.push({
          iface: ref.iface, direction, root: el, programs: [el],
          attachMode: direction === 'xdp_ingress' ? (queryXdp(ref.iface).attached === 'skb' ? 'skb' : 'drv') : linkPin !== undefined ? 'tcx' : 'tc',
          ...(linkPin !== undefined ? { linkPin } : {}),
        });
      }
    } catch (err) {
      for (const c of made) c.root.close();
      throw err;
    }
    for (const c of made) this.#chains.set(keyOf(c.iface, c.direction), c);
    return { chains: made.map((c) => this.#describe(c)), orphans: this.#orphans(refs, live, new Map()), problems };
  }

  #livePins(): Set<string> {
    const out = new Set<string>();
    for (const c of this.#chains.values()) for (const p of [c.root, ...c.programs]) for (const path of p.pinPaths) out.add(path);
    return out;
  }

  #orphans(refs: PinnedProgramRef[], live: Set<string>, reasons: Map<string, string>): Orphan[] {
    const owned = this.#livePins();
    const out: Orphan[] = [];
    const seenDirs = new Set<string>();
    for (const r of refs) {
      if (live.has(r.path) || owned.has(r.path) || !pinExists(r.path)) continue;
      const direction: ChainDirection = r.progType === 'xdp' ? 'xdp_ingress' : 'tc_ingress';
      const mapDir = this.layout.mapDir(r.iface, direction, r.name, r.versionSegment);
      seenDirs.add(mapDir);
      const maps = pinsIn(mapDir).filter((f) => f.endsWith(STAGED_SUFFIX) === r.staged).map((f) => join(mapDir, f)).filter((p) => !owned.has(p));
      out.push({
        iface: r.iface, name: r.name, versionSegment: r.versionSegment, entry: r.entry, progType: r.progType,
        reason: reasons.get(r.path) ?? (r.staged ? 'staged pin of an operation that did not switch' : 'no chain reaches it'),
        paths: [r.path, ...maps],
      });
    }
    for (const d of this.layout.scanMapDirs(refs.map((r) => r.iface))) {
      if (seenDirs.has(d.dir)) continue;
      const paths = pinsIn(d.dir).map((f) => join(d.dir, f)).filter((p) => !owned.has(p));
      const hasLive = pinsIn(d.dir).some((f) => owned.has(join(d.dir, f)));
      if (paths.length === 0 || hasLive) continue;
      out.push({ iface: d.iface, name: d.name, versionSegment: d.versionSegment, entry: undefined, progType: d.progType, reason: 'map pins without a program pin', paths });
    }
    return out;
  }

  /** Unpins an orphan's pins (never one a chain uses) and removes the directories left empty. */
  removeOrphan(orphan: Orphan): void {
    const owned = this.#livePins();
    for (const p of orphan.paths) {
      if (owned.has(p)) throw new ChainError('conflict', `${p} belongs to a live chain`);
      const rel = p.startsWith(`${this.layout.root}/`);
      if (!rel) throw new ChainError('invalid', `${p} is not under the pin root ${this.layout.root}`);
    }
    for (const p of orphan.paths) {
      unpin(p);
      pruneEmptyDirs(dirname(p), this.layout.root);
    }
  }

  /** Releases every file descriptor; pins, attachments and the data plane stay as they are. */
  close(): void {
    for (const c of this.#chains.values()) for (const p of [c.root, ...c.programs]) p.close();
    this.#chains.clear();
  }
}
