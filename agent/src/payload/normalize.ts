/**
 * Normalisation of validated payloads to l3afd's exact output shape: every key present, in
 * l3afd's order, absent scalars at Go's zero values and absent maps/lists as `null`.
 */
import type { NormalizedBpfProgram, BpfProgram } from './program.ts';
import { normalizeMonitorMap } from './monitor-map.ts';
import { DIRECTIONS, type BpfPrograms, type L3afBpfPrograms, type NormalizedBpfPrograms, type NormalizedL3afBpfPrograms } from './payloads.ts';

/** l3afd's zero values for the optional `BPFProgram` fields. */
export const PROGRAM_DEFAULTS: Omit<NormalizedBpfProgram, 'name' | 'artifact' | 'version' | 'admin_status' | 'event_maps'> = {
  id: 0,
  seq_id: 0,
  map_name: '',
  cmd_start: '',
  cmd_stop: '',
  cmd_status: '',
  cmd_config: '',
  cmd_update: '',
  user_program_daemon: false,
  is_plugin: false,
  cpu: 0,
  memory: 0,
  prog_type: '',
  rules_file: '',
  rules: '',
  config_file_path: '',
  cfg_version: 0,
  start_args: null,
  stop_args: null,
  status_args: null,
  update_args: null,
  map_args: null,
  config_args: null,
  monitor_maps: null,
  ebpf_package_repo_url: '',
  object_file: '',
  entry_function_name: '',
};

function copyArgs<T extends object>(v: T | null | undefined): T | null {
  return v === undefined || v === null ? null : structuredClone(v);
}

/**
 * Returns a new program with every l3afd key present in l3afd's order, then `event_maps` when
 * the input sets it (absent/null = the default, left out so l3afd's shape is unchanged). The
 * input must already be schema-valid; it is not modified. `map_args[].args: null` is kept
 * (l3afd emits it too).
 */
export function normalizeProgram(p: BpfProgram): NormalizedBpfProgram {
  const d = PROGRAM_DEFAULTS;
  return {
    id: p.id ?? d.id,
    name: p.name,
    seq_id: p.seq_id ?? d.seq_id,
    artifact: p.artifact,
    map_name: p.map_name ?? d.map_name,
    cmd_start: p.cmd_start ?? d.cmd_start,
    cmd_stop: p.cmd_stop ?? d.cmd_stop,
    cmd_status: p.cmd_status ?? d.cmd_status,
    cmd_config: p.cmd_config ?? d.cmd_config,
    cmd_update: p.cmd_update ?? d.cmd_update,
    version: p.version,
    user_program_daemon: p.user_program_daemon ?? d.user_program_daemon,
    is_plugin: p.is_plugin ?? d.is_plugin,
    cpu: p.cpu ?? d.cpu,
    memory: p.memory ?? d.memory,
    admin_status: p.admin_status,
    prog_type: p.prog_type ?? d.prog_type,
    rules_file: p.rules_file ?? d.rules_file,
    rules: p.rules ?? d.rules,
    config_file_path: p.config_file_path ?? d.config_file_path,
    cfg_version: p.cfg_version ?? d.cfg_version,
    start_args: copyArgs(p.start_args),
    stop_args: copyArgs(p.stop_args),
    status_args: copyArgs(p.status_args),
    update_args: copyArgs(p.update_args),
    map_args: copyArgs(p.map_args),
    config_args: copyArgs(p.config_args),
    // l3afd decodes an absent key as Go's zero value: key 0
    monitor_maps: p.monitor_maps === undefined || p.monitor_maps === null ? null : p.monitor_maps.map(normalizeMonitorMap),
    ebpf_package_repo_url: p.ebpf_package_repo_url ?? d.ebpf_package_repo_url,
    object_file: p.object_file ?? d.object_file,
    entry_function_name: p.entry_function_name ?? d.entry_function_name,
    // l3af extension: absent and null both mean "the program's default" and are not emitted
    ...(p.event_maps === undefined || p.event_maps === null ? {} : { event_maps: structuredClone(p.event_maps) }),
  };
}

/**
 * Normalises the four lists of an interface: absent or empty lists become `null` (l3afd's
 * encoding of a nil slice), programs are normalised and kept in the given order.
 */
export function normalizePrograms(b: BpfPrograms | null | undefined): NormalizedBpfPrograms {
  const out = { xdp_ingress: null, tc_ingress: null, tc_egress: null, probes: null } as NormalizedBpfPrograms;
  if (!b) return out;
  for (const dir of DIRECTIONS) {
    const list = b[dir];
    out[dir] = list && list.length > 0 ? list.map(normalizeProgram) : null;
  }
  return out;
}

/** Normalises one interface element (GET shape): `ipv4_address` defaults to "". */
export function normalizeL3afBpfPrograms(e: L3afBpfPrograms): NormalizedL3afBpfPrograms {
  return {
    host_name: e.host_name,
    iface: e.iface,
    ipv4_address: e.ipv4_address ?? '',
    bpf_programs: normalizePrograms(e.bpf_programs),
  };
}
