/**
 * The l3afd routes, as a fastify plugin registered under `/l3af/configs`:
 * `POST /{version}/add|update|delete` and `GET /{version}` / `GET /{version}/{iface}`.
 *
 * A request passes, in order: JSON parsing (whatever the content type, as l3afd), removal of
 * unknown keys (logged and answered as `warnings`, as l3afd ignores them), schema validation (fastify's ajv, all errors),
 * the semantic checks and the host/interface checks (all problems together); only then is the
 * engine called. `{version}` is accepted and ignored, as in l3afd (`v1` is what clients send).
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  AddUpdateBody, DeleteBody, checkAddUpdateSemantics, checkDeleteSemantics, normalizePrograms,
  patterns, stripUnknownKeys, type FieldError,
} from './schemas/index.ts';
import type { Engine, OperationResult } from '../engine/types.ts';
import { RequestError } from './errors.ts';
import { checkHostAndInterfaces, type HostFacts } from './host-checks.ts';
import { ErrorBody, GetAll, GetInterface, OperationResultSchema, type GetInterface as GetInterfaceT } from './responses.ts';

/** Options of {@link configsRoutes}. */
export interface ConfigsRoutesOptions {
  engine: Engine;
  host: HostFacts;
}

const VersionParams = Type.Object({
  version: Type.String({ minLength: 1, maxLength: 64, description: 'API version segment; ignored (clients send "v1").' }),
});
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
  200: { ...OperationResultSchema, description: 'Applied: no program failed.' },
  422: { ...OperationResultSchema, description: 'Processed, but at least one program failed (outcome "failed" with its reason); every failed program was left as it was.' },
  ...rejected,
};

/**
 * The status of a processed add/update/delete, read the way l3afd's clients read l3afd's: 200
 * exactly when l3afd would answer 200 for the same outcome (nothing failed; what l3afd skips
 * silently — a name already present or a taken seq_id on add, unknown names on delete — is not a
 * failure here either), 422 when l3afd would answer 500 (a program failed). See README "HTTP
 * answers".
 */
export function statusOf(result: OperationResult): 200 | 422 {
  return result.results.some((r) => r.outcome === 'failed') ? 422 : 200;
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
    preValidation: stripUnknown(AddUpdateBody),
    schema: {
      tags, operationId: 'addPrograms', params: VersionParams, body: AddUpdateBody, response: operationResponses,
      summary: 'Add programs (additive: programs already present by name are left as they are).',
    },
  }, async (req, reply) => {
    refuse([...checkAddUpdateSemantics(req.body), ...checkHostAndInterfaces(req.body, host)]);
    const result = await engine.add(req.body);
    return reply.code(statusOf(result)).send(answer(req, result));
  });

  app.post('/:version/update', {
    preValidation: stripUnknown(AddUpdateBody),
    schema: {
      tags, operationId: 'updatePrograms', params: VersionParams, body: AddUpdateBody, response: operationResponses,
      summary: 'Set the full desired state of the interfaces named (programs omitted there are removed).',
    },
  }, async (req, reply) => {
    refuse([...checkAddUpdateSemantics(req.body), ...checkHostAndInterfaces(req.body, host)]);
    const result = await engine.update(req.body);
    return reply.code(statusOf(result)).send(answer(req, result));
  });

  app.post('/:version/delete', {
    preValidation: stripUnknown(DeleteBody),
    schema: {
      tags, operationId: 'deletePrograms', params: VersionParams, body: DeleteBody, response: operationResponses,
      summary: 'Remove programs by name (unknown names are reported as unchanged).',
    },
  }, async (req, reply) => {
    refuse([...checkDeleteSemantics(req.body), ...checkHostAndInterfaces(req.body, host)]);
    const result = await engine.delete(req.body);
    return reply.code(statusOf(result)).send(answer(req, result));
  });

  app.get('/:version', {
    schema: {
      tags, operationId: 'getAll', params: VersionParams,
      response: { 200: GetAll, 400: rejected[400], 500: rejected[500], 503: rejected[503] },
      summary: 'Every interface with programs, in l3afd\'s shape, each program with its live status.',
    },
  }, async () => engine.get());

  app.get('/:version/:iface', {
    schema: {
      tags, operationId: 'getInterface', params: IfaceParams,
      response: { 200: GetInterface, 400: rejected[400], 500: rejected[500], 503: rejected[503] },
      summary: 'One interface in l3afd\'s shape; an interface without programs (or unknown) gives its name and null lists, as l3afd.',
    },
  }, async (req, reply) => {
    const found = engine.get(req.params.iface).find((e) => e.iface === req.params.iface);
    const doc = found ?? emptyInterface(host.hostName(), req.params.iface);
    // l3afd pretty-prints this answer (2-space indent); its e2e suite compares it byte for byte.
    return reply.type('application/json; charset=utf-8').serializer((d: unknown) => JSON.stringify(d, null, 2)).send(doc);
  });
};
