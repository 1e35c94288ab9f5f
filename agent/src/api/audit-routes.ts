/**
 * The audit log's routes: `GET /l3af/audit` (newest first, paged, filterable by interface and
 * time) and `POST /l3af/audit/{id}/revert` (applies the desired state of the interfaces that
 * change touched as it was before it, as an update; honours If-Match; audited as `revert`).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AuditLog, StoredAuditEntry } from '../audit/audit-log.ts';
import type { Engine } from '../engine/types.ts';
import {
  AuditPage, AuditQuery, normalizePrograms, PreconditionFailed, type AddUpdateBody, type NormalizedL3afBpfPrograms,
} from '../payload/index.ts';
import { RequestError } from './errors.ts';
import { ErrorBody, OperationResultSchema } from '../payload/responses.ts';
import { statusOf } from './configs-routes.ts';
import { safeWrite } from './safe-writes.ts';

export interface AuditRoutesOptions {
  engine: Engine;
  audit: AuditLog;
}

/** Epoch ms of an ISO 8601 query value; a clear 400 when it is not one. */
function timeOf(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new RequestError(400, 'invalid request', [{ path: `/${name}`, message: `'${v}' is not an ISO 8601 time` }]);
  return t;
}

/**
 * The update body that reverts `entry`: the desired state now, with each interface it touched as it
 * was before it (an interface it created: no programs).
 */
export function revertBody(entry: StoredAuditEntry, now: readonly NormalizedL3afBpfPrograms[]): AddUpdateBody {
  const out = new Map(now.map((e) => [e.iface, e]));
  const hostName = now[0]?.host_name ?? entry.before[0]?.host_name ?? '';
  for (const iface of entry.ifaces) {
    const was = entry.before.find((e) => e.iface === iface);
    out.set(iface, was ?? { host_name: out.get(iface)?.host_name ?? hostName, iface, ipv4_address: out.get(iface)?.ipv4_address ?? '', bpf_programs: normalizePrograms(null) });
  }
  return [...out.values()] as unknown as AddUpdateBody;
}

export const auditRoutes: FastifyPluginAsync<AuditRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { engine, audit } = opts;
  const tags = ['l3af audit'];

  app.get('/l3af/audit', {
    schema: {
      tags, operationId: 'getAudit', querystring: AuditQuery,
      response: { 200: AuditPage, 400: ErrorBody },
      summary: 'Accepted changes, newest first (paged with cursor; filter by iface, since, until).',
    },
  }, async (req) => {
    const q = req.query;
    return audit.list({
      ...(q.iface === undefined ? {} : { iface: q.iface }),
      ...(q.since === undefined ? {} : { since: timeOf('since', q.since) as number }),
      ...(q.until === undefined ? {} : { until: timeOf('until', q.until) as number }),
      ...(q.limit === undefined ? {} : { limit: Math.min(1000, Number(q.limit)) }),
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
  });

  app.post('/l3af/audit/:id/revert', {
    schema: {
      tags, operationId: 'revertChange', params: Type.Object({ id: Type.String({ pattern: '^[0-9]{1,32}$' }) }),
      response: {
        200: { ...OperationResultSchema, description: 'Reverted (as update answers; the new ETag in the header).' },
        404: ErrorBody, 412: PreconditionFailed, 422: OperationResultSchema, 500: ErrorBody, 502: OperationResultSchema, 503: ErrorBody, 504: OperationResultSchema,
      },
      summary: 'Applies the desired state the interfaces of that change had before it (If-Match honoured); audited as revert.',
    },
  }, async (req, reply) => {
    const entry = audit.get(req.params.id);
    if (!entry) throw new RequestError(404, 'not found', [{ path: '/id', message: `no audit entry '${req.params.id}' (it may have been rotated away)` }]);
    const body = revertBody(entry, engine.get(undefined, { status: false }));
    return safeWrite({ engine, audit }, 'update', req, reply, body, (result) => reply.code(statusOf(result)).send(result), { route: 'revert', reverts: entry.id });
  });
};
