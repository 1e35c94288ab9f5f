/**
 * The engine's own errors, typed by code so the API maps them to HTTP answers by what they mean,
 * never by their wording.
 */

/**
 * - `not_ready`: the engine is not started yet, or already stopped (the client may retry);
 * - `busy`: start() called twice, or an operation that cannot run in the engine's phase;
 * - `invalid`: a body the API should have refused, or a package whose content is unusable;
 * - `repository`: a package could not be fetched;
 * - `kernel`: the kernel refused a step (load, attach, probe);
 * - `conflict`: the desired state changed since the caller read it (If-Match);
 * - `degraded`: the stored desired state could not be read at start: the engine serves nothing and
 *   changes nothing until the file is fixed and the agent restarted.
 */
export type EngineErrorCode = 'not_ready' | 'busy' | 'invalid' | 'repository' | 'kernel' | 'conflict' | 'degraded';

/** An engine call made before start() or after stop(), a body the API should have refused, … (see {@link EngineErrorCode}). */
export class EngineError extends Error {
  readonly code: EngineErrorCode;
  constructor(message: string, code: EngineErrorCode, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EngineError';
    this.code = code;
  }
}

/** The error of an engine call outside its running phase. */
export function notReady(phase: 'new' | 'starting' | 'running' | 'stopped'): EngineError {
  return new EngineError(phase === 'stopped' ? 'the engine is stopped' : 'the engine is not started (call start() first)', 'not_ready');
}
