/**
 * What the engine reads from one program of a payload: whether it can be loaded on the native
 * path, and which fields differ from the stored version and what each difference demands
 * (a reload, a map rewrite, a move, or just storing it).
 */
import { isDeepStrictEqual } from 'node:util';
import { PROGRAM_KEYS, type NormalizedBpfProgram } from '../payload/index.ts';

/** Fields whose change loads the program anew (hitless replace). */
export const RELOAD_FIELDS = [
  'version', 'artifact', 'object_file', 'entry_function_name', 'map_name', 'ebpf_package_repo_url',
] as const satisfies readonly (keyof NormalizedBpfProgram)[];

/** The fields of `b` that differ from `a`, in l3afd's key order. */
export function changedFields(a: NormalizedBpfProgram, b: NormalizedBpfProgram): (keyof NormalizedBpfProgram)[] {
  return PROGRAM_KEYS.filter((k) => !isDeepStrictEqual(a[k], b[k]));
}

/** True when a change of `fields` needs the program loaded again. */
export function needsReload(fields: readonly string[]): boolean {
  return fields.some((f) => (RELOAD_FIELDS as readonly string[]).includes(f));
}

/** Reason kept for programs that run only a user program (cmd_start without object_file). */
export const USER_PROGRAM_REASON = 'a self-linking user program (cmd_start without object_file) is started by the supervisor, not loaded by the agent';
/** Reason given for a probe entry without an object file. */
export const PROBES_REASON = 'object_file is required for a probe: the ELF object whose kprobe/kretprobe/tracepoint/uprobe/uretprobe programs are attached';

/**
 * Why `p` cannot be loaded on the native path (object_file + entry_function_name, chained
 * through map_name; without chaining the program itself is attached to its hook), or undefined when it can. A program with both object_file and cmd_start
 * is native (the agent loads it) and its user program is started after it is linked in.
 */
export function nativeProblem(p: NormalizedBpfProgram, _chainingEnabled: boolean): string | undefined {
  if (p.cmd_start !== '' && p.object_file === '') return `${USER_PROGRAM_REASON} (cmd_start '${p.cmd_start}')`;
  if (p.object_file === '') return 'object_file is required: the native load path needs the ELF object of the package';
  if (p.entry_function_name === '') return 'entry_function_name is required: the ELF program to chain';
  if (p.map_name === '') return 'map_name is required: the program\'s own next-program PROG_ARRAY, through which the chain continues';
  return undefined;
}

/** Sorts programs by seq_id (stable: equal seq_ids keep their order). */
export function bySeq<T extends { seq_id: number }>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => a.seq_id - b.seq_id);
}

/** Fields whose change stops and starts the user program again (update_args alone runs cmd_update). */
export const USER_RESTART_FIELDS = [
  'version', 'artifact', 'ebpf_package_repo_url', 'cmd_start', 'cmd_stop', 'cmd_status', 'cmd_update', 'start_args', 'stop_args',
  'status_args', 'user_program_daemon', 'cpu', 'memory', 'rules', 'rules_file', 'object_file', 'map_name',
] as const satisfies readonly (keyof NormalizedBpfProgram)[];

/** The program runs a user program. */
export function hasUserProgram(p: NormalizedBpfProgram): boolean {
  return p.cmd_start !== '';
}

/** The program is a self-linking user program (cmd_start without object_file: l3afd's v1 path). */
export function isSelfLinking(p: NormalizedBpfProgram): boolean {
  return p.cmd_start !== '' && p.object_file === '';
}

/** True when a change of `fields` restarts the user program. */
export function needsUserRestart(fields: readonly string[]): boolean {
  return fields.some((f) => (USER_RESTART_FIELDS as readonly string[]).includes(f));
}
