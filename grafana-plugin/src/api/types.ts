/**
 * Wire shapes of the l3af agent's REST API. Generated from the agent's payload schemas into
 * ./wire.gen.ts (`npm run gen:plugin-types` at the repository's root; a node test fails when it is
 * stale): the plugin is its own npm project and does not import agent code. `GET /l3af/host` has no
 * schema on the agent (its facts come from systeminformation); its shape is written here.
 */

/** The four program lists of an interface, in l3afd's key order. */
export const DIRECTIONS = ['xdp_ingress', 'tc_ingress', 'tc_egress', 'probes'] as const;
export type Direction = (typeof DIRECTIONS)[number];
/** The chained hooks (probes are not chained). */
export const CHAIN_DIRECTIONS = ['xdp_ingress', 'tc_ingress', 'tc_egress'] as const;
export type ChainDirection = (typeof CHAIN_DIRECTIONS)[number];

export type {
  AddUpdateBody, Aggregator, AuditEntry, AuditPage, BpfProgram, BpfProgramNames, BpfPrograms, ChainChange, ChainElement,
  DeleteBody, DryRunResult, ErrorBody, EventMap, GetInterface, GetProgram, InterfaceChains, InterfaceResult, KernelChain,
  KeyValue, L3afBpfProgramNames, L3afBpfPrograms, MapArg, MonitorMap, MonitorMapRequest, OperationResult,
  PlanItem, Problem, ProgramArgs, ProgramResult, ProgramStatus, UserProgramView, VerifierVerdict,
} from './wire.gen';
import type { BpfProgram, ProgramResult, RepositoryPackage as WirePackage } from './wire.gen';

export type AdminStatus = BpfProgram['admin_status'];
export type ProgramOutcome = ProgramResult['outcome'];

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

/** One package the agent's repository offers (`GET /l3af/packages`), as the plugin's catalogue extends it. */
export interface RepositoryPackage extends WirePackage {
  /** A ready payload template for this package, should an agent provide one. */
  program?: Partial<BpfProgram>;
}
/** Answer of `GET /l3af/packages`. */
export interface PackagesAnswer {
  repository: string;
  platform: string;
  packages: RepositoryPackage[];
}
