/**
 * `l3af_audit_entries_total{route,outcome}`: the changes the audit log recorded. Read at scrape time through a
 * function, so a registry made again (after a failed hand-over) counts on from the same log.
 */
import type { Registry } from 'prom-client';
import type { AuditCount } from '../audit/audit-log.ts';
import { ScrapeMetric } from './scrape-metric.ts';

export function registerAuditEntries(registry: Registry, counts: () => readonly AuditCount[]): void {
  new ScrapeMetric({
    name: 'l3af_audit_entries_total', type: 'counter', help: 'Changes recorded in the audit log, by route and outcome.',
    collect: () => counts().map((c) => ({ labels: { route: c.route, outcome: c.outcome }, value: c.value })),
  }).register(registry);
}
