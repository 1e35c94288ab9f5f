/**
 * Roots of chains that hold only self-linking user programs (l3afd's v1 path: `cmd_start` without
 * `object_file`). The ChainManager attaches a root with a chain's first program it loads itself;
 * a user program that links itself needs the root before it starts. These roots are loaded from
 * the same root packages, pinned under their own layout (`<pinRoot>/user-roots/...`, so the
 * ChainManager never mistakes them for its own) and attached to the hook.
 *
 * A root is handed over (detached and unpinned) before the ChainManager loads a program into
 * that chain, and taken back when the chain's last agent-loaded program goes while a user
 * program stays. Both hand-overs stop and restart the user program around them (not hitless).
 */
import { join } from 'node:path';
import {
  BpfError, attachTc, attachXdp, detachTc, detachXdp, queryTc, queryXdp,
} from '../bpf/index.ts';
import { ChainProgram, PinLayout, type ChainDirection, type ProgramSpec, type RootSpecs } from '../chain/index.ts';

const TC_HANDLE = 1;
const TC_PRIORITY = 1;

function tcDir(d: ChainDirection): 'ingress' | 'egress' {
  return d === 'tc_ingress' ? 'ingress' : 'egress';
}

/** What is attached to the hook of (iface, direction): a program id, or undefined. */
export function hookProgramId(iface: string, direction: ChainDirection): number | undefined {
  try {
    if (direction === 'xdp_ingress') return queryXdp(iface).progId || undefined;
    return queryTc({ iface, direction: tcDir(direction), handle: TC_HANDLE, priority: TC_PRIORITY });
  } catch {
    return undefined;
  }
}

/** Agent-held roots of user-program-only chains. */
export class UserRoots {
  /** The layout these roots are pinned in. */
  readonly layout: PinLayout;
  readonly #roots: RootSpecs;
  readonly #held = new Map<string, ChainProgram>();

  constructor(pinRoot: string, roots: RootSpecs) {
    this.layout = new PinLayout(join(pinRoot, 'user-roots'));
    this.#roots = roots;
  }

  #key(iface: string, d: ChainDirection): string {
    return `${iface}/${d}`;
  }

  /** The held root of (iface, direction), if any. */
  get(iface: string, d: ChainDirection): ChainProgram | undefined {
    return this.#held.get(this.#key(iface, d));
  }

  /** Pin path of the root's next-program array (the user program's `--map-name`). */
  nextMapPin(iface: string, d: ChainDirection): string {
    const spec = this.#roots[d];
    return this.layout.mapPath(iface, d, spec.name, spec.version, spec.nextMap);
  }

  /** Loads, pins and attaches the root of (iface, direction) unless it is held already. */
  ensure(iface: string, d: ChainDirection): ChainProgram {
    const have = this.get(iface, d);
    if (have) return have;
    const spec: ProgramSpec = this.#roots[d];
    const root = ChainProgram.load(this.layout, { iface, direction: d }, spec);
    try {
      if (d === 'xdp_ingress') {
        try {
          attachXdp({ iface, program: root.program, mode: 'drv', expectedOld: null });
        } catch (err) {
          if (!(err instanceof BpfError && [95, 22, 524].includes(err.errno))) throw err;
          attachXdp({ iface, program: root.program, mode: 'skb', expectedOld: null });
        }
      } else {
        attachTc({ iface, direction: tcDir(d), program: root.program, handle: TC_HANDLE, priority: TC_PRIORITY });
      }
    } catch (err) {
      root.discard();
      throw err;
    }
    root.promote();
    this.#held.set(this.#key(iface, d), root);
    return root;
  }

  /** Detaches and unpins the root of (iface, direction) (when it is still the one attached). */
  release(iface: string, d: ChainDirection): void {
    const root = this.get(iface, d);
    if (!root) return;
    this.#held.delete(this.#key(iface, d));
    try {
      if (hookProgramId(iface, d) === root.id) {
        if (d === 'xdp_ingress') detachXdp({ iface, expectedOld: root.program });
        else detachTc({ iface, direction: tcDir(d), handle: TC_HANDLE, priority: TC_PRIORITY });
      }
    } finally {
      root.remove();
    }
  }

  /**
   * After an agent restart: opens the pinned roots that are still attached to their hook; pins of
   * roots that are not attached any more are removed. Returns the chains adopted.
   */
  adopt(): Array<{ iface: string; direction: ChainDirection }> {
    const out: Array<{ iface: string; direction: ChainDirection }> = [];
    for (const ref of this.layout.scanPrograms()) {
      const d: ChainDirection | undefined = ref.progType === 'xdp' ? 'xdp_ingress'
        : (['tc_ingress', 'tc_egress'] as const).find((x) => this.#roots[x].entry === ref.entry);
      if (!d || this.get(ref.iface, d)) continue;
      let root: ChainProgram;
      try {
        root = ChainProgram.adopt(this.layout, { iface: ref.iface, direction: d }, {
          name: ref.name, version: ref.versionSegment, entry: ref.entry, nextMap: this.#roots[d].nextMap, staged: ref.staged,
        });
      } catch {
        continue;
      }
      if (hookProgramId(ref.iface, d) === root.id) {
        root.promote();
        this.#held.set(this.#key(ref.iface, d), root);
        out.push({ iface: ref.iface, direction: d });
      } else {
        root.remove();
      }
    }
    return out;
  }

  /** Every held root. */
  chains(): Array<{ iface: string; direction: ChainDirection }> {
    return [...this.#held.values()].map((r) => ({ iface: r.iface, direction: r.direction }));
  }

  /** Closes the handles; roots stay attached and pinned. */
  close(): void {
    for (const r of this.#held.values()) r.close();
    this.#held.clear();
  }
}
