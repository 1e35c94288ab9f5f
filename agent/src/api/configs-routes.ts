/**
 * The l3afd routes, as a fastify plugin registered under `/l3af/configs`:
 * `POST /{version}/add|update|delete` and `GET /{version}` / `GET /{version}/{iface}`.
 *
 * A request passes, in order: JSON parsing (whatever the content type, as l3afd), removal of
 * unknown keys (logged and answered as `warnings`, as l3afd ignores them), schema validation (fastify's ajv, all errors),
 * the semantic checks and the host/interface checks (all problems together); only then is the
 * engine called. `{version}` is accepted and ignored, as in l3afd (`v1` is what clients send).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  AddUpdateBody, DeleteBody, DryRunQuery, DryRunResult, PreconditionFailed, checkAddUpdateSemantics, checkDeleteSemantics, normalizePrograms,
  patterns, stripUnknownKeys, type FieldError,
} from '../payload/index.ts';
import type { Engine, OperationResult } from '../engine/types.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { RequestError } from './errors.ts';
import { safeWrite } from './safe-writes.ts';
import { checkHostAndInterfaces, type HostFacts } from './host-checks.ts';
import { ErrorBody, GetAll, GetInterface, OperationResultSchema, type GetInterface as GetInterfaceT } from '../payload/responses.ts';

/** Options of {@link configsRoutes}. */
export interface ConfigsRoutesOptions {
  engine: Engine;
  host: HostFacts;
  /** Audit log of accepted changes (none: not recorded). */
  audit?: AuditLog | undefined;
}

const VersionParams = Type.Object({
  version: Type.String({ minLength: 1, maxLength: 64, description: 'API version segment; ignored (clients send "v1").' }),
});
const StatusQuery = Type.Object({
  status: Type.Optional(Type.Enum(['true', 'false', '1', '0'], {
    description: 'true (or 1): each program also carries the agent\'s live `status` (attached, kernel id, errors, user program, chain reach). Absent or false: exactly l3afd\'s shape.',
  })),
});

/** True when the query asks for the live status. */
function wantsStatus(q: { status?: string }): boolean {
  return q.status === 'true' || q.status === '1';
}

const IfaceParams = Type.Object({
  version: VersionParams.properties.version,
  iface: Type.String({ pattern: patterns.IFACE, description: 'Interface name.' }),
});

const rejected = {
  400: { ...ErrorBody, description: 'Bad JSON, schema violations, duplicates, wrong host_name, unknown or loopback interface: every offending field.' },
  413: { ...ErrorBody, description: 'Body larger than [l3af] body-limit.' },
  500: { ...ErrorBody, description: 'A fault of the agent (not of the request).' },
  503: { ...ErrorBody, description: 'The agent is starting or stopping; retry.' },
};

const operationResponses = {
  200: { ...Type.Union([OperationResultSchema, DryRunResult]), description: 'Applied: no program failed (the answer carries the new ETag). With ?dry_run=true: the plan and the verifier\'s verdict, nothing changed.' },
  412: { ...PreconditionFailed, description: 'If-Match does not match the current ETag (in the ETag header): nothing changed.' },
  422: { ...OperationResultSchema, description: 'Processed, but at least one program failed (outcome "failed" with its reason); every failed program was left as it was.' },
  502: { ...OperationResultSchema, description: 'Processed, but every program that failed did so because its package repository could not be reached (error_code REPOSITORY_UNREACHABLE: refused, DNS, reset, HTTP 5xx); retry later. Failed programs were left as they were.' },
  504: { ...OperationResultSchema, description: 'As 502, but at least one repository did not answer in time (error_code REPOSITORY_TIMEOUT).' },
  ...rejected,
};

/**
 * 200 when nothing failed; 502 / 504 when every failure was the package repository's (504 when
 * one of them timed out); 422 when any program failed for another reason. Any non-2xx is a
 * failure, as l3afd's clients read it (l3afd answers 500 to every failure).
 */
export function statusOf(result: OperationResult): 200 | 422 | 502 | 504 {
  const failed = result.results.filter((r) => r.outcome === 'failed');
  if (failed.length === 0) return 200;
  if (failed.every((r) => r.error_code !== undefined)) return failed.some((r) => r.error_code === 'REPOSITORY_TIMEOUT') ? 504 : 502;
  return 422;
}

/**
 * Most programs one add/update/delete may list, all interfaces and lists together (far above any
 * host's: 1024 interfaces × 16). Checked before schema validation, it bounds what validating one
 * request costs: ajv reports every error of every program, and a body of 1 MiB holds 260k empty ones.
 */
export const MAX_PROGRAMS_PER_REQUEST = 16_384;

/** Programs listed in a parsed (not yet validated) body. */
function programCount(body: unknown): number {
  if (!Array.isArray(body)) return 0;
  let n = 0;
  for (const e of body as unknown[]) {
    const lists = e !== null && typeof e === 'object' ? (e as { bpf_programs?: unknown }).bpf_programs : undefined;
    if (lists === null || typeof lists !== 'object') continue;
    for (const l of Object.values(lists)) if (Array.isArray(l)) n += l.length;
  }
  return n;
}

/** preValidation hook of the POST routes: refuses a body listing more than MAX_PROGRAMS_PER_REQUEST programs. */
async function boundPrograms(req: { body: unknown }): Promise<void> {
  const n = programCount(req.body);
  if (n > MAX_PROGRAMS_PER_REQUEST) {
    throw new RequestError(400, 'invalid request', [{ path: '', message: `the body lists ${n} programs; at most ${MAX_PROGRAMS_PER_REQUEST} per request (send several requests)` }]);
  }
}

/** Unknown keys removed from a request body (l3afd ignores them): logged, then answered as warnings. */
const UNKNOWN = Symbol('unknown keys');
type WithUnknown = FastifyRequest & { [UNKNOWN]?: string[] };

function stripUnknown(schema: Parameters<typeof stripUnknownKeys>[0]) {
  return async (req: FastifyRequest): Promise<void> => {
    const removed = stripUnknownKeys(schema, req.body);
    if (removed.length === 0) return;
    (req as WithUnknown)[UNKNOWN] = removed;
    req.log.warn({ unknownKeys: removed }, 'unknown keys in the request ignored (as l3afd)');
  };
}

/** The answer: the result, plus `warnings` naming the ignored unknown keys when there were any. */
function answer(req: FastifyRequest, result: OperationResult): OperationResult & { warnings?: FieldError[] } {
  const removed = (req as WithUnknown)[UNKNOWN];
  if (!removed) return result;
  return { ...result, warnings: removed.map((path) => ({ path, message: 'unknown key, ignored' })) };
}

function refuse(problems: FieldError[]): void {
  if (problems.length > 0) throw new RequestError(400, 'invalid request', problems);
}

/**
 * JSON as l3afd's GET writes it (Go's json.MarshalIndent with a 2-space indent): `<`, `>`, `&`, U+2028 and
 * U+2029 escaped as \uXXXX, no trailing newline. Those characters only occur inside strings, so escaping them
 * in the text is exact.
 */
export function l3afdJson(d: unknown): string {
  return JSON.stringify(d, null, 2).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Sends JSON text made ahead (a string is sent as it is: no schema serialization). */
function sendJsonText(reply: FastifyReply, body: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(body);
}

/** Empty l3afd GET shape for an interface the engine has nothing on. */
function emptyInterface(hostName: string, iface: string): GetInterfaceT {
  return { host_name: hostName, iface, ipv4_address: '', bpf_programs: normalizePrograms(null) };
}

/** Registers the l3afd configuration routes (use with `prefix: '/l3af/configs'`). */
export const configsRoutes: FastifyPluginAsync<ConfigsRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { engine, host } = opts;
  const tags = ['l3af configs'];

  app.post('/:version/add', {
    preValidation: [boundPrograms, stripUnknown(AddUpdateBody)],
    schema: {
      tags, operationId: 'addPrograms', params: VersionParams, querystring: DryRunQuery, body: AddUpdateBody, response: operationResponses,
      summary: 'Add programs (additive: programs already present by name are left as they are).',
    },
  }, async (req, reply) => {
    refuse([...checkAddUpdateSemantics(req.body), ...checkHostAndInterfaces(req.body, host)]);
    return safeWrite(opts, 'add', req, reply, req.body, (result) => reply.code(statusOf(result)).send(answer(req, result)));
  });

  app.post('/:version/update', {
    preValidation: [boundPrograms, stripUnknown(AddUpdateBody)],
    schema: {
      tags, operationId: 'updatePrograms', params: VersionParams, querystring: DryRunQuery, body: AddUpdateBody, response: operationResponses,
      summary: 'Set the host\'s whole desired state (as l3afd: interfaces omitted are stopped; programs omitted or disabled are removed).',
    },
  }, async (req, reply) => {
    refuse([...checkAddUpdateSemantics(req.body), ...checkHostAndInterfaces(req.body, host)]);
    return safeWrite(opts, 'update', req, reply, req.body, (result) => reply.code(statusOf(result)).send(answer(req, result)));
  });

  app.post('/:version/delete', {
    preValidation: [boundPrograms, stripUnknown(DeleteBody)],
    schema: {
      tags, operationId: 'deletePrograms', params: VersionParams, querystring: DryRunQuery, body: DeleteBody, response: operationResponses,
      summary: 'Remove programs by name (unknown names are reported as unchanged).',
    },
  }, async (req, reply) => {
    refuse([...checkDeleteSemantics(req.body), ...checkHostAndInterfaces(req.body, host)]);
    return safeWrite(opts, 'delete', req, reply, req.body, (result) => reply.code(statusOf(result)).send(answer(req, result)));
  });

  app.get('/:version', {
    schema: {
      tags, operationId: 'getAll', params: VersionParams, querystring: StatusQuery,
      response: { 200: GetAll, 400: rejected[400], 500: rejected[500], 503: rejected[503] },
      summary: 'Every interface the agent knows, in l3afd\'s shape (with ?status=true, each program with its live status).',
    },
  }, (req, reply) => {
    // synchronous, answering nothing: no promise per request (a returned reply would be awaited, it is thenable)
    // l3afd pretty-prints this answer too (byte for byte with l3afd's, see l3afdJson); the text is made once per snapshot
    const status = wantsStatus(req.query);
    const text = (): string => l3afdJson(engine.get(undefined, { status }));
    const body = engine.derived ? engine.derived(`get:${status}`, text) : text();
    if (engine.etag) reply.header('etag', engine.etag());
    sendJsonText(reply as unknown as FastifyReply, body);
  });

  app.get('/:version/:iface', {
    schema: {
      tags, operationId: 'getInterface', params: IfaceParams, querystring: StatusQuery,
      response: { 200: GetInterface, 400: rejected[400], 500: rejected[500], 503: rejected[503] },
      summary: 'One interface in l3afd\'s shape; an interface without programs (or unknown) gives its name and null lists, as l3afd.',
    },
  }, (req, reply) => {
    const status = wantsStatus(req.query);
    const iface = req.params.iface;
    const found = engine.get(iface, { status }).find((e) => e.iface === iface);
    // l3afd pretty-prints this answer (2-space indent); its e2e suite compares it byte for byte. An interface the
    // agent knows: its text is made once per snapshot
    const text = (): string => l3afdJson(found ?? emptyInterface(host.hostName(), iface));
    const body = found && engine.derived ? engine.derived(`get:${status}:${iface}`, text) : text();
    if (engine.etag) reply.header('etag', engine.etag());
    sendJsonText(reply as unknown as FastifyReply, body);
  });
};
