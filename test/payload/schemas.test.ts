// Payload schemas: l3afd shapes accepted verbatim, bad payloads rejected with the offending field
// path, normalisation to l3afd's GET shape, semantic checks. Validated with ajv 8 configured as the
// brief prescribes for fastify (allErrors, no coercion, defaults, no removal) plus ajv-formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import {
  AddUpdateBody, BpfProgram, DeleteBody, RestartConfig, NormalizedL3afBpfPrograms, NormalizedBpfProgram,
  L3AFD_PROGRAM_KEYS, PROGRAM_KEYS, checkAddUpdateSemantics, checkDeleteSemantics, formatSchemaErrors, normalizeProgram,
  normalizeL3afBpfPrograms, stripUnknownKeys, type FieldError, type SchemaErrorLike,
} from '../../agent/src/payload/index.ts';

// ajv 8 is a dependency of fastify / ajv-formats (the top-level `ajv` is eslint's v6): load it from
// ajv-formats' own resolution so the same major version fastify uses is exercised.
const requireFromFormats = createRequire(import.meta.resolve('ajv-formats'));
type Validate = ((data: unknown) => boolean) & { errors?: SchemaErrorLike[] | null };
interface AjvLike { compile(schema: unknown): Validate }
const AjvClass = (requireFromFormats('ajv') as { default: new (o: object) => AjvLike }).default;
const addFormats = (requireFromFormats('ajv-formats') as { default: (a: AjvLike) => void }).default;
assert.match((requireFromFormats('ajv/package.json') as { version: string }).version, /^8\./);
const ajv = new AjvClass({ allErrors: true, coerceTypes: false, useDefaults: true, removeAdditional: false });
addFormats(ajv);

const validators = {
  addUpdate: ajv.compile(AddUpdateBody),
  del: ajv.compile(DeleteBody),
  restart: ajv.compile(RestartConfig),
  program: ajv.compile(BpfProgram),
  normalized: ajv.compile(NormalizedL3afBpfPrograms),
  normalizedProgram: ajv.compile(NormalizedBpfProgram),
};

function validate(kind: keyof typeof validators, data: unknown): FieldError[] {
  const v = validators[kind];
  const body = structuredClone(data);
  if (v(body)) {
    if (kind === 'addUpdate') return checkAddUpdateSemantics(body as AddUpdateBody);
    if (kind === 'del') return checkDeleteSemantics(body as DeleteBody);
    return [];
  }
  return formatSchemaErrors(v.errors);
}

/** The e2e "expected output" program of l3afd (reference §2.4), every key spelled out as l3afd emits it. */
const ratelimiting = {
  id: 0, name: 'ratelimiting', seq_id: 1, artifact: 'l3af_ratelimiting.tar.gz', map_name: 'xdp_rl_ingress_next_prog',
  cmd_start: '', cmd_stop: '', cmd_status: '', cmd_config: '', cmd_update: '', version: 'latest',
  user_program_daemon: false, is_plugin: false, cpu: 0, memory: 0, admin_status: 'enabled', prog_type: 'xdp',
  rules_file: '', rules: '', config_file_path: '', cfg_version: 1, start_args: null, stop_args: null,
  status_args: null, update_args: null,
  map_args: [{ name: 'rl_ports_map', args: [{ key: 8080, value: 1 }, { key: 8081, value: 1 }] }],
  config_args: null, monitor_maps: [{ name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' }],
  ebpf_package_repo_url: '', object_file: 'ratelimiting.bpf.o', entry_function_name: '_xdp_ratelimiting',
};
const countAndPass = {
  ...ratelimiting, name: 'connection-limit', seq_id: 2, artifact: 'l3af_connection_limit.tar.gz',
  map_name: 'tc_ingress_next_prog', prog_type: 'tc', object_file: 'connection_limit.bpf.o',
  entry_function_name: 'tc_conn_limit', map_args: null, cfg_version: 0,
  start_args: { 'max-conn': '10', verbose: 2, debug: true }, monitor_maps: [
    { name: 'cl_conn_count', key: 0, aggregator: 'max-rate' }, { name: 'cl_conn_count', key: 1, aggregator: 'avg' }],
};
const element = (programs: unknown, extra: object = {}) => ({
  host_name: 'l3af-test-host', iface: 'veth0', ipv4_address: '192.168.15.80', bpf_programs: programs, ...extra,
});
const goodBody = [element({ xdp_ingress: [ratelimiting], tc_ingress: [countAndPass], tc_egress: null, probes: null })];

test('l3afd example payload (every field, nulls where l3afd emits them) is accepted verbatim', () => {
  assert.deepEqual(validate('addUpdate', goodBody), []);
});

test('seed-style payload without ipv4_address, with missing lists and user-program fields, is accepted', () => {
  const seed = [{
    host_name: 'l3af-local-test', iface: 'enp0s3',
    bpf_programs: {
      xdp_ingress: [{
        name: 'ratelimiting', seq_id: 1, artifact: 'l3af_ratelimiting.tar.gz', ebpf_package_repo_url: 'https://l3af.io',
        map_name: 'xdp_rl_ingress_next_prog', cmd_start: 'ratelimiting', version: 'latest', user_program_daemon: true,
        admin_status: 'enabled', prog_type: 'xdp', cfg_version: 1, start_args: { ports: '8080,8081', rate: '2' },
        monitor_maps: [{ name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' }, { name: 'rl_recv_count_map', key: 0, aggregator: 'max-rate' }],
      }],
    },
  }];
  assert.deepEqual(validate('addUpdate', seed), []);
});

test('probes list, bpf_programs null, empty body and l3afd GET output for an unknown interface are accepted', () => {
  const probe = { name: 'ipfix-flow-exporter', artifact: 'l3af_ipfix.tar.gz', version: '1.0.0', admin_status: 'enabled',
    prog_type: 'tracepoint', object_file: 'bpf/ipfix.bpf.o', entry_function_name: '' };
  assert.deepEqual(validate('addUpdate', [element({ probes: [probe] })]), []);
  assert.deepEqual(validate('addUpdate', [element(null)]), []);
  assert.deepEqual(validate('addUpdate', []), []);
  const unknownIface = { host_name: 'h', iface: 'eth9', ipv4_address: '', bpf_programs: { xdp_ingress: null, tc_ingress: null, tc_egress: null, probes: null } };
  assert.deepEqual(validate('addUpdate', [unknownIface]), []);
  assert.deepEqual(validate('normalized', unknownIface), []);
});

test('normalizeProgram fills l3afd defaults in l3afd key order and round-trips the full shape', () => {
  const minimal = { name: 'xdp-counter', artifact: 'xdp_counter.zip', version: '1.2.0', admin_status: 'enabled' as const };
  assert.deepEqual(validate('program', minimal), []);
  const n = normalizeProgram(minimal);
  assert.deepEqual(Object.keys(n), L3AFD_PROGRAM_KEYS, 'no l3af extension key when the payload sets none');
  assert.deepEqual(Object.keys(n), Object.keys(ratelimiting), 'same key order as the l3afd example');
  assert.deepEqual(PROGRAM_KEYS, [...L3AFD_PROGRAM_KEYS, 'event_maps'], 'changes are compared on the extensions too');
  assert.equal(n.seq_id, 0);
  assert.equal(n.cmd_start, '');
  assert.equal(n.user_program_daemon, false);
  assert.equal(n.start_args, null);
  assert.equal(n.map_args, null);
  assert.equal(n.monitor_maps, null);
  assert.deepEqual(validate('normalizedProgram', n), []);
  // A full l3afd program is a fixed point, and normalisation copies (no shared references).
  const full = normalizeProgram(ratelimiting as BpfProgram);
  assert.deepEqual(full, ratelimiting);
  assert.notEqual(full.map_args, ratelimiting.map_args);
});

test('normalizeL3afBpfPrograms returns the GET shape: all four lists, null when absent or empty', () => {
  const out = normalizeL3afBpfPrograms({ host_name: 'h', iface: 'veth0', bpf_programs: { xdp_ingress: [ratelimiting as BpfProgram], tc_egress: [] } });
  assert.deepEqual(Object.keys(out), ['host_name', 'iface', 'ipv4_address', 'bpf_programs']);
  assert.equal(out.ipv4_address, '');
  assert.deepEqual(Object.keys(out.bpf_programs), ['xdp_ingress', 'tc_ingress', 'tc_egress', 'probes']);
  assert.equal(out.bpf_programs.tc_ingress, null);
  assert.equal(out.bpf_programs.tc_egress, null);
  assert.equal(out.bpf_programs.probes, null);
  assert.deepEqual(out.bpf_programs.xdp_ingress, [ratelimiting]);
  assert.deepEqual(validate('normalized', out), []);
  // GET output fed back as an update body is accepted.
  assert.deepEqual(validate('addUpdate', [out]), []);
  assert.deepEqual(normalizeL3afBpfPrograms({ host_name: 'h', iface: 'x', bpf_programs: null }).bpf_programs,
    { xdp_ingress: null, tc_ingress: null, tc_egress: null, probes: null });
});

test('event_maps (l3af extension): optional, echoed when set, absent and null both left out', () => {
  const eventMaps = [{ name: 'rl_events' }, { name: 'obs_events', format: 'btf', struct: 'obs_event' }, { name: 'raw_ring', format: 'raw' }];
  assert.deepEqual(validate('addUpdate', withProgram({ event_maps: eventMaps })), []);
  assert.deepEqual(validate('addUpdate', withProgram({ event_maps: null })), []);
  assert.deepEqual(validate('addUpdate', withProgram({ event_maps: [] })), []);
  assert.deepEqual(validate('addUpdate', withProgram({ event_maps: [{ name: 'rl_events', format: 'ratelimiting' }] })), []);
  const set = normalizeProgram({ ...(ratelimiting as BpfProgram), event_maps: eventMaps as BpfProgram['event_maps'] });
  assert.deepEqual(set.event_maps, eventMaps, 'echoed as given');
  assert.notEqual(set.event_maps, eventMaps, 'copied');
  assert.equal(Object.keys(set).at(-1), 'event_maps', 'after the l3afd keys');
  assert.deepEqual(validate('normalizedProgram', set), []);
  assert.deepEqual(Object.keys(normalizeProgram({ ...(ratelimiting as BpfProgram), event_maps: null })), L3AFD_PROGRAM_KEYS, 'null = the default, not emitted');
  assert.deepEqual(normalizeProgram({ ...(ratelimiting as BpfProgram), event_maps: [] }).event_maps, [], '[] (no streams) is kept');
  // GET output with event_maps fed back as an update body is accepted.
  assert.deepEqual(validate('addUpdate', [element({ xdp_ingress: [set] })]), []);
});

test('delete and restart bodies in l3afd shape are accepted', () => {
  assert.deepEqual(validate('del', [{ host_name: 'h', iface: 'veth0', bpf_programs: { xdp_ingress: ['ratelimiting'], tc_ingress: null, tc_egress: [], probes: null } }]), []);
  assert.deepEqual(validate('del', [{ host_name: 'h', iface: 'veth0', ipv4_address: '10.0.0.1', bpf_programs: null }]), []);
  assert.deepEqual(validate('restart', { hostname: 'node-1', version: 'v2.1.0' }), []);
});

/** Builds an add/update body whose first xdp program is `ratelimiting` with `patch` applied (`undefined` deletes a key). */
function withProgram(patch: Record<string, unknown>): unknown {
  const p: Record<string, unknown> = { ...ratelimiting, ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete p[k];
  return [element({ xdp_ingress: [p] })];
}
const X = '/0/bpf_programs/xdp_ingress/0';

const badCases: { title: string; kind: keyof typeof validators; body: unknown; path: string; message?: RegExp }[] = [
  { title: 'name with "/"', kind: 'addUpdate', body: withProgram({ name: 'a/b' }), path: `${X}/name` },
  { title: 'name ".."', kind: 'addUpdate', body: withProgram({ name: '..' }), path: `${X}/name`, message: /directory/ },
  { title: 'empty name', kind: 'addUpdate', body: withProgram({ name: '' }), path: `${X}/name` },
  { title: 'name with a dot (bpffs refuses dots)', kind: 'addUpdate', body: withProgram({ name: 'rate.limit' }), path: `${X}/name` },
  { title: 'name starting with "-"', kind: 'addUpdate', body: withProgram({ name: '-rf' }), path: `${X}/name` },
  { title: 'missing name', kind: 'addUpdate', body: withProgram({ name: undefined }), path: `${X}/name`, message: /required/ },
  { title: 'negative seq_id', kind: 'addUpdate', body: withProgram({ seq_id: -1 }), path: `${X}/seq_id`, message: />= 0/ },
  { title: 'seq_id as a string', kind: 'addUpdate', body: withProgram({ seq_id: '1' }), path: `${X}/seq_id`, message: /integer/ },
  { title: 'fractional seq_id', kind: 'addUpdate', body: withProgram({ seq_id: 1.5 }), path: `${X}/seq_id` },
  { title: 'version with "/"', kind: 'addUpdate', body: withProgram({ version: '1.0/../../etc' }), path: `${X}/version`, message: /path separators/ },
  { title: 'version ".."', kind: 'addUpdate', body: withProgram({ version: '..' }), path: `${X}/version` },
  { title: 'version with backslash', kind: 'addUpdate', body: withProgram({ version: 'a\\b' }), path: `${X}/version` },
  { title: 'missing version', kind: 'addUpdate', body: withProgram({ version: undefined }), path: `${X}/version` },
  { title: 'unknown admin_status', kind: 'addUpdate', body: withProgram({ admin_status: 'on' }), path: `${X}/admin_status`, message: /enabled, disabled/ },
  { title: 'missing admin_status', kind: 'addUpdate', body: withProgram({ admin_status: undefined }), path: `${X}/admin_status` },
  { title: 'unknown aggregator', kind: 'addUpdate', body: withProgram({ monitor_maps: [{ name: 'm', key: 0, aggregator: 'sum' }] }), path: `${X}/monitor_maps/0/aggregator`, message: /scalar, max-rate, avg/ },
  { title: 'negative monitor key', kind: 'addUpdate', body: withProgram({ monitor_maps: [{ name: 'm', key: -2, aggregator: 'avg' }] }), path: `${X}/monitor_maps/0/key` },
  { title: 'unknown event format', kind: 'addUpdate', body: withProgram({ event_maps: [{ name: 'rl_events', format: 'json' }] }), path: `${X}/event_maps/0/format`, message: /raw, btf, ratelimiting/ },
  { title: 'event map without a name', kind: 'addUpdate', body: withProgram({ event_maps: [{ format: 'raw' }] }), path: `${X}/event_maps/0/name`, message: /required/ },
  { title: 'event struct not an identifier', kind: 'addUpdate', body: withProgram({ event_maps: [{ name: 'e', struct: 'struct obs' }] }), path: `${X}/event_maps/0/struct`, message: /C identifier/ },
  { title: 'event_maps as an object', kind: 'addUpdate', body: withProgram({ event_maps: { name: 'rl_events' } }), path: `${X}/event_maps`, message: /array or null/ },
  { title: 'unknown event map field', kind: 'addUpdate', body: withProgram({ event_maps: [{ name: 'e', decode: 'btf' }] }), path: `${X}/event_maps/0/decode`, message: /not a known field/ },
  { title: 'legacy map_args object form', kind: 'addUpdate', body: withProgram({ map_args: { rl_ports_map: '8080,8081' } }), path: `${X}/map_args`, message: /array or null/ },
  { title: 'map_args key as a string', kind: 'addUpdate', body: withProgram({ map_args: [{ name: 'rl_ports_map', args: [{ key: '8080', value: 1 }] }] }), path: `${X}/map_args/0/args/0/key` },
  { title: 'map_args fractional value', kind: 'addUpdate', body: withProgram({ map_args: [{ name: 'rl_ports_map', args: [{ key: 1, value: 0.5 }] }] }), path: `${X}/map_args/0/args/0/value` },
  { title: 'map_args without args', kind: 'addUpdate', body: withProgram({ map_args: [{ name: 'rl_ports_map' }] }), path: `${X}/map_args/0/args` },
  { title: 'artifact with a space', kind: 'addUpdate', body: withProgram({ artifact: 'pkg 1.tar.gz' }), path: `${X}/artifact`, message: /plain file name/ },
  { title: 'artifact with a path', kind: 'addUpdate', body: withProgram({ artifact: '../pkg.tar.gz' }), path: `${X}/artifact` },
  { title: 'absolute object_file', kind: 'addUpdate', body: withProgram({ object_file: '/etc/passwd' }), path: `${X}/object_file`, message: /relative path/ },
  { title: 'object_file escaping with ..', kind: 'addUpdate', body: withProgram({ object_file: 'bpf/../../x.o' }), path: `${X}/object_file` },
  { title: 'cmd_start escaping with ..', kind: 'addUpdate', body: withProgram({ cmd_start: '../../bin/sh' }), path: `${X}/cmd_start` },
  { title: 'entry_function_name not an identifier', kind: 'addUpdate', body: withProgram({ entry_function_name: 'xdp-prog' }), path: `${X}/entry_function_name` },
  { title: 'map_name not an identifier', kind: 'addUpdate', body: withProgram({ map_name: 'next prog' }), path: `${X}/map_name` },
  { title: 'negative cpu', kind: 'addUpdate', body: withProgram({ cpu: -1 }), path: `${X}/cpu` },
  { title: 'memory as a string', kind: 'addUpdate', body: withProgram({ memory: '1G' }), path: `${X}/memory` },
  { title: 'user_program_daemon as a string', kind: 'addUpdate', body: withProgram({ user_program_daemon: 'true' }), path: `${X}/user_program_daemon`, message: /boolean/ },
  { title: 'id as a string', kind: 'addUpdate', body: withProgram({ id: '7' }), path: `${X}/id` },
  { title: 'unknown program field (typo)', kind: 'addUpdate', body: withProgram({ seqid: 3 }), path: `${X}/seqid`, message: /not a known field/ },
  { title: 'start_args value is an object', kind: 'addUpdate', body: withProgram({ start_args: { ports: { a: 1 } } }), path: `${X}/start_args/ports` },
  { title: 'start_args key that looks like an option', kind: 'addUpdate', body: withProgram({ start_args: { '--evil': 'x' } }), path: `${X}/start_args/--evil` },
  { title: 'update_args as a list', kind: 'addUpdate', body: withProgram({ update_args: ['a'] }), path: `${X}/update_args`, message: /object or null/ },
  { title: 'repo URL with ftp scheme', kind: 'addUpdate', body: withProgram({ ebpf_package_repo_url: 'ftp://repo/x' }), path: `${X}/ebpf_package_repo_url` },
  { title: 'prog_type with capitals', kind: 'addUpdate', body: withProgram({ prog_type: 'XDP' }), path: `${X}/prog_type` },
  { title: 'empty iface', kind: 'addUpdate', body: [element({}, { iface: '' })], path: '/0/iface' },
  { title: 'iface with "/"', kind: 'addUpdate', body: [element({}, { iface: '../eth0' })], path: '/0/iface' },
  { title: 'iface longer than 15 characters', kind: 'addUpdate', body: [element({}, { iface: 'a-very-long-iface0' })], path: '/0/iface' },
  { title: 'missing host_name', kind: 'addUpdate', body: [{ iface: 'veth0', bpf_programs: {} }], path: '/0/host_name' },
  { title: 'bad ipv4_address', kind: 'addUpdate', body: [element({}, { ipv4_address: '300.1.1.1' })], path: '/0/ipv4_address' },
  { title: 'bpf_programs as a string', kind: 'addUpdate', body: [element('xdp')], path: '/0/bpf_programs' },
  { title: 'xdp_ingress as an object', kind: 'addUpdate', body: [element({ xdp_ingress: ratelimiting })], path: '/0/bpf_programs/xdp_ingress' },
  { title: 'unknown direction key', kind: 'addUpdate', body: [element({ xdp_egress: [] })], path: '/0/bpf_programs/xdp_egress' },
  { title: 'body that is not an array', kind: 'addUpdate', body: element({}), path: '' },
  { title: 'program that is null', kind: 'addUpdate', body: [element({ tc_egress: [null] })], path: '/0/bpf_programs/tc_egress/0' },
  // Semantic checks (after the schema).
  { title: 'duplicate names in one chain', kind: 'addUpdate', body: [element({ xdp_ingress: [ratelimiting, { ...ratelimiting, seq_id: 2 }] })], path: '/0/bpf_programs/xdp_ingress/1/name', message: /duplicate program name/ },
  { title: 'duplicate seq_ids in one chain', kind: 'addUpdate', body: [element({ tc_ingress: [countAndPass, { ...countAndPass, name: 'other' }] })], path: '/0/bpf_programs/tc_ingress/1/seq_id', message: /duplicate seq_id 2/ },
  { title: 'absent seq_ids collide at 0', kind: 'addUpdate', body: [element({ tc_egress: [{ ...countAndPass, seq_id: undefined }, { ...countAndPass, name: 'b', seq_id: undefined }] })].map((e) => JSON.parse(JSON.stringify(e)) as unknown), path: '/0/bpf_programs/tc_egress/1/seq_id' },
  { title: 'duplicate interfaces in one request', kind: 'addUpdate', body: [element({}), element({})], path: '/1/iface', message: /duplicate interface "veth0"/ },
  { title: 'prog_type that does not match the hook', kind: 'addUpdate', body: [element({ xdp_ingress: [{ ...ratelimiting, prog_type: 'tc' }] })], path: `${X}/prog_type`, message: /expected "xdp"/ },
  { title: 'duplicate map in map_args', kind: 'addUpdate', body: withProgram({ map_args: [{ name: 'm', args: [] }, { name: 'm', args: null }] }), path: `${X}/map_args/1/name` },
  { title: 'duplicate key in one map_args entry', kind: 'addUpdate', body: withProgram({ map_args: [{ name: 'm', args: [{ key: 1, value: 1 }, { key: 1, value: 2 }] }] }), path: `${X}/map_args/0/args/1/key` },
  { title: 'delete: name ".."', kind: 'del', body: [{ host_name: 'h', iface: 'veth0', bpf_programs: { xdp_ingress: ['..'] } }], path: '/0/bpf_programs/xdp_ingress/0' },
  { title: 'delete: names as a string', kind: 'del', body: [{ host_name: 'h', iface: 'veth0', bpf_programs: { probes: 'x' } }], path: '/0/bpf_programs/probes' },
  { title: 'delete: duplicate interface', kind: 'del', body: [{ host_name: 'h', iface: 'veth0', bpf_programs: null }, { host_name: 'h', iface: 'veth0', bpf_programs: null }], path: '/1/iface' },
  { title: 'restart: version without v', kind: 'restart', body: { hostname: 'h', version: '2.1.0' }, path: '/version', message: /vX\.Y\.Z/ },
  { title: 'restart: missing hostname', kind: 'restart', body: { version: 'v2.1.0' }, path: '/hostname' },
];

test(`${badCases.length} bad payloads are rejected with exactly the offending field path`, async (t) => {
  assert.ok(badCases.length >= 30);
  for (const c of badCases) {
    await t.test(c.title, () => {
      const errors = validate(c.kind, c.body);
      assert.ok(errors.length > 0, `accepted: ${JSON.stringify(c.body)}`);
      assert.deepEqual([...new Set(errors.map((e) => e.path))], [c.path], JSON.stringify(errors));
      if (c.message) assert.match(errors[0]?.message ?? '', c.message);
    });
  }
});

test('every error of a payload with several mistakes is reported (allErrors)', () => {
  const body = [element({ xdp_ingress: [{ ...ratelimiting, seq_id: -3, admin_status: 'maybe', name: 'a/b' }] }, { iface: '' })];
  const paths = validate('addUpdate', body).map((e) => e.path).sort();
  assert.deepEqual(paths, ['/0/iface', `${X}/admin_status`, `${X}/name`, `${X}/seq_id`].sort());
});

test('formatSchemaErrors: a union where every branch is a type mismatch becomes one message', () => {
  const errors = validate('addUpdate', withProgram({ monitor_maps: 'x' }));
  assert.deepEqual(errors, [{ path: `${X}/monitor_maps`, message: 'must be array or null' }]);
  assert.deepEqual(formatSchemaErrors(null), []);
});

test('stripUnknownKeys removes what the schemas do not list, at every level, and leaves argument maps to validation', () => {
  const body = [{
    host_name: 'h', iface: 'eth0', site: 'x',
    bpf_programs: {
      xdp_ingress: [{ ...ratelimiting, future: 1, monitor_maps: [{ name: 'm', aggregator: 'scalar', unit: 'pkts' }], start_args: { 'bad key': 'v' } }],
      xdp_egress: [],
    },
  }];
  const removed = stripUnknownKeys(AddUpdateBody, body);
  assert.deepEqual(removed.sort(), ['/0/bpf_programs/xdp_egress', '/0/bpf_programs/xdp_ingress/0/future', '/0/bpf_programs/xdp_ingress/0/monitor_maps/0/unit', '/0/site']);
  assert.deepEqual(validate('addUpdate', body).map((e) => e.path), ['/0/bpf_programs/xdp_ingress/0/start_args/bad key'], 'a bad argument key stays a validation error');
  assert.deepEqual(stripUnknownKeys(AddUpdateBody, 'not an array'), []);
  assert.deepEqual(stripUnknownKeys(DeleteBody, [{ host_name: 'h', iface: 'e', bpf_programs: null, 'a/b': 1 }]), ['/0/a~1b']);
  // monitor_maps without key: valid, and normalised to key 0 as l3afd decodes it
  const p = normalizeProgram({ ...ratelimiting, monitor_maps: [{ name: 'm', aggregator: 'scalar' }] } as never);
  assert.deepEqual(p.monitor_maps, [{ name: 'm', key: 0, aggregator: 'scalar' }]);
});
