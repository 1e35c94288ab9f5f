/**
 * Programs the Chains page can add when the agent does not list its repository: the packages this project
 * ships (programs/packages.ts and programs/README.md), as payload templates the form starts from.
 */
import type { PackageSetting } from './package-settings';
import type { BpfProgram, ChainDirection, RepositoryPackage } from './types';

/** A program template: a package's description (its payload and its tunable settings). */
export interface ProgramTemplate {
  /** Label in the form. */
  label: string;
  /** Direction it is meant for. */
  direction: ChainDirection;
  program: BpfProgram;
  /** The map entries a user tunes, rendered as plain fields by the program form. */
  settings?: PackageSetting[];
}

/** A package as an agent may list it: with its own description of settings (else the shipped one is used). */
export type DescribedPackage = RepositoryPackage & { settings?: PackageSetting[] };

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

/**
 * The settings of a program: from the agent's listing of its package when that describes them, else from the
 * description of the package this project ships under the same name or artifact; none for other programs.
 */
export function settingsOf(p: { name: string; artifact?: string }, listed?: DescribedPackage[]): PackageSetting[] {
  const own = listed?.find((x) => x.name === p.name && x.settings)?.settings;
  if (own) {
    return own;
  }
  const t = TEMPLATES.find(
    (x) => x.program.name === p.name || (p.artifact !== undefined && x.program.artifact === p.artifact)
  );
  return t?.settings ?? [];
}

/** Map names of ratelimiting's settings. */
export const RL_CONFIG_MAP = 'rl_config_map';
export const RL_PORTS_MAP = 'rl_ports_map';

/** ratelimiting's settings: the rate in rl_config_map[0], the ports as the keys of rl_ports_map. */
export const RATELIMITING_SETTINGS: PackageSetting[] = [
  {
    id: 'rate',
    label: 'Rate (connections per second)',
    description: `${RL_CONFIG_MAP}[0]`,
    map: RL_CONFIG_MAP,
    kind: 'value',
    key: 0,
    min: 0,
    noun: 'rate',
    unit: 'connections per second',
    summarySuffix: 'per second',
    initial: 2,
  },
  {
    id: 'ports',
    label: 'Ports',
    description: `${RL_PORTS_MAP} keys, comma separated`,
    map: RL_PORTS_MAP,
    kind: 'keys',
    keyValue: 1,
    min: 1,
    max: 65535,
    noun: 'port',
  },
];

/** Templates offered by the add form. */
export const TEMPLATES: ProgramTemplate[] = [
  {
    label: 'ratelimiting (XDP)',
    direction: 'xdp_ingress',
    program: ratelimitingProgram(2, [8080, 8081]),
    settings: RATELIMITING_SETTINGS,
  },
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

