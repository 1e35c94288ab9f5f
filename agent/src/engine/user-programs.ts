/**
 * What the engine knows about user programs (a payload program's `cmd_start`): which programs
 * have one, which fields restart them, the supervisor key, and the wait for a self-linking
 * program (l3afd's v1 path: no object_file) to pin its next-program array and take its
 * predecessor's slot.
 */
import { existsSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { BpfMap, ProgArray, libbpfUnavailable } from '../bpf/index.ts';
import type { ChainDirection } from '../chain/index.ts';
import type { NormalizedBpfProgram } from '../payload/index.ts';
import { keyString } from './program-key.ts';

export { USER_RESTART_FIELDS, hasUserProgram, isSelfLinking, needsUserRestart } from './program-diff.ts';

/**
 * Why a self-linking program's BPF part can be neither loaded, linked nor checked here (no libbpf
 * API: Windows without eBPF-for-Windows), undefined when it can. Its user program still runs
 * alone, as l3afd runs `.exe` user programs on Windows: without a root and without `--map-name`.
 */
export function selfLinkBpfProblem(): string | undefined {
  const missing = libbpfUnavailable();
  return missing === null ? undefined : `the user program runs alone; its BPF part cannot be loaded, linked or checked here: ${missing}`;
}

/** Supervisor key of a chained program's user program. */
export function userKey(iface: string, direction: ChainDirection, name: string): string {
  return keyString(iface, direction, name);
}

/** The program id in slot 0 of the prog array pinned at `pin` (undefined: empty, or no such pin). */
export function slotId(pin: string): number | undefined {
  if (!existsSync(pin)) return undefined;
  try {
    using m = BpfMap.openPinned(pin);
    return new ProgArray(m).get(0) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Empties slot 0 of the array pinned at `pin` when it still holds `id`. */
export function clearSlotIf(pin: string, id: number): boolean {
  if (!existsSync(pin)) return false;
  using m = BpfMap.openPinned(pin);
  const arr = new ProgArray(m);
  if (arr.get(0) !== id) return false;
  arr.clear(0);
  return true;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until a self-linking program has pinned its own next array at `ownNextPin` (when given)
 * and slot 0 of its predecessor's array (`prevPin`) holds a program other than `before`.
 * Resolves with that program id; rejects with what was missing after `timeoutMs`.
 * `alive` stops the wait early when the user program died.
 */
export async function waitForSelfLink(opts: {
  readonly prevPin: string;
  readonly ownNextPin: string | undefined;
  readonly before: number | undefined;
  readonly timeoutMs: number;
  readonly alive: () => boolean;
}): Promise<number> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const id = slotId(opts.prevPin);
    const pinned = opts.ownNextPin === undefined || existsSync(opts.ownNextPin);
    if (id !== undefined && id !== opts.before && pinned) return id;
    if (!opts.alive()) throw new Error('the user program ended before it linked itself into the chain');
    if (Date.now() >= deadline) {
      const missing = [
        ...(pinned ? [] : [`its next-program array was not pinned at ${opts.ownNextPin ?? ''}`]),
        ...(id !== undefined && id !== opts.before ? [] : [`slot 0 of ${opts.prevPin} does not hold a new program`]),
      ];
      throw new Error(`the user program did not link itself within ${opts.timeoutMs} ms: ${missing.join('; ')}`);
    }
    await sleep(25);
  }
}

/** Same values (deep). */
export function sameProgram(a: NormalizedBpfProgram, b: NormalizedBpfProgram): boolean {
  return isDeepStrictEqual(a, b);
}
