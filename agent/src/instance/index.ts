/** Single instance: PID file and state-directory lock, stale-file takeover. */
export { InstanceLock, InstanceConflictError, InstanceFileError, parseRecord } from './instance-lock.ts';
export { commandLineOf, executableOf, self, staleReason, startTimeOf, type ProcessIdentity } from './process-identity.ts';
