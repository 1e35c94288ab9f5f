/**
 * The logger every module writes to: pino's call shape (fields first, then the message). The agent passes
 * its pino logger (or a child of it); tests pass a recording one.
 */
export interface Logger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}
