/**
 * Wire types of the safe change API (issue 19, /work FLEET-API contract): the plan of a change
 * (dry run answer, audit entries), the audit log's entries and its query, the write options.
 */
import { Type, type Static } from 'typebox';

/** What a change does to one program. `update`: fields changed in place (map_args, user program args …), no reload and no move. */
export const PlanAction = Type.Union([
  Type.Literal('load'), Type.Literal('replace'), Type.Literal('move'), Type.Literal('remove'), Type.Literal('unchanged'), Type.Literal('update'),
], { description: 'load | replace (hitless, new object) | move (seq_id) | remove | unchanged | update (in place: map_args, user program fields).' });
export type PlanAction = Static<typeof PlanAction>;

export const VerifierVerdict = Type.Object({
  ok: Type.Boolean(),
  insns: Type.Optional(Type.Integer({ description: 'Instructions the verifier processed.' })),
  error: Type.Optional(Type.String()),
  log: Type.Optional(Type.String({ description: 'Last lines of the verifier log.' })),
});
export type VerifierVerdict = Static<typeof VerifierVerdict>;

export const PlanItem = Type.Object({
  iface: Type.String(),
  direction: Type.String({ description: 'xdpingress | ingress | egress | probes (l3afd\'s names, as the results carry them) or the payload key.' }),
  name: Type.String(),
  version: Type.String(),
  action: PlanAction,
  seq_id: Type.Integer(),
  sha256: Type.Optional(Type.String({ description: 'sha256 of the package archive (dry run, when fetched).' })),
  verifier: Type.Optional(VerifierVerdict),
});
export type PlanItem = Static<typeof PlanItem>;

export const ChainChange = Type.Object({
  iface: Type.String(),
  direction: Type.String(),
  before: Type.Array(Type.String()),
  after: Type.Array(Type.String()),
});
export type ChainChange = Static<typeof ChainChange>;

export const DryRunResult = Type.Object({
  dry_run: Type.Literal(true),
  ok: Type.Boolean({ description: 'False when any program failed to fetch or verify.' }),
  etag: Type.String(),
  plan: Type.Array(PlanItem),
  chains: Type.Array(ChainChange),
}, { description: 'What the change would do; nothing in the kernel or the store changed.' });
export type DryRunResult = Static<typeof DryRunResult>;

export const AuditRoute = Type.Union([Type.Literal('add'), Type.Literal('update'), Type.Literal('delete'), Type.Literal('revert')]);
export type AuditRoute = Static<typeof AuditRoute>;
export const AuditOutcome = Type.Union([Type.Literal('ok'), Type.Literal('failed'), Type.Literal('partial')]);
export type AuditOutcome = Static<typeof AuditOutcome>;

export const AuditEntry = Type.Object({
  id: Type.String({ description: 'Monotonic (sorts as a string).' }),
  time: Type.String({ description: 'ISO 8601.' }),
  identity: Type.String({ description: 'The mTLS client certificate\'s subject CN / DNS SAN, or "anonymous".' }),
  route: AuditRoute,
  body_sha256: Type.String(),
  plan: Type.Array(PlanItem),
  outcome: AuditOutcome,
  error: Type.Optional(Type.String()),
  etag_before: Type.String(),
  etag_after: Type.String(),
  ifaces: Type.Array(Type.String()),
  reverts: Type.Optional(Type.String({ description: 'revert: the id of the entry it reverted.' })),
});
export type AuditEntry = Static<typeof AuditEntry>;

export const AuditPage = Type.Object({
  entries: Type.Array(AuditEntry, { description: 'Newest first.' }),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});
export type AuditPage = Static<typeof AuditPage>;

export const AuditQuery = Type.Object({
  iface: Type.Optional(Type.String({ maxLength: 64 })),
  since: Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601: entries at or after.' })),
  until: Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601: entries before.' })),
  limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: '1..1000, default 100.' })),
  cursor: Type.Optional(Type.String({ maxLength: 64, description: 'next_cursor of the previous page.' })),
}, { additionalProperties: false });
export type AuditQuery = Static<typeof AuditQuery>;

export const DryRunQuery = Type.Object({
  dry_run: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false'), Type.Literal('1'), Type.Literal('0')], {
    description: 'true (or 1): plan, fetch, load and verify, but never link; nothing in the kernel or the store changes.',
  })),
});
export type DryRunQuery = Static<typeof DryRunQuery>;

export const PreconditionFailed = Type.Object({
  error: Type.String(),
  etag: Type.String(),
}, { description: 'If-Match did not match the current ETag: nothing changed.' });
