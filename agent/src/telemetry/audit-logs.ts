/**
 * Audit entries as OpenTelemetry log records: every accepted change the audit log records
 * (audit/audit-log.ts) becomes one log record, `eventName` `l3af.audit`, whose body is the entry
 * as `GET /l3af/audit` shows it and whose attributes carry the fields a log query filters on
 * (`l3af.audit.id`, `.route`, `.outcome`, `.identity`, `.ifaces`). A failed change is logged at
 * WARN, an accepted one at INFO. Started by observability when OTLP logs are configured, like
 * the program events (telemetry/event-logs.ts).
 */
import type { Logger as OtelLogger, AnyValue } from '@opentelemetry/api-logs';
import type { AuditEntry } from '../payload/index.ts';

/** What the exporter subscribes to (the AuditLog). */
export interface AuditSource {
  /** Calls `onEntry` after each entry is recorded; returns the unsubscribe. */
  subscribe(onEntry: (e: AuditEntry) => void): () => void;
}

const SEVERITY_INFO = 9;
const SEVERITY_WARN = 13;

/** Exports audit entries as log records until closed. */
export class AuditLogExport {
  /** Log records emitted. */
  exported = 0;
  readonly #unsubscribe: () => void;

  constructor(source: AuditSource, readonly logger: OtelLogger) {
    this.#unsubscribe = source.subscribe((e) => this.#emit(e));
  }

  #emit(e: AuditEntry): void {
    const ok = e.outcome === 'ok';
    this.logger.emit({
      eventName: 'l3af.audit',
      body: JSON.parse(JSON.stringify(e)) as AnyValue,
      attributes: {
        'l3af.audit.id': e.id, 'l3af.audit.route': e.route, 'l3af.audit.outcome': e.outcome,
        'l3af.audit.identity': e.identity, 'l3af.audit.ifaces': [...e.ifaces],
        ...(e.reverts !== undefined ? { 'l3af.audit.reverts': e.reverts } : {}),
      },
      severityNumber: ok ? SEVERITY_INFO : SEVERITY_WARN,
      severityText: ok ? 'INFO' : 'WARN',
      timestamp: Date.parse(e.time),
    });
    this.exported++;
  }

  close(): void {
    this.#unsubscribe();
  }
}
