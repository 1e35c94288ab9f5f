/**
 * Audit entries as OTel log records (when OTLP logs are configured): one record per accepted change, event name
 * `l3af.audit`, the entry as its body (id, time, identity, route, body digest, plan, outcome, ETags, interfaces),
 * route / outcome / identity / id as attributes.
 */
import type { Logger as OtelLogger } from '@opentelemetry/api-logs';
import type { AuditEntry } from '../payload/index.ts';
import { toAnyValue } from './event-logs.ts';

const SEVERITY_INFO = 9;
const SEVERITY_WARN = 13;

export function exportAuditEntry(logger: OtelLogger, e: AuditEntry): void {
  const ok = e.outcome === 'ok';
  logger.emit({
    eventName: 'l3af.audit',
    body: toAnyValue(e),
    attributes: { 'l3af.audit.id': e.id, 'l3af.audit.route': e.route, 'l3af.audit.outcome': e.outcome, 'l3af.audit.identity': e.identity, 'l3af.audit.ifaces': e.ifaces.join(',') },
    severityNumber: ok ? SEVERITY_INFO : SEVERITY_WARN,
    severityText: ok ? 'INFO' : 'WARN',
    timestamp: Date.parse(e.time),
  });
}
