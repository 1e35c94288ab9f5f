/**
 * The last line of defence: an exception or promise rejection nobody handled is logged with its
 * context (kind, error, stack, cause) and counted in `l3af_agent_unexpected_errors_total{kind}`,
 * and the agent stays up. Known failure paths are handled where they happen; this only keeps a
 * missed one from taking the API, metrics and supervision down with it.
 */
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../logger.ts';

/** Where an unexpected error came from. */
export type UnexpectedKind = 'uncaught_exception' | 'unhandled_rejection';

/** Describes `e` for a log line: message, name, code, stack and cause chain. */
export function describeError(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) return { value: typeof e === 'string' ? e : JSON.stringify(e) ?? String(e) };
  const out: Record<string, unknown> = { name: e.name, message: e.message, stack: e.stack };
  const code = (e as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  if (e.cause !== undefined) out.cause = describeError(e.cause);
  return out;
}

/** Installs the process-level handlers; returns a function that removes them (tests). */
export function installUnexpectedErrorGuard(registry: Registry, logger: Logger): () => void {
  const counter = new Counter({
    name: 'l3af_agent_unexpected_errors_total',
    help: 'Exceptions and promise rejections no code path handled (logged; the agent stayed up)',
    labelNames: ['kind'],
    registers: [registry] });
  counter.inc({ kind: 'uncaught_exception' }, 0);
  counter.inc({ kind: 'unhandled_rejection' }, 0);
  const report = (kind: UnexpectedKind, e: unknown, origin?: string): void => {
    counter.inc({ kind });
    try {
      logger.error({ kind, origin, err: describeError(e) }, 'unexpected error (handled by the process-level guard; the agent stays up)');
    } catch {
      // the logger itself failed: the count is still there
    }
  };
  const onException = (e: unknown, origin: string): void => report('uncaught_exception', e, origin);
  const onRejection = (reason: unknown): void => report('unhandled_rejection', reason);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
    registry.removeSingleMetric('l3af_agent_unexpected_errors_total');
  };
}
