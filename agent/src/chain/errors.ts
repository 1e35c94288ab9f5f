export { messageOf } from '../error-message.ts';
/** Errors of the chain engine: what kind of failure, in words a caller can map to a response. */

/**
 * `invalid`: bad input (a name, a position, a spec). `not_found`: no such chain or program.
 * `conflict`: the request clashes with what exists (a duplicate name, pins already there, another
 * program on the hook). `kernel`: the kernel refused (load, verifier, attach); `cause` says why.
 * `state`: the kernel does not look like what the engine expected (a slot holds another id).
 */
export type ChainErrorCode = 'invalid' | 'not_found' | 'conflict' | 'kernel' | 'state';

/** A failure of a chain operation. The chain is left as it was before the operation. */
export class ChainError extends Error {
  readonly code: ChainErrorCode;

  constructor(code: ChainErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChainError';
    this.code = code;
  }
}

