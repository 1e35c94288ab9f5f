/**
 * Programs the Chains page can add when the agent does not list its repository: the packages this project
 * ships (programs/packages.ts and programs/README.md), as payload templates the form starts from.
 */
import type { BpfProgram, ChainDirection } from './types';

/** A program template. */
export interface ProgramTemplate {
  /** Label in the form. */
  label: string;
  /** Direction it is meant for. */
  direction: ChainDirection;
  program: BpfProgram;
}

/** ratelimiting on XDP: `rate` connections per second to `ports` (rl_config_map[0], rl_ports_map). */
export function ratelimitingProgram(rate: number, ports: number[], seq = 1): BpfProgram {
  return {
    name: 'ratelimiting',
    seq_id: seq,
    artifact: 'l3af_ratelimiting.tar.gz',
    version: 'latest',
    admin_status: 'enabled',
    prog_type: 'xdp',
    map_name: 'xdp_rl_ingress_next_prog',
    object_file: 'ratelimiting.bpf.o',
    entry_function_name: '_xdp_ratelimiting',
    map_args: [
      { name: 'rl_config_map', args: [{ key: 0, value: rate }] },
      { name: 'rl_ports_map', args: ports.map((p) => ({ key: p, value: 1 })) },
    ],
    monitor_maps: [
      { name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' },
      { name: 'rl_recv_count_map', key: 0, aggregator: 'max-rate' },
      { name: 'rl_config_map', key: 0, aggregator: 'scalar' },
    ],
  };
}

/** Templates offered by the add form. */
export const TEMPLATES: ProgramTemplate[] = [
  { label: 'ratelimiting (XDP)', direction: 'xdp_ingress', program: ratelimitingProgram(2, [8080, 8081]) },
  {
    label: 'count-and-pass (XDP)',
    direction: 'xdp_ingress',
    program: {
      name: 'count-and-pass',
      seq_id: 1,
      artifact: 'l3af_count_and_pass.tar.gz',
      version: 'latest',
      admin_status: 'enabled',
      prog_type: 'xdp',
      map_name: 'xdp_cap_next_prog',
      object_file: 'count_and_pass.bpf.o',
      entry_function_name: 'xdp_count_and_pass',
    },
  },
];

/** Map names of ratelimiting's settings. */
export const RL_CONFIG_MAP = 'rl_config_map';
export const RL_PORTS_MAP = 'rl_ports_map';
