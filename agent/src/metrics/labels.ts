/**
 * Label sets of a program's series: ours (Prometheus conventions) and l3afd's (for existing
 * dashboards). Both are derived from the same program identity.
 */
import type { PayloadDirection, ProgramRef } from '../observer/program.ts';

/** Labels every per-program series of ours carries. */
export type ProgramLabels = {
  host: string;
  program: string;
  direction: string;
  interface: string;
  ipv4_address: string;
};

/** The label names of {@link ProgramLabels}, in exposition order. */
export const PROGRAM_LABEL_NAMES = ['host', 'program', 'direction', 'interface', 'ipv4_address'] as const;

/** l3afd's labels (`ebpf_program`, `interface_name`). */
export type L3afdLabels = {
  host: string;
  ebpf_program: string;
  direction: string;
  interface_name: string;
  ipv4_address: string;
};

/** l3afd's label names, in its order. */
export const L3AFD_LABEL_NAMES = ['host', 'ebpf_program', 'direction', 'interface_name', 'ipv4_address'] as const;

/**
 * l3afd's direction spelling: `xdpingress`, `ingress`, `egress`, and empty for probes (the payload
 * lists are `xdp_ingress`, `tc_ingress`, `tc_egress`, `probes`).
 */
export function l3afdDirection(d: PayloadDirection): string {
  switch (d) {
    case 'xdp_ingress': return 'xdpingress';
    case 'tc_ingress': return 'ingress';
    case 'tc_egress': return 'egress';
    case 'probes': return '';
  }
}

/** Our labels of a program. */
export function programLabels(p: ProgramRef, host: string): ProgramLabels {
  return { host, program: p.name, direction: p.direction, interface: p.iface, ipv4_address: p.ipv4 };
}

/** l3afd's labels of a program. */
export function l3afdLabels(p: ProgramRef, host: string): L3afdLabels {
  return { host, ebpf_program: p.name, direction: l3afdDirection(p.direction), interface_name: p.iface, ipv4_address: p.ipv4 };
}

/** Identity of a program slot: one program name on one hook of one interface. */
export function programKey(p: Pick<ProgramRef, 'iface' | 'direction' | 'name'>): string {
  return `${p.iface}\u0000${p.direction}\u0000${p.name}`;
}
