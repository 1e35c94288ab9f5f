/**
 * User programs (a payload program's cmd_* commands): the argument contract, supervision with
 * restarts and logs, and resource limits.
 */
export * from './args.ts';
export * from './limits.ts';
export * from './proc.ts';
export * from './rotating-log.ts';
export * from './supervisor.ts';
export * from './process-host.ts';
