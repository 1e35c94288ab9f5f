/**
 * Where a probe program attaches, from its ELF section (l3afd's convention) or from explicit
 * fields, and the attach options each kind needs. Pure: nothing here touches the kernel.
 *
 * Section forms: `kprobe/<fn>[+<offset>]`, `kretprobe/<fn>`, `tracepoint/<category>/<name>` (or
 * `tp/...`), `uprobe/<path>:<symbol>[+<offset>]`, `uretprobe/<path>:<symbol>` (the path may hold
 * `/`; the symbol is what follows the last `:`).
 * Explicit form (proposed schema field `probe`): `{ kind, target }` with `target` written as the
 * part of the section after `<kind>/`.
 */
import { parseProbeSection, type ProbeTarget, type UprobeTarget } from '../bpf/index.ts';

/** The probe kinds. */
export type ProbeKind = 'kprobe' | 'kretprobe' | 'tracepoint' | 'uprobe' | 'uretprobe';
export const PROBE_KINDS: readonly ProbeKind[] = ['kprobe', 'kretprobe', 'tracepoint', 'uprobe', 'uretprobe'];

/** An explicit probe (proposed payload field): overrides the section of `program` (default: every probe program). */
export interface ExplicitProbe {
  readonly kind: ProbeKind;
  /** `fn[+off]`, `category/name`, or `/path/to/binary:symbol[+off]`. */
  readonly target: string;
  /** The program (function) it applies to; needed when the object has several probe programs. */
  readonly program?: string;
  /** uprobe/uretprobe: only this process (default every process). */
  readonly pid?: number;
}

/** One attachment to make: program, target and options. */
export interface ProbePlan {
  readonly program: string;
  readonly target: ProbeTarget;
  /** Byte offset from the function start (kprobe) or from the symbol (uprobe); 0 = none. */
  readonly offset: number;
  /** uprobe only; -1 = every process. */
  readonly pid: number;
}

/** A section or explicit target that cannot be attached. */
export class ProbeTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProbeTargetError';
  }
}

const OFFSET = /^(.*?)\+(0x[0-9a-fA-F]+|\d+)$/;

function splitOffset(s: string): { base: string; offset: number } {
  const m = OFFSET.exec(s);
  if (!m) return { base: s, offset: 0 };
  const offset = Number(m[2]);
  if (!Number.isSafeInteger(offset)) throw new ProbeTargetError(`offset in '${s}' is too large`);
  return { base: m[1] as string, offset };
}

/** Parses `<kind>/<rest>`; undefined when `section` is not a probe section. */
export function probeFromSection(section: string): { target: ProbeTarget; offset: number } | undefined {
  const slash = section.indexOf('/');
  if (slash < 0) return undefined;
  const kind = section.slice(0, slash);
  const rest = section.slice(slash + 1);
  if (kind === 'kprobe' || kind === 'uprobe') {
    const { base, offset } = splitOffset(rest);
    const t = parseProbeSection(`${kind}/${base}`);
    return t ? { target: t, offset } : undefined;
  }
  const t = parseProbeSection(section);
  return t ? { target: t, offset: 0 } : undefined;
}

/** Parses an explicit probe; throws a clear error on a malformed target. */
export function probeFromExplicit(p: ExplicitProbe): { target: ProbeTarget; offset: number } {
  if (!PROBE_KINDS.includes(p.kind)) throw new ProbeTargetError(`probe kind '${String(p.kind)}' is not one of ${PROBE_KINDS.join(', ')}`);
  if ((p.kind === 'kretprobe' || p.kind === 'uretprobe') && OFFSET.test(p.target)) throw new ProbeTargetError(`${p.kind} target '${p.target}': a return probe takes no offset`);
  const parsed = probeFromSection(`${p.kind}/${p.target}`);
  if (!parsed) {
    const form = p.kind === 'tracepoint' ? 'category/name' : p.kind.startsWith('k') ? 'function[+offset]' : '/path/to/binary:symbol[+offset]';
    throw new ProbeTargetError(`${p.kind} target '${p.target}' is not of the form ${form}`);
  }
  return parsed;
}

/** A probe target as text, e.g. `kprobe/do_unlinkat`, `uprobe//lib/libc.so.6:getpid+0x4`. */
export function describeTarget(t: ProbeTarget, offset = 0): string {
  const off = offset ? `+0x${offset.toString(16)}` : '';
  switch (t.kind) {
    case 'kprobe':
    case 'kretprobe':
      return `${t.kind}/${t.fn}${off}`;
    case 'tracepoint':
      return `tracepoint/${t.category}/${t.name}`;
    case 'uprobe':
    case 'uretprobe':
      return `${t.kind}/${t.binary}:${t.symbol}${off}`;
  }
}

/** Program types that are network hooks (attached by the chain, not here). */
const NETWORK_TYPES = new Set(['xdp', 'sched_cls', 'sched_act']);

/** What {@link planProbes} decided. */
export interface ProbePlanning {
  readonly plans: ProbePlan[];
  /** Network programs (xdp/tc) left to the chain. */
  readonly network: string[];
}

/**
 * Decides which programs of an object attach where: an explicit probe for a program wins over
 * its section; a non-network program with neither is an error (l3afd: "unsupported").
 */
export function planProbes(programs: ReadonlyArray<{ readonly name: string; readonly section: string; readonly type: string }>, explicit: readonly ExplicitProbe[] = []): ProbePlanning {
  const plans: ProbePlan[] = [];
  const network: string[] = [];
  const byProgram = new Map<string, ExplicitProbe>();
  for (const e of explicit) {
    const prog = e.program ?? (explicit.length === 1 ? undefined : '');
    if (prog === '') throw new ProbeTargetError('with several explicit probes, each must name its program');
    if (prog !== undefined && !programs.some((p) => p.name === prog)) throw new ProbeTargetError(`explicit probe for program '${prog}': the object has no such program (it has ${programs.map((p) => p.name).join(', ')})`);
    byProgram.set(prog ?? '*', e);
  }
  const candidates = programs.filter((p) => {
    if (NETWORK_TYPES.has(p.type)) {
      network.push(p.name);
      return false;
    }
    return true;
  });
  for (const p of candidates) {
    const e = byProgram.get(p.name) ?? (byProgram.has('*') && candidates.length === 1 ? byProgram.get('*') : undefined);
    if (e) {
      const { target, offset } = probeFromExplicit(e);
      plans.push({ program: p.name, target, offset, pid: e.pid ?? -1 });
      continue;
    }
    const s = probeFromSection(p.section);
    if (!s) throw new ProbeTargetError(`program '${p.name}' (section '${p.section}', type ${p.type}) is not a kprobe/kretprobe/tracepoint/uprobe/uretprobe section and has no explicit probe`);
    plans.push({ program: p.name, target: s.target, offset: s.offset, pid: -1 });
  }
  if (byProgram.has('*') && candidates.length !== 1) throw new ProbeTargetError(`an explicit probe without a program needs an object with exactly one probe program (it has ${candidates.length})`);
  return { plans, network };
}

/** The options attachKprobe takes for a kprobe/kretprobe plan. */
export function kprobeOptions(plan: ProbePlan): { fn: string; retprobe: boolean; offset: number } {
  if (plan.target.kind !== 'kprobe' && plan.target.kind !== 'kretprobe') throw new ProbeTargetError(`${plan.target.kind} is not a kprobe`);
  return { fn: plan.target.fn, retprobe: plan.target.kind === 'kretprobe', offset: plan.offset };
}

/** The target attachUprobe takes for a uprobe/uretprobe plan. */
export function uprobeOptions(plan: ProbePlan): UprobeTarget {
  if (plan.target.kind !== 'uprobe' && plan.target.kind !== 'uretprobe') throw new ProbeTargetError(`${plan.target.kind} is not a uprobe`);
  return {
    binary: plan.target.binary, symbol: plan.target.symbol, retprobe: plan.target.kind === 'uretprobe',
    ...(plan.offset ? { offset: plan.offset } : {}), ...(plan.pid >= 0 ? { pid: plan.pid } : {}),
  };
}
