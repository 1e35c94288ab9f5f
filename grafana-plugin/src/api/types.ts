/**
 * Wire shapes of the l3af agent's REST API, written by hand from the agent's TypeBox schemas
 * (agent/src/payload/program.ts, payloads.ts, agent/src/api/responses.ts). The plugin is its own
 * npm project and does not import from agent/ at build time; keep these in step with those files.
 */

/** The four program lists of an interface, in l3afd's key order. */
export const DIRECTIONS = ['xdp_ingress', 'tc_ingress', 'tc_egress', 'probes'] as const;
export type Direction = (typeof DIRECTIONS)[number];
/** The chained hooks (probes are not chained). */
export const CHAIN_DIRECTIONS = ['xdp_ingress', 'tc_ingress', 'tc_egress'] as const;
export type ChainDirection = (typeof CHAIN_DIRECTIONS)[number];

/** One integer write into a map (`map_args[].args[]`). */
export interface KeyValue {
  key: number;
  value: number;
}
/** `map_args` element. */
export interface MapArg {
  name: string;
  args: KeyValue[] | null;
}
/** `monitor_maps` element. */
export interface MonitorMap {
  name: string;
  key: number;
  aggregator: 'scalar' | 'max-rate' | 'avg';
}
/** An argument map (`start_args` ...): name to scalar, or null. */
export type ProgramArgs = Record<string, string | number | boolean> | null;
export type AdminStatus = 'enabled' | 'disabled';

/** A program as a request carries it (l3afd BPFProgram; only name, artifact, version, admin_status required). */
export interface BpfProgram {
  id?: number;
  name: string;
  seq_id?: number;
  artifact: string;
  map_name?: string;
  cmd_start?: string;
  cmd_stop?: string;
  cmd_status?: string;
  cmd_config?: string;
  cmd_update?: string;
  version: string;
  user_program_daemon?: boolean;
  is_plugin?: boolean;
  cpu?: number;
  memory?: number;
  admin_status: AdminStatus;
  prog_type?: string;
  rules_file?: string;
  rules?: string;
  config_file_path?: string;
  cfg_version?: number;
  start_args?: ProgramArgs;
  stop_args?: ProgramArgs;
  status_args?: ProgramArgs;
  update_args?: ProgramArgs;
  map_args?: MapArg[] | null;
  config_args?: ProgramArgs;
  monitor_maps?: MonitorMap[] | null;
  ebpf_package_repo_url?: string;
  object_file?: string;
  entry_function_name?: string;
}

/** What is live in the kernel for one program (GET adds it to every program). */
export interface ProgramStatus {
  attached: boolean;
  kernel_prog_id: number;
  last_error: string | null;
  restarts: number;
}

/** A program as GET returns it: every key present, plus `status`. */
export type GetProgram = Required<BpfProgram> & { status?: ProgramStatus };

/** One interface as GET returns it (lists are null when empty). */
export interface GetInterface {
  host_name: string;
  iface: string;
  ipv4_address: string;
  bpf_programs: Record<Direction, GetProgram[] | null>;
}

/** One element of the add/update body. */
export interface L3afBpfPrograms {
  host_name: string;
  iface: string;
  ipv4_address?: string;
  bpf_programs: Partial<Record<Direction, BpfProgram[] | null>> | null;
}
export type AddUpdateBody = L3afBpfPrograms[];

/** One element of the delete body: names per list. */
export interface L3afBpfProgramNames {
  host_name: string;
  iface: string;
  ipv4_address?: string;
  bpf_programs: Partial<Record<Direction, string[] | null>> | null;
}
export type DeleteBody = L3afBpfProgramNames[];

export type ProgramOutcome = 'added' | 'updated' | 'unchanged' | 'removed' | 'failed';
/** What an operation did to one program. */
export interface ProgramResult {
  iface: string;
  direction: Direction;
  name: string;
  outcome: ProgramOutcome;
  reason?: string;
}
/** Body of a processed add/update/delete (200, or 422 when any program failed). */
export interface OperationResult {
  results: ProgramResult[];
}

/** One offending field of a refused request. */
export interface Problem {
  path: string;
  message: string;
}
/** Body of every 4xx/5xx answer except 422. */
export interface ErrorBody {
  error: string;
  problems: Problem[];
}

/** One element of a chain (root or program) as the kernel sees it (`GET /l3af/chains/:iface`). */
export interface ChainElement {
  name: string;
  version: string;
  kernel_prog_id: number;
  /** What points at it (hook or predecessor's next slot); null when empty. */
  slot_prog_id: number | null;
  /** slot_prog_id equals kernel_prog_id: traffic reaches this element. */
  linked: boolean;
  next_prog_id: number | null;
}
/** One chain (interface, direction) as the kernel holds it. */
export interface KernelChain {
  direction: ChainDirection;
  attach_mode: 'drv' | 'skb' | 'tc' | 'tcx';
  root: ChainElement;
  programs: ChainElement[];
}
/** Answer of `GET /l3af/chains/:iface` (agent/src/api/chains-routes.ts). */
export interface InterfaceChains {
  iface: string;
  chains: KernelChain[];
}

/** One network interface of the host (`GET /l3af/host`, agent/src/platform/host-facts.ts). */
export interface HostInterface {
  name: string;
  mac: string;
  operstate: string;
  mtu: number | null;
  internal: boolean;
  type: string;
  addresses: Array<{ family: string; address: string; prefix: number }>;
}
/** BPF features of the host. */
export interface BpfFeatures {
  btf: boolean;
  bpffsMounts: string[];
  bpffsMounted: boolean;
  jitEnabled: boolean;
  kernelStats: boolean;
  unprivilegedBpfDisabled?: number;
}
/** Answer of `GET /l3af/host`. */
export interface HostFacts {
  hostname: string;
  os: { platform: string; distro: string; release: string; codename: string; arch: string };
  kernel: string;
  interfaces: HostInterface[];
  bpf: BpfFeatures;
}

/** One package the agent's repository offers (`GET /l3af/packages`, agent/src/api/packages-routes.ts). */
export interface RepositoryPackage {
  name: string;
  version: string;
  artifact: string;
  platform?: string;
  sha256?: string;
  /** A ready payload template for this package, should an agent provide one. */
  program?: Partial<BpfProgram>;
}
/** Answer of `GET /l3af/packages`. */
export interface PackagesAnswer {
  repository: string;
  platform: string;
  packages: RepositoryPackage[];
}
