/**
 * The `BPFProgram` payload of l3afd (one element of a chain or of `probes`) and its parts, as
 * TypeBox schemas: the single source for request validation, the OpenAPI document and the
 * TypeScript types.
 *
 * Wire compatibility: every l3afd key is accepted with l3afd's JSON type; `null` is accepted
 * wherever l3afd itself emits `null` (the argument objects and the `map_args` / `monitor_maps`
 * lists). Unknown keys are ignored as l3afd ignores them, but not silently: the routes strip them
 * before validation (unknown-keys.ts, walking these same schemas) and log and answer them as
 * warnings. The schemas themselves say `additionalProperties: false` (the known keys).
 */
import { Type, type Static } from 'typebox';
import * as P from './patterns.ts';

const SAFE_INT = { minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER };

/** One integer key → integer value write into a map (`map_args[].args[]`). */
export const KeyValue = Type.Object(
  {
    key: Type.Integer({ ...SAFE_INT, description: 'Map key (an integer; written with the map\'s key width).' }),
    value: Type.Integer({ ...SAFE_INT, description: 'Value written at `key`.' }),
  },
  { additionalProperties: false },
);
export type KeyValue = Static<typeof KeyValue>;

/** `map_args` element (l3afd `L3afDMapArg`): integer writes into one map of the loaded object. */
export const MapArg = Type.Object(
  {
    name: Type.String({ pattern: P.MAP_NAME, description: 'Map name inside the loaded ELF object.' }),
    args: Type.Union([Type.Array(KeyValue, { maxItems: 65536 }), Type.Null()], {
      description: 'Key/value pairs; keys not listed are deleted from hash maps ("replace" semantics).',
    }),
  },
  { additionalProperties: false },
);
export type MapArg = Static<typeof MapArg>;

export { Aggregator, MonitorMap, MonitorMapRequest, FieldSchema, MonitorLabel, MonitorValue, KeyRange, isPlainMonitorMap, normalizeMonitorMap, monitorKeyId } from './monitor-map.ts';
import { MonitorMap, MonitorMapRequest } from './monitor-map.ts';

/** Decoders of an event map's records (`event_maps[].format`). */
export const EventFormat = Type.Enum(['raw', 'btf', 'ratelimiting'], {
  description: 'raw = `{raw: <hex>, size}`; btf = the fields of a BTF struct of the loaded object (`struct`, or the map\'s BTF value type); ratelimiting = the drop-event decoder of the ratelimiting package.',
});
export type EventFormat = Static<typeof EventFormat>;

/**
 * `event_maps` element (an l3af extension, not in l3afd): a ring buffer or perf event array of
 * the program streamed at `GET /l3af/events`.
 */
export const EventMap = Type.Object(
  {
    name: Type.String({ pattern: P.MAP_NAME, description: 'Ring buffer or perf event array map inside the loaded ELF object.' }),
    format: Type.Optional(EventFormat),
    struct: Type.Optional(Type.String({ pattern: P.C_IDENTIFIER_OR_EMPTY, description: 'BTF struct of the object that each record is (implies format btf; empty = none).' })),
  },
  { additionalProperties: false },
);
export type EventMap = Static<typeof EventMap>;

/** `admin_status` values. */
export const AdminStatus = Type.Enum(['enabled', 'disabled'], {
  description: 'enabled: run the program; disabled: stop and remove it (update) or skip it (add).',
});
export type AdminStatus = Static<typeof AdminStatus>;

/** Scalar value of a command-line argument map: rendered as `--key=value`. */
const ArgValue = Type.Union([Type.String({ maxLength: 4096 }), Type.Number(), Type.Boolean()]);

/**
 * Argument map (`start_args`, `stop_args`, `status_args`, `update_args`, `config_args`): names
 * to scalar values, or `null` (l3afd's "none").
 */
export const ProgramArgs = Type.Union(
  [
    Type.Record(Type.String({ pattern: P.ARG_KEY }), ArgValue, { additionalProperties: false, maxProperties: 256 }),
    Type.Null(),
  ],
  { description: 'Map of argument names to string/number/boolean values, each passed as --name=value; null = none.' },
);
export type ProgramArgs = Static<typeof ProgramArgs>;

/**
 * Field definitions of `BPFProgram` in l3afd's order (the Go struct order, which is also the
 * key order of l3afd's GET output). `required` marks the fields a request must carry; the rest
 * take l3afd's zero values in {@link normalizeProgram}.
 */
const programFields = {
  id: Type.Integer({ ...SAFE_INT, description: 'Echoed only (unused by l3afd). Default 0.' }),
  name: Type.String({ pattern: P.PROGRAM_NAME, description: `Package name, the program's identity within a chain. ${P.PROGRAM_NAME_RULE}.` }),
  seq_id: Type.Integer({ minimum: 0, maximum: 2147483647, description: 'Position in the chain (ascending). Default 0.' }),
  artifact: Type.String({ pattern: P.ARTIFACT, description: 'Archive file name in the repository; the part before the first "." is the top directory inside it.' }),
  map_name: Type.String({ pattern: P.C_IDENTIFIER_OR_EMPTY, description: 'This program\'s own next-program PROG_ARRAY map; empty = chain tail / no chaining map.' }),
  cmd_start: Type.String({ pattern: P.RELATIVE_PATH, description: 'User program to start (relative to the package directory).' }),
  cmd_stop: Type.String({ pattern: P.RELATIVE_PATH, description: 'User program stop command.' }),
  cmd_status: Type.String({ pattern: P.RELATIVE_PATH, description: 'User program status command (prints RUNNING).' }),
  cmd_config: Type.String({ pattern: P.RELATIVE_PATH, description: 'Config command (a stub in l3afd).' }),
  cmd_update: Type.String({ pattern: P.RELATIVE_PATH, description: 'Command run when update_args change.' }),
  version: Type.String({ pattern: P.VERSION, description: `Package version, e.g. "latest". ${P.VERSION_RULE}.` }),
  user_program_daemon: Type.Boolean({ description: 'cmd_start is a long-running daemon. Default false.' }),
  is_plugin: Type.Boolean({ description: 'Echoed only (unused by l3afd). Default false.' }),
  cpu: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'CPU-seconds limit of the user program; 0 = none.' }),
  memory: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Address-space limit (bytes) of the user program; 0 = none.' }),
  admin_status: AdminStatus,
  prog_type: Type.String({ pattern: P.PROG_TYPE, description: '"xdp" for xdp_ingress, "tc" for tc_ingress/tc_egress; the probe kind for probes.' }),
  rules_file: Type.String({ pattern: P.RELATIVE_PATH, description: 'File (under the package\'s direction directory) that receives `rules`.' }),
  rules: Type.String({ maxLength: 1048576, description: 'Content written to rules_file.' }),
  config_file_path: Type.String({ maxLength: 4096, description: 'Config file location (a stub in l3afd).' }),
  cfg_version: Type.Integer({ ...SAFE_INT, description: 'Stored and echoed. Default 0.' }),
  start_args: ProgramArgs,
  stop_args: ProgramArgs,
  status_args: ProgramArgs,
  update_args: ProgramArgs,
  map_args: Type.Union([Type.Array(MapArg, { maxItems: 1024 }), Type.Null()], { description: 'Integer writes into maps of the loaded object; null = none.' }),
  config_args: ProgramArgs,
  monitor_maps: Type.Union([Type.Array(MonitorMap, { maxItems: 1024 }), Type.Null()], { description: 'Map keys exported as metrics; null = none.' }),
  ebpf_package_repo_url: Type.String({ pattern: P.REPO_URL_OR_EMPTY, description: 'Repository base URL for this program; empty = [ebpf-repo] url.' }),
  object_file: Type.String({ pattern: P.RELATIVE_PATH, description: 'ELF object (relative to the package directory); its presence selects the native load path.' }),
  entry_function_name: Type.String({ pattern: P.C_IDENTIFIER_OR_EMPTY, description: 'ELF program (function) to attach or chain.' }),
};

/**
 * Fields l3af adds to `BPFProgram`. They are optional in every shape and emitted by GET only
 * when set, so l3afd payloads and l3afd's GET output stay exactly as they were.
 */
const extensionFields = {
  event_maps: Type.Union([Type.Array(EventMap, { maxItems: 16 }), Type.Null()], {
    description: 'l3af extension: event maps streamed as Server-Sent Events at GET /l3af/events; absent or null = the program\'s default (ratelimiting: rl_events), [] = none.',
  }),
};

/** The keys of `BPFProgram` as l3afd has them, in l3afd's order. */
export const L3AFD_PROGRAM_KEYS = Object.keys(programFields) as (keyof typeof programFields)[];

/** Every key of a program: l3afd's, then l3af's extensions (what a change is compared on). */
export const PROGRAM_KEYS = [...L3AFD_PROGRAM_KEYS, ...Object.keys(extensionFields) as (keyof typeof extensionFields)[]];

/** Fields a request must carry (everything else has an l3afd default). */
export const REQUIRED_PROGRAM_KEYS = ['name', 'artifact', 'version', 'admin_status'] as const;

/** A `BPFProgram` as a request carries it (add/update payloads, config-store file). */
const F = programFields;
const O = Type.Optional;
export const BpfProgram = Type.Object({
  id: O(F.id), name: F.name, seq_id: O(F.seq_id), artifact: F.artifact, map_name: O(F.map_name),
  cmd_start: O(F.cmd_start), cmd_stop: O(F.cmd_stop), cmd_status: O(F.cmd_status), cmd_config: O(F.cmd_config),
  cmd_update: O(F.cmd_update), version: F.version, user_program_daemon: O(F.user_program_daemon),
  is_plugin: O(F.is_plugin), cpu: O(F.cpu), memory: O(F.memory), admin_status: F.admin_status,
  prog_type: O(F.prog_type), rules_file: O(F.rules_file), rules: O(F.rules), config_file_path: O(F.config_file_path),
  cfg_version: O(F.cfg_version), start_args: O(F.start_args), stop_args: O(F.stop_args),
  status_args: O(F.status_args), update_args: O(F.update_args), map_args: O(F.map_args),
  config_args: O(F.config_args),
  monitor_maps: O(Type.Union([Type.Array(MonitorMapRequest, { maxItems: 1024 }), Type.Null()], { description: 'Map keys exported as metrics (key absent = 0); null = none.' })),
  ebpf_package_repo_url: O(F.ebpf_package_repo_url),
  object_file: O(F.object_file), entry_function_name: O(F.entry_function_name),
  event_maps: O(extensionFields.event_maps),
}, {
  additionalProperties: false,
  description: 'One eBPF package (l3afd BPFProgram).',
});
export type BpfProgram = Static<typeof BpfProgram>;

/**
 * A `BPFProgram` with every l3afd key present (l3afd's GET shape) and the l3af extensions when
 * set: what {@link normalizeProgram} returns and what GET serialises.
 */
export const NormalizedBpfProgram = Type.Object({ ...programFields, event_maps: O(extensionFields.event_maps) }, {
  additionalProperties: false,
  description: 'One eBPF package with every field present, as GET returns it.',
});
export type NormalizedBpfProgram = Static<typeof NormalizedBpfProgram>;
