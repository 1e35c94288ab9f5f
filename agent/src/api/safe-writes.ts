/**
 * The safe change API around the l3afd write routes (FLEET-API contract): `?dry_run=true` answers
 * the plan and the verifier's verdict and changes nothing; `If-Match` makes a write conditional on
 * the desired state's ETag (412 with the current one when stale; without it, as l3afd); every
 * successful write answers the new `ETag`; an accepted change is recorded in the audit log.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog, StoredAuditEntry } from '../audit/audit-log.ts';
import { EngineError } from '../engine/errors.ts';
import type { ChangeRecord, Engine, OperationResult, WriteOptions } from '../engine/types.ts';
import { messageOf } from '../error-message.ts';
import type { AddUpdateBody, AuditOutcome, AuditRoute, DeleteBody } from '../payload/index.ts';
import { clientIdentity } from '../security/identity.ts';

export interface SafeWriteContext {
  readonly engine: Engine;
  readonly audit?: AuditLog | undefined;
}

/** True for `?dry_run=true` (or 1). */
export function isDryRun(q: unknown): boolean {
  const v = (q as { dry_run?: string } | undefined)?.dry_run;
  return v === 'true' || v === '1';
}

function outcomeOf(c: ChangeRecord): AuditOutcome {
  if (c.error !== undefined || !c.result) return 'failed';
  const failed = c.result.results.some((r) => r.outcome === 'failed');
  if (!failed) return 'ok';
  // partial: something changed beside the failure; failed: nothing did
  return c.result.results.some((r) => r.outcome === 'added' || r.outcome === 'updated' || r.outcome === 'removed') ? 'partial' : 'failed';
}

/** Whether an error thrown by a write means the change was not accepted at all (nothing to audit). */
function refused(err: unknown): boolean {
  return err instanceof EngineError && (err.code === 'invalid' || err.code === 'conflict' || err.code === 'not_ready' || err.code === 'busy');
}

/** The audit entry of one write as it happened. */
export function auditEntryOf(route: AuditRoute, req: FastifyRequest, body: unknown, c: ChangeRecord, reverts?: string): Omit<StoredAuditEntry, 'id' | 'time'> {
  const error = c.error !== undefined ? messageOf(c.error) : undefined;
  return {
    identity: clientIdentity(req), route, body_sha256: createHash('sha256').update(JSON.stringify(body ?? null)).digest('hex'),
    plan: c.plan, outcome: outcomeOf(c), ...(error === undefined ? {} : { error }), etag_before: c.etagBefore, etag_after: c.etagAfter,
    ifaces: c.ifaces, ...(reverts === undefined ? {} : { reverts }), before: c.before,
  };
}

/**
 * Runs a write (or its dry run) and answers it. `answer` turns the engine's result into the reply
 * (status code and body) exactly as the route did before.
 */
export async function safeWrite(
  ctx: SafeWriteContext, mode: 'add' | 'update' | 'delete', req: FastifyRequest, reply: FastifyReply, body: AddUpdateBody | DeleteBody,
  answer: (result: OperationResult) => FastifyReply, audit: { route: AuditRoute; reverts?: string } = { route: mode },
): Promise<FastifyReply> {
  const { engine } = ctx;
  if (isDryRun(req.query)) {
    if (!engine.dryRun) throw new EngineError('this engine has no dry run', 'invalid');
    const r = await engine.dryRun(mode, body);
    return reply.code(200).header('etag', r.etag).send(r);
  }
  const header = req.headers['if-match'];
  let etagAfter: string | undefined;
  const opts: WriteOptions = {
    validated: audit.route !== 'revert', // the route checked the body (a revert's body is the agent's own state: checked here)
    ...(typeof header === 'string' ? { ifMatch: header } : {}),
    record: (c) => {
      etagAfter = c.etagAfter;
      if (!ctx.audit || refused(c.error)) return;
      try {
        ctx.audit.append(auditEntryOf(audit.route, req, body, c, audit.reverts));
      } catch (err) {
        req.log.error({ err: messageOf(err) }, 'writing the audit log failed');
      }
    },
  };
  let result: OperationResult;
  try {
    result = mode === 'delete' ? await engine.delete(body as DeleteBody, opts) : await engine[mode](body as AddUpdateBody, opts);
  } catch (err) {
    if (err instanceof EngineError && err.code === 'conflict') {
      const etag = engine.etag?.() ?? '';
      return reply.code(412).header('etag', etag).type('application/json; charset=utf-8').send({ error: err.message, etag });
    }
    throw err;
  }
  const etag = etagAfter ?? engine.etag?.();
  if (etag !== undefined) reply.header('etag', etag);
  return answer(result);
}
