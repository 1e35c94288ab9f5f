/**
 * Start-up repair of one adopted chain: makes what the kernel holds (adopted from a previous
 * agent's pins) match the stored list — extras removed, elements whose version / entry / next map
 * differ from the stored program replaced, the order put right by selection (no move at all when
 * it is right), map_args written again (repairs drift), and programs the kernel lost loaded.
 * Failures are noted on the program's runtime record (GET's last_error) and logged, never thrown.
 */
import { versionSegment, type AdoptReport, type ChainDirection, type Orphan, type ProgramSpec } from '../chain/index.ts';
import type { Logger } from '../logger.ts';
import { messageOf } from '../error-message.ts';
import type { NormalizedBpfProgram } from '../payload/index.ts';
import { chainPosition } from './plan.ts';
import { bySeq, nativeProblem } from './program-diff.ts';

type P = NormalizedBpfProgram;

/** An element of the kernel chain as the chain manager lists it. */
export interface ChainElement {
  readonly name: string;
  readonly version: string;
  readonly entry: string;
  readonly nextMapName: string;
}

export interface ReconcileContext {
  readonly iface: string;
  readonly direction: ChainDirection;
  /** The stored list of the chain. */
  readonly desired: readonly P[];
  readonly chaining: boolean;
  /** The fetched spec of a stored program (undefined: its package could not be fetched). */
  specOf(name: string): ProgramSpec | undefined;
  /** The kernel chain now, in order. */
  chain(): readonly ChainElement[];
  unlink(name: string): Promise<void>;
  /** Replaces the element `name` by `spec` with fresh maps. */
  replace(name: string, spec: ProgramSpec): Promise<void>;
  move(name: string, position: number): Promise<void>;
  writeMapArgs(p: P): void;
  insert(p: P, position: number): Promise<void>;
  runtime(name: string): { lastError: string | null; restarts: number };
  readonly log: {
    info(obj: Record<string, unknown>, msg: string): void;
    warn(obj: Record<string, unknown>, msg: string): void;
  };
}

/** Makes the adopted chain match the stored list (see the module comment). */
export async function reconcileChain(ctx: ReconcileContext): Promise<void> {
  const { iface, direction: d, log } = ctx;
  const want = new Map(ctx.desired.filter((p) => p.admin_status === 'enabled' && !nativeProblem(p, ctx.chaining)).map((p) => [p.name, p]));
  const inChain = (name: string): boolean => ctx.chain().some((el) => el.name === name);
  const note = (name: string, err: unknown, what: string): void => {
    ctx.runtime(name).lastError = `${what}: ${messageOf(err)}`;
    log.warn({ iface, direction: d, name, err: messageOf(err) }, what);
  };
  // extras, and programs whose kernel element is not what is stored
  for (const el of [...ctx.chain()]) {
    const p = want.get(el.name);
    if (!p) {
      try {
        await ctx.unlink(el.name);
        log.info({ iface, direction: d, name: el.name }, 'removed a program the desired state does not hold');
      } catch (err) {
        note(el.name, err, 'removing an unwanted program failed');
      }
      continue;
    }
    if (versionSegment(el.version) === versionSegment(p.version) && el.entry === p.entry_function_name && el.nextMapName === p.map_name) continue;
    const spec = ctx.specOf(p.name);
    if (!spec) continue; // its package could not be fetched: the running one stays (last_error says why)
    try {
      await ctx.replace(el.name, spec);
      ctx.runtime(p.name).restarts++;
      log.info({ iface, direction: d, name: p.name }, 'replaced a program whose kernel version differed from the stored one');
    } catch (err) {
      note(p.name, err, 'repairing the program failed');
    }
  }
  // order: selection into seq_id order (no move at all when the adopted order is right)
  const order = bySeq([...want.values()]).map((p) => p.name).filter((n) => inChain(n));
  for (let i = 0; i < order.length; i++) {
    const name = order[i] as string;
    if (ctx.chain()[i]?.name === name) continue;
    try {
      await ctx.move(name, i);
      log.info({ iface, direction: d, name, position: i }, 'moved a program to its seq_id place');
    } catch (err) {
      note(name, err, 'moving the program to its seq_id place failed');
      break;
    }
  }
  // map_args again (repairs drift; the same values are harmless), then programs that are missing
  const seqOf = (n: string): number => want.get(n)?.seq_id ?? Number.MAX_SAFE_INTEGER;
  for (const p of bySeq([...want.values()])) {
    try {
      if (inChain(p.name)) {
        ctx.writeMapArgs(p);
      } else if (ctx.specOf(p.name)) {
        await ctx.insert(p, chainPosition(ctx.chain().map((el) => el.name), p.seq_id, seqOf, p.name));
        ctx.runtime(p.name).restarts++;
        log.info({ iface, direction: d, name: p.name }, 'loaded a stored program the kernel did not hold');
      }
    } catch (err) {
      note(p.name, err, 'loading the stored program failed');
    }
  }
}

/** What {@link adoptAtStart} needs of the engine: the chain manager's adoption, and the desired state. */
export interface AdoptContext {
  /** Adopts what the previous agent pinned (the chain manager's adopt). */
  adopt(): Promise<AdoptReport>;
  removeOrphan(o: Orphan): void;
  /** The kernel chains and their programs, in order. */
  chains(): readonly { readonly iface: string; readonly direction: ChainDirection }[];
  programs(iface: string, direction: ChainDirection): readonly { readonly name: string }[];
  /** Unlinks and unloads one program of a chain. */
  remove(iface: string, direction: ChainDirection, name: string): Promise<void>;
  /** How many programs the desired state lists on a chain (0: the chain is not wanted at all). */
  wanted(iface: string, direction: ChainDirection): number;
  /** Whether `name` on `iface` is a self-linking user program (its pins are the user program's, not orphans). */
  selfLinked(iface: string, name: string): boolean;
  readonly log: Logger;
}

/**
 * Start-up adoption: the chains a previous agent left are taken over as they are, orphaned pins
 * (programs no chain reaches) are removed, and chains the desired state does not have at all are
 * emptied. Per-chain repair ({@link reconcileChain}) follows. Nothing here throws: what fails is logged.
 */
export async function adoptAtStart(ctx: AdoptContext): Promise<void> {
  const report = await ctx.adopt();
  for (const p of report.problems) ctx.log.warn({ problem: p }, 'adopt');
  for (const c of report.chains) ctx.log.info({ iface: c.iface, direction: c.direction, programs: c.programs.map((p) => `${p.name}#${p.id}`) }, 'chain adopted');
  for (const o of report.orphans) {
    if (ctx.selfLinked(o.iface, o.name)) continue; // the pins of a self-linking user program (not loaded by the agent)
    try {
      ctx.removeOrphan(o);
      ctx.log.info({ iface: o.iface, name: o.name, version: o.versionSegment, reason: o.reason }, 'orphaned pins removed');
    } catch (err) {
      ctx.log.warn({ iface: o.iface, name: o.name, err: messageOf(err) }, 'orphaned pins could not be removed');
    }
  }
  for (const { iface, direction } of ctx.chains()) {
    if (ctx.wanted(iface, direction) > 0) continue;
    for (const el of [...ctx.programs(iface, direction)].reverse()) {
      await ctx.remove(iface, direction, el.name).catch((err: unknown) => ctx.log.warn({ iface, direction, name: el.name, err: messageOf(err) }, 'removing an unwanted program failed'));
    }
  }
}
