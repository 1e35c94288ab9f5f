/**
 * The request and response documents of the l3afd-compatible API (`/l3af/configs/{version}/...`),
 * built from {@link BpfProgram}: per-interface program lists, the add/update body, the delete
 * body and the restart body.
 */
import { Type, type Static } from 'typebox';
import * as P from './patterns.ts';
import { BpfProgram, NormalizedBpfProgram } from './program.ts';

/** The four program lists of an interface, in l3afd's key order. */
export const DIRECTIONS = ['xdp_ingress', 'tc_ingress', 'tc_egress', 'probes'] as const;
/** A key of {@link BpfPrograms}. */
export type Direction = (typeof DIRECTIONS)[number];
/** The three chained hooks (probes are not chained). */
export const CHAIN_DIRECTIONS = ['xdp_ingress', 'tc_ingress', 'tc_egress'] as const;
export type ChainDirection = (typeof CHAIN_DIRECTIONS)[number];

/** Upper bound of programs in one list of one request (a payload-size bound, not a kernel limit). */
export const MAX_PROGRAMS_PER_LIST = 64;
/** Upper bound of interface elements in one request. */
export const MAX_INTERFACES_PER_REQUEST = 1024;

const programList = (item: typeof BpfProgram | typeof NormalizedBpfProgram) =>
  Type.Optional(Type.Union([Type.Array(item, { maxItems: MAX_PROGRAMS_PER_LIST }), Type.Null()]));

/** `BPFPrograms`: the program lists of one interface; each list may be absent or `null`. */
export const BpfPrograms = Type.Object(
  {
    xdp_ingress: programList(BpfProgram),
    tc_ingress: programList(BpfProgram),
    tc_egress: programList(BpfProgram),
    probes: programList(BpfProgram),
  },
  { additionalProperties: false, description: 'Program lists of one interface (null or absent = none).' },
);
export type BpfPrograms = Static<typeof BpfPrograms>;

const interfaceFields = {
  host_name: Type.String({ pattern: P.HOST_NAME, description: 'Must equal this node\'s host name.' }),
  iface: Type.String({ pattern: P.IFACE, description: 'Interface name; must exist and not be loopback.' }),
  ipv4_address: Type.Optional(Type.String({ pattern: P.IPV4_OR_EMPTY, description: 'Interface address, used as a metrics label.' })),
};

/** `L3afBPFPrograms`: one element of the add/update body and of GET / the config store. */
export const L3afBpfPrograms = Type.Object(
  {
    ...interfaceFields,
    bpf_programs: Type.Union([BpfPrograms, Type.Null()], { description: 'null = no programs on this interface.' }),
  },
  { additionalProperties: false, description: 'Desired programs of one interface (l3afd L3afBPFPrograms).' },
);
export type L3afBpfPrograms = Static<typeof L3afBpfPrograms>;

/** Body of `POST /l3af/configs/{version}/add` and `/update`. */
export const AddUpdateBody = Type.Array(L3afBpfPrograms, {
  maxItems: MAX_INTERFACES_PER_REQUEST,
  description: 'One element per interface.',
});
export type AddUpdateBody = Static<typeof AddUpdateBody>;

/** `BPFPrograms` with every list present (`null` when empty), as GET returns it. */
export const NormalizedBpfPrograms = Type.Object(
  {
    xdp_ingress: Type.Union([Type.Array(NormalizedBpfProgram), Type.Null()]),
    tc_ingress: Type.Union([Type.Array(NormalizedBpfProgram), Type.Null()]),
    tc_egress: Type.Union([Type.Array(NormalizedBpfProgram), Type.Null()]),
    probes: Type.Union([Type.Array(NormalizedBpfProgram), Type.Null()]),
  },
  { additionalProperties: false },
);
export type NormalizedBpfPrograms = Static<typeof NormalizedBpfPrograms>;

/** `L3afBPFPrograms` with every key present, as GET returns it. */
export const NormalizedL3afBpfPrograms = Type.Object(
  {
    host_name: Type.String(),
    iface: Type.String(),
    ipv4_address: Type.String(),
    bpf_programs: NormalizedBpfPrograms,
  },
  { additionalProperties: false },
);
export type NormalizedL3afBpfPrograms = Static<typeof NormalizedL3afBpfPrograms>;

const nameList = Type.Optional(
  Type.Union([Type.Array(Type.String({ pattern: P.PROGRAM_NAME }), { maxItems: MAX_PROGRAMS_PER_LIST }), Type.Null()]),
);

/** `BPFProgramNames`: names to remove per list. */
export const BpfProgramNames = Type.Object(
  { xdp_ingress: nameList, tc_ingress: nameList, tc_egress: nameList, probes: nameList },
  { additionalProperties: false },
);
export type BpfProgramNames = Static<typeof BpfProgramNames>;

/** `L3afBPFProgramNames`: one element of the delete body. */
export const L3afBpfProgramNames = Type.Object(
  { ...interfaceFields, bpf_programs: Type.Union([BpfProgramNames, Type.Null()]) },
  { additionalProperties: false, description: 'Programs to remove from one interface, by name.' },
);
export type L3afBpfProgramNames = Static<typeof L3afBpfProgramNames>;

/** Body of `POST /l3af/configs/{version}/delete`. */
export const DeleteBody = Type.Array(L3afBpfProgramNames, { maxItems: MAX_INTERFACES_PER_REQUEST });
export type DeleteBody = Static<typeof DeleteBody>;

/** Body of `PUT /l3af/configs/{version}/restart` (l3afd `RestartConfig`). */
export const RestartConfig = Type.Object(
  {
    hostname: Type.String({ pattern: P.HOST_NAME, description: 'Must equal this node\'s host name.' }),
    version: Type.String({ pattern: P.RESTART_VERSION, description: 'Build to hand over to, vX.Y.Z.' }),
  },
  { additionalProperties: false },
);
export type RestartConfig = Static<typeof RestartConfig>;
