/**
 * The counting step of a chained program (`[l3af] chain-counting`): a tiny program of the agent's own
 * (programs/src/count_step.bpf.c) placed before the program it counts for. Its predecessor's next slot holds
 * the step; the step counts each packet in a per-CPU counter and tail-calls the program through slot 0 of its
 * own next array. So the packets that entered each program of a chain are known, although the kernel's run
 * statistics count only the program on the hook. Its pins live beside l3afd's layout (PinLayout.countPath).
 */
import { BpfMap, BpfObject, BpfProgram, ProgArray, u32, u64 } from '../bpf/index.ts';
import { ChainError, messageOf } from './errors.ts';
import type { ChainDirection } from './pin-layout.ts';

/** The step's counter map and next array, by name in its object. */
export const COUNT_MAP = 'l3af_count';
export const COUNT_NEXT = 'l3af_count_next';

const SLOT = 0;

/** The step's entry for a hook. */
function entryOf(direction: ChainDirection): string {
  return direction === 'xdp_ingress' ? 'l3af_count_xdp' : 'l3af_count_tc';
}

/** A loaded (or adopted) counting step. */
export class CountStep {
  #closed = false;
  readonly #object: BpfObject | undefined;
  readonly #owned: readonly { close(): void }[];

  private constructor(
    readonly program: BpfProgram,
    readonly next: ProgArray,
    readonly count: BpfMap,
    readonly id: number,
    object: BpfObject | undefined,
    owned: readonly { close(): void }[],
  ) {
    this.#object = object;
    this.#owned = owned;
  }

  /**
   * Loads a step for `direction` from `objectPath` (not pinned, not linked), with `reuseCount` as its counter
   * when given (a replaced instance's: its count goes on), pointed at `target`.
   */
  static load(objectPath: string, direction: ChainDirection, target: BpfProgram, reuseCount?: BpfMap): CountStep {
    let obj: BpfObject;
    try {
      obj = BpfObject.open(objectPath, { programTypes: { [entryOf(direction)]: direction === 'xdp_ingress' ? 'xdp' : 'sched_cls' } });
    } catch (err) {
      throw new ChainError('kernel', `the counting step '${objectPath}' cannot be opened: ${messageOf(err)}`, { cause: err });
    }
    try {
      for (const p of obj.programNames) if (p !== entryOf(direction)) obj.skipProgram(p);
      if (reuseCount) obj.reuseMap(COUNT_MAP, reuseCount);
      obj.load();
      const program = obj.program(entryOf(direction));
      const step = new CountStep(program, new ProgArray(obj.map(COUNT_NEXT)), obj.map(COUNT_MAP), program.info().id, obj, []);
      step.point(target);
      return step;
    } catch (err) {
      obj.close();
      throw err instanceof ChainError ? err : new ChainError('kernel', `loading the counting step: ${messageOf(err)}`, { cause: err });
    }
  }

  /** Opens a pinned step (after a restart); undefined when its pins are not all there. */
  static adopt(paths: { prog: string; count: string; next: string }): CountStep | undefined {
    const owned: { close(): void }[] = [];
    try {
      const program = BpfProgram.openPinned(paths.prog);
      owned.push(program);
      const next = BpfMap.openPinned(paths.next);
      owned.push(next);
      const count = BpfMap.openPinned(paths.count);
      owned.push(count);
      return new CountStep(program, new ProgArray(next), count, program.info().id, undefined, owned);
    } catch {
      for (const o of owned) o.close();
      return undefined;
    }
  }

  /** Points the step at `target` (one atomic write) and reads it back. */
  point(target: BpfProgram): void {
    this.next.set(SLOT, target);
    const now = this.nextId();
    const want = target.info().id;
    if (now !== want) throw new ChainError('state', `counting step: its next slot holds ${now ?? 'nothing'} after writing ${want}`);
  }

  /** The id its next slot holds (the counted program), undefined when empty. */
  nextId(): number | undefined {
    return this.next.get(SLOT);
  }

  /** Packets counted, summed over CPUs. */
  packets(): bigint {
    return this.count.typed(u32, u64).sumPerCpu(0) ?? 0n;
  }

  /** Pins program, counter and next array (each through `pin`, which may stage it beside a live pin). */
  pinAll(paths: { prog: string; count: string; next: string }, pin: (final: string, make: (at: string) => void) => void): void {
    pin(paths.prog, (at) => this.program.pin(at));
    pin(paths.count, (at) => this.count.pin(at));
    pin(paths.next, (at) => this.next.map.pin(at));
  }

  /** Releases file descriptors (the pins stay). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#object) this.#object.close();
    for (const o of this.#owned) o.close();
  }
}
