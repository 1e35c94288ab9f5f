/**
 * The agent configuration as ONE TypeBox schema: the TypeScript type (`AgentConfig`), the
 * defaults (`default`), the value rules (patterns, ranges, enums) and, in the `x-l3af`
 * annotation of each group and field, where the value comes from in `l3afd.cfg` / YAML (section,
 * key, legacy spellings, value syntax, whether l3afd requires it).
 *
 * Groups and keys follow l3afd (config.go is authoritative for defaults, not configdoc). Our own
 * settings live in the `[l3af]` section. Durations are stored in milliseconds.
 */
import { Type, type Static, type TSchema } from 'typebox';

/** Annotation key carrying {@link FieldMeta} / {@link GroupMeta} on the schema. */
export const META = 'x-l3af';

/** Value syntax of a field in the file. */
export type FieldKind = 'string' | 'path' | 'bool' | 'int' | 'duration' | 'addr' | 'url' | 'list' | 'tls' | 'enum';

/** Where a field is read from. */
export interface FieldMeta {
  /** Option name in the section (exact, case-sensitive). */
  key: string;
  kind: FieldKind;
  /** l3afd exits when this key is absent. */
  required?: boolean;
}

/** Where a group is read from. */
export interface GroupMeta {
  /** Section names holding the same keys, in precedence order (first one that has the key wins). */
  sections: string[];
  /** An older section with its own key names that, when present, wins over `sections` (l3afd's root-program sections). */
  legacy?: { section: string; keys: Record<string, string> };
}

function field<T extends TSchema>(schema: T, meta: FieldMeta): T {
  Object.defineProperty(schema, META, { value: meta, enumerable: true });
  return schema;
}
function group<T extends TSchema>(schema: T, meta: GroupMeta): T {
  Object.defineProperty(schema, META, { value: meta, enumerable: true });
  return schema;
}

const str = (key: string, def: string | undefined, description: string, required = false) =>
  field(Type.String(def === undefined ? { description } : { default: def, description }), { key, kind: 'string', required });
const path = (key: string, def: string | undefined, description: string, required = false) =>
  field(Type.String(def === undefined ? { description } : { default: def, description }), { key, kind: 'path', required });
const bool = (key: string, def: boolean | undefined, description: string, required = false) =>
  field(Type.Boolean(def === undefined ? { description } : { default: def, description }), { key, kind: 'bool', required });
const int = (key: string, def: number, description: string, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  field(Type.Integer({ default: def, minimum: min, maximum: max, description }), { key, kind: 'int' });
const duration = (key: string, defMs: number, description: string, minMs = 0) =>
  field(Type.Number({ default: defMs, minimum: minMs, description: `${description} (milliseconds; Go duration syntax in the file)` }), { key, kind: 'duration' });
const addr = (key: string, def: string, description: string) =>
  field(Type.String({ default: def, description: `${description} (host:port)` }), { key, kind: 'addr' });
const URL_PATTERN = '^(?:file|https?)://';
const url = (key: string, def: string | undefined, description: string, required = false) =>
  field(Type.String({ pattern: URL_PATTERN, ...(def === undefined ? {} : { default: def }), description: `${description} (file://, http:// or https://)` }), { key, kind: 'url', required });
const list = (key: string, description: string) =>
  field(Type.Array(Type.String(), { default: [], description: `${description} (comma-separated in the file)` }), { key, kind: 'list' });

/** `[l3afd]`: the daemon itself. */
export const L3afdGroup = group(Type.Object({
  pidFile: path('pid-file', undefined, 'PID file (single-instance guard)', true),
  datacenter: str('datacenter', undefined, 'Data-centre label (read, unused, as in l3afd)', true),
  bpfDir: path('bpf-dir', undefined, 'Root where packages are downloaded and extracted', true),
  bpfLogDir: path('bpf-log-dir', '', 'Passed to user programs as --log-dir when set'),
  kernelMajorVersion: int('kernel-major-version', 5, 'Minimum kernel major version'),
  kernelMinorVersion: int('kernel-minor-version', 15, 'Minimum kernel minor version'),
  shutdownTimeoutMs: duration('shutdown-timeout', 25_000, 'Longest time to stop programs on a signal'),
  httpClientTimeoutMs: duration('http-client-timeout', 30_000, 'Package download timeout'),
  maxEbpfRestartCount: int('max-ebpf-restart-count', 3, 'Health-monitor restart attempts per program'),
  bpfChainingEnabled: bool('bpf-chaining-enabled', undefined, 'Chain programs behind root programs (false: one program per hook)', true),
  swaggerApiEnabled: bool('swagger-api-enabled', false, 'Serve the Swagger UI'),
  environment: str('environment', 'PROD', 'PROD forces mTLS on a non-loopback REST address'),
  bpfMapDefaultPath: path('BpfMapDefaultPath', undefined, 'bpffs root of all pins', true),
  fileLogLocation: path('file-log-location', '', 'Also log to this file when set'),
  fileLogMaxSize: int('file-log-max-size', 100, 'Log file rotation size (MB)'),
  fileLogMaxBackups: int('file-log-max-backups', 10, 'Rotated log files kept'),
  fileLogMaxAge: int('file-log-max-age', 60, 'Days rotated log files are kept'),
  jsonFormatLogs: bool('json-format-logs', true, 'Log one JSON object per line (false: console lines); default false for an l3afd.cfg (as l3afd), true for YAML'),
}, { additionalProperties: false }), { sections: ['l3afd'] });

/** `[ebpf-repo]` (legacy `[kf-repo]`): the package repository. */
export const EbpfRepoGroup = group(Type.Object({
  url: url('url', undefined, 'Base URL of the package repository', true),
}, { additionalProperties: false }), { sections: ['ebpf-repo', 'kf-repo'] });

/** `[web]`: metrics listener and monitor timing. */
export const WebGroup = group(Type.Object({
  metricsAddr: addr('metrics-addr', 'localhost:8898', 'Prometheus listener'),
  ebpfPollIntervalMs: duration('ebpf-poll-interval', 30_000, 'Health-monitor and map-sampling tick', 1),
  nMetricSamples: int('n-metric-samples', 20, 'Ring size of the max-rate / avg aggregators', 1, 100_000),
}, { additionalProperties: false }), { sections: ['web'] });

/** `[xdp-root]` (legacy `[xdp-root-program]`): the XDP root package used for chaining. */
export const XdpRootGroup = group(Type.Object({
  packageName: str('package-name', 'xdp-root', 'Root package name'),
  artifact: str('artifact', 'l3af_xdp_root.tar.gz', 'Root package archive'),
  ingressMapName: str('ingress-map-name', 'xdp_root_array', 'Root program\'s next-program map'),
  command: str('command', 'xdp_root', 'User-program command (unused by the native path)'),
  version: str('version', 'latest', 'Root package version'),
  objectFile: str('object-file', 'xdp_root.bpf.o', 'Root ELF object'),
  entryFunctionName: str('entry-function-name', 'xdp_root', 'Root ELF program'),
}, { additionalProperties: false }), {
  sections: ['xdp-root'],
  legacy: { section: 'xdp-root-program', keys: { name: 'package-name', artifact: 'artifact', 'ingress-map-name': 'ingress-map-name', command: 'command', version: 'version' } },
});

/** `[tc-root]` (legacy `[tc-root-program]`): the TC root packages used for chaining. */
export const TcRootGroup = group(Type.Object({
  packageName: str('package-name', 'tc-root', 'Root package name'),
  artifact: str('artifact', 'l3af_tc_root.tar.gz', 'Root package archive'),
  ingressMapName: str('ingress-map-name', 'tc_ingress_root_array', 'Ingress root next-program map'),
  egressMapName: str('egress-map-name', 'tc_egress_root_array', 'Egress root next-program map'),
  command: str('command', 'tc_root', 'User-program command (unused by the native path)'),
  version: str('version', 'latest', 'Root package version'),
  ingressObjectFile: str('ingress-object-file', 'tc_root_ingress.bpf.o', 'Ingress root ELF object'),
  egressObjectFile: str('egress-object-file', 'tc_root_egress.bpf.o', 'Egress root ELF object'),
  ingressEntryFunctionName: str('ingress-entry-function-name', 'tc_ingress_root', 'Ingress root ELF program'),
  egressEntryFunctionName: str('egress-entry-function-name', 'tc_egress_root', 'Egress root ELF program'),
}, { additionalProperties: false }), {
  sections: ['tc-root'],
  legacy: { section: 'tc-root-program', keys: { name: 'package-name', artifact: 'artifact', 'ingress-map-name': 'ingress-map-name', 'egress-map-name': 'egress-map-name', command: 'command', version: 'version' } },
});

/** `[ebpf-chain-debug]`: the chain debug listener. */
export const EbpfChainDebugGroup = group(Type.Object({
  addr: addr('addr', 'localhost:8899', 'Chain debug listener'),
  enabled: bool('enabled', false, 'Serve the chain debug API'),
}, { additionalProperties: false }), { sections: ['ebpf-chain-debug'] });

/** `[l3af-configs]`: the REST API listener. */
export const L3afConfigsGroup = group(Type.Object({
  restapiAddr: addr('restapi-addr', 'localhost:53000', 'REST API listener'),
}, { additionalProperties: false }), { sections: ['l3af-configs'] });

/** `[l3af-config-store]`: persisted desired state. */
export const L3afConfigStoreGroup = group(Type.Object({
  filename: path('filename', undefined, 'Config-store JSON file; empty disables persistence', true),
}, { additionalProperties: false }), { sections: ['l3af-config-store'] });

/** `[mtls]` (also spelt `[mTLS]`): TLS with client certificates on the REST API. */
export const MtlsGroup = group(Type.Object({
  enabled: bool('enabled', true, 'Require client certificates on the REST API'),
  minTlsVersion: field(Type.Enum(['1.2', '1.3'], { default: '1.3', description: 'Lowest TLS version (TLS_1.2 / TLS_1_2 / 1.2, TLS_1.3 / TLS_1_3 / 1.3, default = 1.3)' }), { key: 'min-tls-version', kind: 'tls' }),
  certDir: path('cert-dir', '', 'Directory of the PEM files'),
  cacertFilename: str('cacert-filename', 'ca.pem', 'Client CA bundle'),
  serverCertFilename: str('server-cert-filename', 'server.crt', 'Server certificate'),
  serverKeyFilename: str('server-key-filename', 'server.key', 'Server key'),
  certExpiryWarningDays: int('cert-expiry-warning-days', 30, 'Warn this many days before a certificate expires'),
  sanMatchRules: list('san-match-rules', 'Client DNS SANs allowed to write: literals or regular expressions'),
}, { additionalProperties: false }), { sections: ['mtls', 'mTLS'] });

/** `[graceful-restart]`: hand-over to another build. */
export const GracefulRestartGroup = group(Type.Object({
  restartArtifactsUrl: url('restart-artifacts-url', 'file:///srv/l3afd', 'Base URL of agent builds'),
  timeToRestartS: int('time-to-restart', 7, 'Seconds to wait for the new process to report ready', 1, 3600),
  basepath: path('basepath', '/usr/local/l3afd', 'Holds latest/ symlinks and vX.Y.Z/ directories'),
  versionLimit: int('version-limit', 100, 'Largest component of an allowed vI.J.K', 0, 1_000_000),
}, { additionalProperties: false }), { sections: ['graceful-restart'] });

/** Log levels of the agent (pino's). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Formats of `[l3af] log-format`. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

/** Modes of `[l3af] metrics-tls`. */
export const METRICS_TLS_MODES = ['off', 'tls', 'mtls'] as const;

/** Modes of `[l3af] tc-attach`. */
export const TC_ATTACH_MODES = ['auto', 'tcx', 'clsact'] as const;

/** `[l3af]`: settings of this agent that l3afd does not have. */
export const L3afGroup = group(Type.Object({
  stateDir: path('state-dir', '/var/lib/l3af', 'Agent state directory (lock, runtime state)'),
  platform: str('platform', '', 'Platform segment of package URLs; empty = detect (e.g. the Ubuntu codename)'),
  kernelStatsEnabled: bool('kernel-stats-enabled', false, 'Turn on kernel BPF run-time statistics (the kernel then times every BPF program run on the host: ~65 ns per XDP packet here)'),
  logLevel: field(Type.Enum([...LOG_LEVELS], { default: 'info', description: 'Log level (L3AF_LOG_LEVEL overrides)' }), { key: 'log-level', kind: 'enum' }),
  logFormat: field(Type.Enum([...LOG_FORMATS], { default: 'auto', description: 'Log lines: json = one JSON object per line; pretty = readable (pino-pretty); auto = pretty when stdout is a terminal, else json' }), { key: 'log-format', kind: 'enum' }),
  packageCacheDir: path('package-cache-dir', '', 'Content-addressed package cache; empty = [l3afd] bpf-dir'),
  checksumRequiredHttp: bool('checksum-required-http', false, 'Refuse http(s) packages without a .sha256 file (default: accept them, as l3afd, with a warning and l3af_artifact_unverified_total)'),
  checksumRequiredFile: bool('checksum-required-file', false, 'Refuse file:// packages without a .sha256 file'),
  downloadConnectTimeoutMs: duration('download-connect-timeout', 10_000, 'Connect timeout of package downloads', 1),
  downloadTimeoutMs: duration('download-timeout', 600_000, 'Deadline of one whole package download (a trickling repository is cut off)', 1),
  artifactMaxBytes: int('artifact-max-bytes', 512 * 1024 * 1024, 'Largest download and total extracted size of a package (bytes)', 1),
  artifactMaxEntries: int('artifact-max-entries', 10_000, 'Most entries in a package archive', 1),
  bodyLimit: int('body-limit', 1024 * 1024, 'Largest REST request body (bytes)', 1024),
  unloadOnStop: bool('unload-on-stop', false, 'Detach and unload every program when the agent stops (default: leave the data plane running)'),
  mtlsReaderSanMatchRules: list('mtls-reader-san-match-rules', 'Client DNS SANs allowed read-only access (GET)'),
  l3afdMetricNames: bool('l3afd-metric-names', false, "Also export l3afd's metric names and labels (l3afd_BPFStartCount, l3afd_BPFMonitorMap, ...) for existing dashboards; default true when the file is an l3afd.cfg (INI), false for YAML"),
  mapSampleIntervalMs: duration('map-sample-interval', 1000, 'How often monitor_maps and kernel run statistics are sampled', 50),
  chainCounting: list('chain-counting', 'Per-program packet counts inside chains: a counting step before each program loaded on the chains named here '
    + '(all; an interface; <interface>/<direction>; */<direction>). It costs one tail call and one per-CPU add per program and packet '
    + '(bench/reports/chain-cost.md); default: none'),
  tcAttach: field(Type.Enum([...TC_ATTACH_MODES], {
    default: 'auto',
    description: 'How TC roots (and, without chaining, TC programs) attach: tcx = a TCX link (kernel >= 6.6, as l3afd there), '
      + 'clsact = a clsact bpf filter (the fallback), auto = tcx where the kernel has it',
  }), { key: 'tc-attach', kind: 'enum' }),
  metricsTls: field(Type.Enum([...METRICS_TLS_MODES], {
    default: 'off',
    description: 'TLS on [web] metrics-addr: off = plain http; tls = https with the REST server certificate and key of [mtls] cert-dir '
      + '(no client certificate asked); mtls = https and a client certificate signed by [mtls] cacert-filename is required. '
      + 'Honours [mtls] min-tls-version; certificates reload with the REST ones (SIGHUP, a change in cert-dir)',
  }), { key: 'metrics-tls', kind: 'enum' }),
}, { additionalProperties: false }), { sections: ['l3af'] });

/** The whole configuration. */
export const AgentConfigSchema = Type.Object({
  l3afd: L3afdGroup,
  ebpfRepo: EbpfRepoGroup,
  web: WebGroup,
  xdpRoot: XdpRootGroup,
  tcRoot: TcRootGroup,
  ebpfChainDebug: EbpfChainDebugGroup,
  l3afConfigs: L3afConfigsGroup,
  l3afConfigStore: L3afConfigStoreGroup,
  mtls: MtlsGroup,
  gracefulRestart: GracefulRestartGroup,
  l3af: L3afGroup,
}, { additionalProperties: false });

/** The agent configuration (durations in milliseconds). */
export type AgentConfig = Static<typeof AgentConfigSchema>;
