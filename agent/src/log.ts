/**
 * The agent's logger: pino, structured, one JSON object per line on stdout; readable lines
 * (pino-pretty) when `[l3af] log-format` is `pretty`, or `auto` (the default) and stdout is a
 * terminal. The level comes from `[l3af] log-level`, overridden by the `L3AF_LOG_LEVEL`
 * environment variable (as l3afd's zerolog level variable).
 */
import pino, { type Logger } from 'pino';
import { createRequire } from 'node:module';
import { LOG_FORMATS, LOG_LEVELS, type AgentConfig } from './config/index.ts';
import { LogSink, type LogFileOptions } from './log-output.ts';

/** pino-pretty, loaded only when lines are pretty-printed (an agent logging JSON never holds it). */
function prettyStream(): typeof import('pino-pretty') {
  return createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
}

/** A `[l3af] log-format` value. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Whether lines are pretty-printed: `pretty`, or `auto` on a terminal. */
export function prettyLogs(format: LogFormat, isTty: boolean): boolean {
  return format === 'pretty' || (format === 'auto' && isTty);
}

/** A pino log level name accepted by {@link createLogger}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Level from the configuration (default `info`). */
  level?: LogLevel;
  /** Environment to read `L3AF_LOG_LEVEL` from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Where lines go (default stdout). */
  destination?: NodeJS.WritableStream;
  /** `[l3af] log-format` (default `json`; `auto` looks at whether stdout is a terminal). */
  format?: LogFormat;
  /** Console lines instead of JSON (`[l3afd] json-format-logs = false`); stdout only. */
  console?: boolean;
  /** Also write every line to this rotating file (`[l3afd] file-log-location`). */
  file?: LogFileOptions;
}

/** Logger options from l3afd's `[l3afd]` logging keys (json-format-logs, file-log-*). */
export function logOutputOptions(config: AgentConfig): Pick<LoggerOptions, 'console' | 'file'> {
  const l = config.l3afd;
  return {
    console: !l.jsonFormatLogs,
    ...(l.fileLogLocation !== '' ? {
      file: { path: l.fileLogLocation, maxBytes: l.fileLogMaxSize * 1024 * 1024, maxBackups: l.fileLogMaxBackups, maxAgeDays: l.fileLogMaxAge },
    } : {}),
  };
}

/** Whether `s` is a level name {@link createLogger} accepts. */
export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

/**
 * Creates the agent's root logger. An unknown `L3AF_LOG_LEVEL` is ignored and reported once at
 * warn level (it must not stop the agent).
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const env = opts.env ?? process.env;
  const fromEnv = env.L3AF_LOG_LEVEL?.trim().toLowerCase();
  const level = fromEnv !== undefined && fromEnv !== '' && isLogLevel(fromEnv) ? fromEnv : (opts.level ?? 'info');
  const logger = pino(
    { name: 'l3af', level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    opts.destination
      ?? (opts.console || opts.file
        ? new LogSink({ json: !opts.console, ...(opts.file ? { file: opts.file } : {}) })
        : prettyLogs(opts.format ?? 'json', process.stdout.isTTY === true)
          ? prettyStream()({ destination: 1, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' })
          : pino.destination({ fd: 1, sync: true })),
  );
  if (fromEnv !== undefined && fromEnv !== '' && !isLogLevel(fromEnv)) {
    logger.warn({ L3AF_LOG_LEVEL: env.L3AF_LOG_LEVEL, allowed: LOG_LEVELS }, 'ignoring unknown L3AF_LOG_LEVEL');
  }
  return logger;
}
