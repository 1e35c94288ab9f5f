/**
 * Checks a JSON Schema cannot express, run after schema validation: uniqueness within a chain,
 * within a request and within a program's map arguments, and hook/type agreement. Pure
 * functions; each problem is reported with the JSON-pointer path of the offending field.
 */
import { CHAIN_DIRECTIONS, DIRECTIONS, type AddUpdateBody, type DeleteBody } from './payloads.ts';
import type { BpfProgram } from './program.ts';
import { monitorKeyId } from './monitor-map.ts';

/** One problem in a payload: `path` is a JSON pointer into the body (`/0/bpf_programs/xdp_ingress/1/name`). */
export interface FieldError {
  path: string;
  message: string;
}

/** The prog_type each chained list implies (`""` is also accepted and means "the list's type"). */
export const CHAIN_PROG_TYPE = { xdp_ingress: 'xdp', tc_ingress: 'tc', tc_egress: 'tc' } as const;

function checkInterfaces(body: readonly { iface: string }[], errors: FieldError[]): void {
  const seen = new Map<string, number>();
  body.forEach((e, i) => {
    const first = seen.get(e.iface);
    if (first !== undefined) {
      errors.push({ path: `/${i}/iface`, message: `duplicate interface "${e.iface}" (already at /${first}/iface); send one element per interface` });
    } else {
      seen.set(e.iface, i);
    }
  });
}

function checkProgram(p: BpfProgram, base: string, errors: FieldError[]): void {
  const mapNames = new Map<string, number>();
  (p.map_args ?? []).forEach((m, k) => {
    const first = mapNames.get(m.name);
    if (first !== undefined) {
      errors.push({ path: `${base}/map_args/${k}/name`, message: `duplicate map "${m.name}" (already at map_args/${first}); list each map once` });
    } else {
      mapNames.set(m.name, k);
    }
    const keys = new Map<number, number>();
    (m.args ?? []).forEach((kv, j) => {
      const firstKey = keys.get(kv.key);
      if (firstKey !== undefined) {
        errors.push({ path: `${base}/map_args/${k}/args/${j}/key`, message: `duplicate key ${kv.key} for map "${m.name}" (already at args/${firstKey})` });
      } else {
        keys.set(kv.key, j);
      }
    });
  });
  const monitors = new Set<string>();
  (p.monitor_maps ?? []).forEach((m, k) => {
    const id = `${m.name}\0${monitorKeyId(m)}\0${m.aggregator}`;
    if (monitors.has(id)) {
      errors.push({ path: `${base}/monitor_maps/${k}`, message: `duplicate monitor_maps entry ${m.name}/${monitorKeyId(m)}/${m.aggregator}` });
    }
    monitors.add(id);
  });
}

/**
 * Semantic checks of an add/update body: one element per interface; within each list unique
 * names, and within each chain unique `seq_id`s (absent = 0) and a `prog_type` that matches the
 * hook; within each program unique `map_args` maps and keys and unique `monitor_maps` entries.
 * Returns every problem found (empty = fine).
 */
export function checkAddUpdateSemantics(body: AddUpdateBody): FieldError[] {
  const errors: FieldError[] = [];
  checkInterfaces(body, errors);
  body.forEach((e, i) => {
    const lists = e.bpf_programs;
    if (!lists) return;
    for (const dir of DIRECTIONS) {
      const list = lists[dir];
      if (!list) continue;
      const names = new Map<string, number>();
      const seqs = new Map<number, number>();
      const chained = (CHAIN_DIRECTIONS as readonly string[]).includes(dir);
      list.forEach((p, j) => {
        const base = `/${i}/bpf_programs/${dir}/${j}`;
        const firstName = names.get(p.name);
        if (firstName !== undefined) {
          errors.push({ path: `${base}/name`, message: `duplicate program name "${p.name}" in ${dir} (already at ${dir}/${firstName})` });
        } else {
          names.set(p.name, j);
        }
        if (chained) {
          const seq = p.seq_id ?? 0;
          const firstSeq = seqs.get(seq);
          if (firstSeq !== undefined) {
            errors.push({ path: `${base}/seq_id`, message: `duplicate seq_id ${seq} in ${dir} (already used by ${dir}/${firstSeq}); chain positions must be unique` });
          } else {
            seqs.set(seq, j);
          }
          const want = CHAIN_PROG_TYPE[dir as keyof typeof CHAIN_PROG_TYPE];
          if (p.prog_type !== undefined && p.prog_type !== '' && p.prog_type !== want) {
            errors.push({ path: `${base}/prog_type`, message: `prog_type "${p.prog_type}" does not match ${dir} (expected "${want}")` });
          }
        }
        checkProgram(p, base, errors);
      });
    }
  });
  return errors;
}

/** Semantic checks of a delete body: one element per interface, each name once per list. */
export function checkDeleteSemantics(body: DeleteBody): FieldError[] {
  const errors: FieldError[] = [];
  checkInterfaces(body, errors);
  body.forEach((e, i) => {
    const lists = e.bpf_programs;
    if (!lists) return;
    for (const dir of DIRECTIONS) {
      const seen = new Set<string>();
      (lists[dir] ?? []).forEach((name, j) => {
        if (seen.has(name)) errors.push({ path: `/${i}/bpf_programs/${dir}/${j}`, message: `duplicate name "${name}" in ${dir}` });
        seen.add(name);
      });
    }
  });
  return errors;
}
