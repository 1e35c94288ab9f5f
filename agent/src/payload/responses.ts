/**
 * Schemas of what the API answers (TypeBox, like the request schemas beside them): the error
 * document, the per-program operation result, and GET's l3afd shape with the live `status` the
 * agent adds to each program. The single source of these shapes: the OpenAPI document, the
 * engine's result and status types (engine/types.ts re-exports the static types below), the CLI
 * and the Grafana plugin's generated wire types all come from here.
 */
import { Type, type Static } from 'typebox';
import { NormalizedBpfProgram } from './program.ts';

/** One offending field: a JSON pointer into the request body (or path parameters) and why. */
export const Problem = Type.Object(
  {
    path: Type.String({ description: 'JSON pointer of the offending field, e.g. /0/bpf_programs/xdp_ingress/1/seq_id ("" = the whole body).' }),
    message: Type.String(),
  },
  { additionalProperties: false },
);
export type Problem = Static<typeof Problem>;

/** Body of every 4xx/5xx answer except 422 (which carries the operation result). */
export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Short description: invalid JSON, invalid request, request body too large, unsupported media type, not found, internal error.' }),
    problems: Type.Array(Problem, { description: 'Every offending field (empty when the error is not about fields).' }),
  },
  { additionalProperties: false, description: 'A rejected request; nothing was changed.' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** What an operation did to one program (engine ProgramResult). */
export const ProgramResultSchema = Type.Object(
  {
    iface: Type.String({ description: 'Interface ("" for probes).' }),
    direction: Type.Enum(['xdp_ingress', 'tc_ingress', 'tc_egress', 'probes']),
    name: Type.String(),
    outcome: Type.Enum(['added', 'updated', 'unchanged', 'removed', 'failed']),
    reason: Type.Optional(Type.String({ description: 'updated: the fields that changed; failed: why (the previous state of that program was kept).' })),
    error_code: Type.Optional(Type.Enum(['REPOSITORY_UNREACHABLE', 'REPOSITORY_TIMEOUT'], {
      description: 'failed because of the package repository, not the request: unreachable (502 when every failure is one) or timed out (504).',
    })),
  },
  { additionalProperties: false },
);
export type ProgramResult = Static<typeof ProgramResultSchema>;
export type ProgramOutcome = ProgramResult['outcome'];
/** A failure of the package repository (a gateway problem, not the client's). */
export type RepositoryErrorCode = NonNullable<ProgramResult['error_code']>;

/** A change of an interface's own fields (ipv4_address). */
export const InterfaceResultSchema = Type.Object(
  {
    iface: Type.String(),
    outcome: Type.Enum(['updated']),
    reason: Type.String({ description: 'changed: ipv4_address ("old" → "new")' }),
  },
  { additionalProperties: false },
);
export type InterfaceResult = Static<typeof InterfaceResultSchema>;

/** Body of a processed add/update/delete: 200 when no program failed, 422 otherwise. */
export const OperationResultSchema = Type.Object(
  {
    results: Type.Array(ProgramResultSchema),
    interfaces: Type.Optional(Type.Array(InterfaceResultSchema, { description: 'Interface fields the operation changed besides its programs (ipv4_address, recorded on add and update as l3afd does); absent when none changed.' })),
    warnings: Type.Optional(Type.Array(Problem, { description: 'Keys of the request that are not l3afd fields (or l3af extensions): ignored, as l3afd ignores them.' })),
  },
  { additionalProperties: false, description: 'Per program: added, updated, unchanged, removed or failed (with the reason).' },
);
/** What the engine returns for an operation (`warnings` are added by the route). */
export type OperationResult = Omit<Static<typeof OperationResultSchema>, 'warnings'>;

/** A program's supervised user program (engine UserProgramView). */
export const UserProgramSchema = Type.Object(
  {
    state: Type.Enum(['starting', 'running', 'backoff', 'stopping', 'stopped', 'failed', 'completed', 'not started'], {
      description: 'Supervisor state; failed = gave up after the restart budget; not started = not supervised.',
    }),
    running: Type.Boolean({ description: 'The process is alive (or cmd_status printed RUNNING at the last check).' }),
    pid: Type.Union([Type.Integer(), Type.Null()], { description: 'Process id while it runs.' }),
    restarts: Type.Integer({ description: 'Restarts by the supervisor after crashes.' }),
    last_exit_code: Type.Union([Type.Integer(), Type.Null()], { description: 'Exit code of its last end (null: killed by a signal, or never ended).' }),
    last_exit_signal: Type.Union([Type.String(), Type.Null()], { description: 'Signal that ended it last (e.g. SIGKILL), null when none.' }),
    limits: Type.String({ description: 'How cpu / memory are enforced: cgroup, rlimit or none.' }),
    adopted: Type.Boolean({ description: 'Adopted from a previous agent (not started by this one).' }),
    observed_limits: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'The limits as the OS reports them while it runs: the Job Object read back (QueryInformationJobObject) on Windows, cgroup files or /proc/<pid>/limits on Linux.' })),
  },
  { additionalProperties: false },
);
export type UserProgramView = Static<typeof UserProgramSchema>;

/** What is live in the kernel for one program (engine ProgramStatus). */
export const ProgramStatusSchema = Type.Object(
  {
    attached: Type.Boolean({ description: 'In the chain (linked from its predecessor / attached).' }),
    kernel_prog_id: Type.Integer({ description: 'Kernel program id, 0 when not loaded.' }),
    last_error: Type.Union([Type.String(), Type.Null()]),
    restarts: Type.Integer({ description: 'Loads again by the agent, plus restarts of its user program.' }),
    running: Type.Optional(Type.Boolean({ description: 'Programs with cmd_start (and probes): attached AND the user program running (l3afd\'s BPFRunning).' })),
    user_program: Type.Optional(UserProgramSchema),
    continues_chain: Type.Optional(Type.Boolean({ description: 'Chained programs: false when its code never tail-calls through its map_name (like L3AF\'s connection-limit); the programs after it never run.' })),
    reachable: Type.Optional(Type.Boolean({ description: 'Chained programs: traffic reaches it (false behind a program that does not continue the chain, or when not linked).' })),
    packets_entered: Type.Optional(Type.Integer({ description: 'Chained programs on a chain that counts ([l3af] chain-counting): packets that entered it (its counting step).' })),
    verifier: Type.Optional(Type.Object(
      {
        verified_insns: Type.Integer({ description: 'Instructions the verifier processed (bpf_prog_info.verified_insns).' }),
        xlated_bytes: Type.Integer({ description: 'Program size after the verifier\'s rewrites.' }),
        jited_bytes: Type.Integer({ description: 'Size of the JIT image (0 without a JIT).' }),
        load_ms: Type.Optional(Type.Number({ description: 'Wall time of loading its object (verification included); absent for a program adopted from pins.' })),
      },
      { additionalProperties: false, description: 'Chained programs: what the verifier and the JIT made of the entry program.' },
    )),
  },
  { additionalProperties: false },
);
export type ProgramStatus = Static<typeof ProgramStatusSchema>;

/** A program as GET returns it: every l3afd key, plus the agent's `status` with `?status=true`. */
export const GetProgram = Type.Object(
  { ...NormalizedBpfProgram.properties, status: Type.Optional(ProgramStatusSchema) },
  { additionalProperties: false, description: 'One program with every l3afd field; the live status only with ?status=true.' },
);

const getList = Type.Union([Type.Array(GetProgram), Type.Null()]);

/** One interface as GET returns it (l3afd `L3afBPFPrograms`; lists null when empty). */
export const GetInterface = Type.Object(
  {
    host_name: Type.String(),
    iface: Type.String(),
    ipv4_address: Type.String(),
    bpf_programs: Type.Object(
      { xdp_ingress: getList, tc_ingress: getList, tc_egress: getList, probes: getList },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, description: 'Programs of one interface in l3afd\'s shape (root programs hidden).' },
);
export type GetInterface = Static<typeof GetInterface>;

/** GET of all interfaces. */
export const GetAll = Type.Array(GetInterface, { description: 'Every interface the agent knows ([] when none); as l3afd, an interface stays after its last program goes, until an update omits it.' });

/** One element of a chain (root or program) as the kernel sees it. */
export const ChainElementSchema = Type.Object(
  {
    name: Type.String(),
    version: Type.String({ description: 'Version as loaded; for a program adopted after a restart, its pin segment (dots as underscores).' }),
    kernel_prog_id: Type.Integer({ description: 'Kernel id of the program.' }),
    slot_prog_id: Type.Union([Type.Integer(), Type.Null()], {
      description: 'What points at it, read back from the kernel: for the root, the program attached to the hook; for a program, the id in its predecessor\'s next slot (null: empty).',
    }),
    linked: Type.Boolean({ description: 'slot_prog_id equals kernel_prog_id: traffic reaches this element.' }),
    next_prog_id: Type.Union([Type.Integer(), Type.Null()], { description: 'The id in its own next slot (null: end of the chain).' }),
  },
  { additionalProperties: false },
);
export type ChainElement = Static<typeof ChainElementSchema>;

/** One chain (interface, direction). */
export const ChainSchema = Type.Object(
  {
    direction: Type.Enum(['xdp_ingress', 'tc_ingress', 'tc_egress']),
    attach_mode: Type.Enum(['drv', 'skb', 'tc', 'tcx'], { description: 'XDP: drv (native) or skb (generic); TC: tc (clsact filter) or tcx (TCX link, kernel >= 6.6).' }),
    root: ChainElementSchema,
    programs: Type.Array(ChainElementSchema, { description: 'The programs after the root, in chain order.' }),
  },
  { additionalProperties: false },
);
export type KernelChain = Static<typeof ChainSchema>;

/** Answer of `GET /l3af/chains/{iface}`. */
export const InterfaceChainsSchema = Type.Object(
  {
    iface: Type.String(),
    chains: Type.Array(ChainSchema, { description: 'Chains on the interface ([] when it has none, or is unknown).' }),
  },
  { additionalProperties: false, description: 'The chains of one interface as the kernel sees them: ids and links, no configuration.' },
);
export type InterfaceChains = Static<typeof InterfaceChainsSchema>;

/** One package the agent's repository offers (`GET /l3af/packages`). */
export const RepositoryPackage = Type.Object({
  name: Type.String(), version: Type.String(), platform: Type.String(), artifact: Type.String(), sha256: Type.Optional(Type.String()),
});
export type RepositoryPackage = Static<typeof RepositoryPackage>;

/** Answer of `GET /l3af/packages`: what the repository offers for a platform. */
export const PackagesAnswer = Type.Object({ repository: Type.String(), platform: Type.String(), packages: Type.Array(RepositoryPackage) }, { $id: 'PackagesAnswer' });
export type PackagesAnswer = Static<typeof PackagesAnswer>;
