/**
 * The plan of a whole write (add / update / delete) as data, for the dry run and the audit log:
 * per program what happens (load / replace / move / remove / unchanged / update) and per chain the
 * programs before and after. Pure: computed from the desired state, the names in the kernel chains
 * and the body, assuming every step succeeds (the write's results say what did).
 */
import { CHAIN_DIRECTIONS, type ChainDirection } from '../chain/index.ts';
import {
  normalizeProgram, type AddUpdateBody, type ChainChange, type DeleteBody, type NormalizedBpfProgram, type PlanAction, type PlanItem,
} from '../payload/index.ts';
import { omittedBy, planChain, targetFor } from './plan.ts';
import { bySeq, changedFields, isSelfLinking, nativeProblem, needsReload } from './program-diff.ts';

type P = NormalizedBpfProgram;

/** The state a change is planned against. */
export interface ChangeState {
  /** The interfaces the desired state holds. */
  readonly ifaces: readonly string[];
  /** A chain's stored list ([] when none). */
  list(iface: string, d: ChainDirection): readonly P[];
  /** Names in a kernel chain. */
  live(iface: string, d: ChainDirection): ReadonlySet<string>;
  /** The global probes: name → entry and the interface it is kept with. */
  readonly probes: ReadonlyMap<string, { readonly iface: string; readonly p: P }>;
  readonly chaining: boolean;
}

/** A plan item with the program it is about (what a dry run loads). */
export interface PlannedProgram {
  readonly item: PlanItem;
  readonly program: P;
  readonly direction: ChainDirection | 'probes';
}

export interface ChangePlan {
  readonly programs: PlannedProgram[];
  readonly chains: ChainChange[];
  readonly ifaces: string[];
}

/** l3afd's direction names (xdpingress / ingress / egress), as the contract's items carry them. */
export function wireDirection(d: ChainDirection | 'probes'): string {
  return d === 'xdp_ingress' ? 'xdpingress' : d === 'tc_ingress' ? 'ingress' : d === 'tc_egress' ? 'egress' : 'probes';
}

function item(iface: string, d: ChainDirection | 'probes', p: P, action: PlanAction): PlannedProgram {
  return { item: { iface, direction: wireDirection(d), name: p.name, version: p.version, action, seq_id: p.seq_id }, program: p, direction: d };
}

/** The target list of every chain `mode` with `body` touches. */
function targets(mode: 'add' | 'update' | 'delete', body: AddUpdateBody | DeleteBody, s: ChangeState): Map<string, Record<ChainDirection, P[]>> {
  const out = new Map<string, Record<ChainDirection, P[]>>();
  const lists = (iface: string): Record<ChainDirection, P[]> => {
    let l = out.get(iface);
    if (!l) {
      l = { xdp_ingress: [...s.list(iface, 'xdp_ingress')], tc_ingress: [...s.list(iface, 'tc_ingress')], tc_egress: [...s.list(iface, 'tc_egress')] };
      out.set(iface, l);
    }
    return l;
  };
  if (mode === 'delete') {
    for (const e of body as DeleteBody) {
      const l = lists(e.iface);
      for (const d of CHAIN_DIRECTIONS) {
        const names = e.bpf_programs?.[d] ?? [];
        if (names.length > 0) l[d] = l[d].filter((p) => !names.includes(p.name));
      }
    }
    return out;
  }
  for (const e of body as AddUpdateBody) {
    const l = lists(e.iface);
    for (const d of CHAIN_DIRECTIONS) {
      const asked = (e.bpf_programs?.[d] ?? []).map(normalizeProgram);
      if (mode === 'update') {
        const gone = omittedBy(l[d], asked);
        l[d] = l[d].filter((c) => !gone.includes(c));
      }
      for (const p of asked) {
        const ask = targetFor(mode, d, l[d], p);
        if (ask.kind === 'apply') l[d] = ask.target;
      }
    }
  }
  if (mode === 'update') {
    for (const iface of s.ifaces) {
      if ((body as AddUpdateBody).some((e) => e.iface === iface)) continue;
      const l = lists(iface);
      for (const d of CHAIN_DIRECTIONS) l[d] = [];
    }
  }
  return out;
}

/** The plan of `mode` with `body` against `s` (see the module comment). */
export function planChange(mode: 'add' | 'update' | 'delete', body: AddUpdateBody | DeleteBody, s: ChangeState): ChangePlan {
  const programs: PlannedProgram[] = [];
  const chains: ChainChange[] = [];
  const all = targets(mode, body, s);
  for (const [iface, lists] of all) {
    for (const d of CHAIN_DIRECTIONS) {
      const current = s.list(iface, d);
      const target = bySeq(lists[d]);
      if (current.length === 0 && target.length === 0) continue;
      const live = s.live(iface, d);
      const native = (l: readonly P[]): P[] => l.filter((p) => !isSelfLinking(p));
      const plan = planChain({ current: native(current), target: native(target), live, chaining: s.chaining });
      for (const step of plan.steps) {
        switch (step.kind) {
          case 'remove': programs.push(item(iface, d, step.program, 'remove')); break;
          case 'unchanged': programs.push(item(iface, d, target.find((p) => p.name === step.name) as P, 'unchanged')); break;
          case 'disable': programs.push(item(iface, d, step.to, step.live ? 'remove' : step.from ? 'update' : 'unchanged')); break;
          case 'fail': {
            const p = target.find((x) => x.name === step.name) as P;
            const pp = item(iface, d, p, current.some((c) => c.name === p.name) ? 'unchanged' : 'load');
            programs.push({ ...pp, item: { ...pp.item, verifier: { ok: false, error: step.reason } } });
            break;
          }
          case 'change': programs.push(item(iface, d, step.to, step.replace ? 'replace' : step.move ? 'move' : 'update')); break;
          case 'move': break;
          case 'load': programs.push(item(iface, d, step.to, 'load')); break;
        }
      }
      // the self-linking tail (started by the supervisor, not loaded by the agent)
      for (const c of current.filter(isSelfLinking)) if (!target.some((t) => t.name === c.name)) programs.push(item(iface, d, c, 'remove'));
      for (const t of target.filter(isSelfLinking)) {
        const c = current.find((x) => x.name === t.name);
        programs.push(item(iface, d, t, !c ? 'load' : changedFields(c, t).length === 0 ? 'unchanged' : needsReload(changedFields(c, t)) ? 'replace' : 'update'));
      }
      const runs = (p: P): boolean => p.admin_status === 'enabled' && (isSelfLinking(p) || !nativeProblem(p, s.chaining));
      const before = bySeq(current.filter((p) => live.has(p.name) || (isSelfLinking(p) && runs(p)))).map((p) => p.name);
      const after = target.filter(runs).map((p) => p.name);
      chains.push({ iface, direction: wireDirection(d), before, after });
    }
  }
  // the global probes
  if (mode === 'delete') {
    for (const e of body as DeleteBody) {
      for (const n of e.bpf_programs?.probes ?? []) {
        const w = s.probes.get(n);
        if (w) programs.push(item(e.iface, 'probes', w.p, 'remove'));
      }
    }
  } else {
    for (const e of body as AddUpdateBody) {
      for (const raw of e.bpf_programs?.probes ?? []) {
        const p = normalizeProgram(raw);
        const w = s.probes.get(p.name);
        const action: PlanAction = !w ? (p.admin_status === 'enabled' ? 'load' : 'unchanged')
          : mode === 'add' || changedFields(w.p, p).length === 0 ? 'unchanged'
            : p.admin_status !== 'enabled' ? 'remove' : 'replace';
        programs.push(item(e.iface, 'probes', p, action));
      }
    }
  }
  return { programs, chains, ifaces: [...new Set([...all.keys(), ...(body as { iface: string }[]).map((e) => e.iface)])] };
}
