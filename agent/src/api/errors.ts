/**
 * How the API turns failures into answers: every client mistake is a 4xx with an
 * {@link ErrorBody} listing every offending field; only a fault of the agent itself is a 500,
 * and no answer carries a stack.
 */
import type { FastifyError } from 'fastify';
import { MAX_PROBLEMS, capProblems, formatSchemaErrors, type FieldError, type SchemaErrorLike } from '../payload/index.ts';
import type { ErrorBody } from '../payload/responses.ts';
import { EngineError } from '../engine/index.ts';

/** An error answer: status code and body. */
export interface ErrorAnswer {
  statusCode: number;
  body: ErrorBody;
}

/** A request the API refuses: thrown by handlers, answered by the error handler. */
export class RequestError extends Error {
  readonly statusCode: number;
  readonly problems: FieldError[];
  constructor(statusCode: number, error: string, problems: FieldError[] = []) {
    super(error);
    this.name = 'RequestError';
    this.statusCode = statusCode;
    this.problems = problems;
  }
}

/**
 * Makes each ajv `schemaPath` specific to the instance it was checked against: every `items`,
 * `additionalProperties` or `patternProperties` step carries the array index / key it applied to.
 * ajv gives errors from different array elements the same schemaPath, and formatSchemaErrors
 * groups the branches of an `anyOf` by schemaPath, so without this the branches of two elements'
 * nullable unions mix and spurious "must be null" problems appear.
 */
export function scopeSchemaPaths(errors: readonly SchemaErrorLike[]): SchemaErrorLike[] {
  return errors.map((e) => {
    const inst = e.instancePath.split('/').slice(1);
    const segs = e.schemaPath.split('/');
    const out: string[] = [];
    let k = 0;
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i] ?? '';
      const last = i === segs.length - 1;
      if (s === 'properties' && !last) {
        out.push(s, segs[i + 1] ?? '');
        i++;
        k++;
      } else if (s === 'patternProperties' && !last) {
        out.push(s, `${segs[i + 1] ?? ''}@${inst[k] ?? ''}`);
        i++;
        k++;
      } else if ((s === 'items' || s === 'additionalProperties') && !last) {
        out.push(`${s}@${inst[k] ?? ''}`);
        k++;
      } else {
        out.push(s);
      }
    }
    return { ...e, schemaPath: out.join('/') };
  });
}

/**
 * The problems of a body's validation errors, at most `limit` of them plus one saying what was left
 * out. Errors are taken element by element of the body (ajv reports them in element order; each
 * element's unions are within it) and formatting stops once `limit` problems are listed: the
 * errors of the remaining elements are counted, not examined, so refusing the largest body costs
 * little more than validating it.
 */
export function schemaProblems(errors: readonly SchemaErrorLike[], limit = MAX_PROBLEMS): FieldError[] {
  const blocks = new Map<string, SchemaErrorLike[]>();
  for (const e of errors) {
    const p = e.instancePath;
    const end = p.indexOf('/', 1);
    const key = end === -1 ? p : p.slice(0, end);
    const block = blocks.get(key);
    if (block) block.push(e);
    else blocks.set(key, [e]);
  }
  const out: FieldError[] = [];
  const seen = new Set<string>();
  let more = 0;
  let unexamined = 0;
  let unexaminedBlocks = 0;
  for (const block of blocks.values()) {
    if (out.length >= limit) {
      unexamined += block.length;
      unexaminedBlocks++;
      continue;
    }
    for (const fe of formatSchemaErrors(scopeSchemaPaths(block), Number.POSITIVE_INFINITY)) {
      const key = `${fe.path}\0${fe.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (out.length < limit) out.push(fe);
      else more++;
    }
  }
  if (more + unexamined === 0) return out;
  const skipped = unexamined > 0 ? ` and ${unexamined} more validation errors in ${unexaminedBlocks} more elements not examined` : '';
  return [...out, { path: '', message: `${more} more problems not listed${skipped} (an answer lists at most ${limit})` }];
}

/** The answer for an engine error, by its code (undefined: answered as any other error). */
function engineErrorAnswer(err: EngineError): ErrorAnswer | undefined {
  const problems = [{ path: '', message: err.message }];
  switch (err.code) {
    // Between start-up and shutdown only: the client may retry.
    case 'not_ready': return { statusCode: 503, body: { error: 'not ready', problems } };
    case 'invalid': return { statusCode: 400, body: { error: 'invalid request', problems } };
    // Started over an unreadable state file: nothing is served or changed until it is fixed.
    case 'degraded': return { statusCode: 503, body: { error: 'degraded: the stored desired state cannot be read', problems } };
    default: return undefined;
  }
}

const JSON_ERRORS = new Set(['FST_ERR_CTP_INVALID_JSON_BODY', 'FST_ERR_CTP_EMPTY_JSON_BODY']);

/** The answer for an error raised while handling a request. */
export function errorAnswer(err: FastifyError | Error): ErrorAnswer {
  if (err instanceof RequestError) {
    return { statusCode: err.statusCode, body: { error: err.message, problems: capProblems(err.problems) } };
  }
  if (err instanceof EngineError) {
    const a = engineErrorAnswer(err);
    if (a) return a;
  }
  const fe = err as FastifyError;
  if (fe.validation !== undefined) {
    const problems = schemaProblems(fe.validation as unknown as SchemaErrorLike[]);
    const where = fe.validationContext;
    if (where === 'body') return { statusCode: 400, body: { error: 'invalid request', problems } };
    const what = where === 'params' ? 'path parameter' : (where ?? 'request');
    return { statusCode: 400, body: { error: `invalid ${what}`, problems } };
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (fe.code !== undefined && JSON_ERRORS.has(fe.code)) {
    return { statusCode: 400, body: { error: 'invalid JSON', problems: [{ path: '', message: fe.message }] } };
  }
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { statusCode: 413, body: { error: 'request body too large', problems: [{ path: '', message: fe.message }] } };
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return { statusCode: 415, body: { error: 'unsupported media type', problems: [{ path: '', message: 'send the body as application/json' }] } };
  }
  if (status === 400 && err instanceof SyntaxError) {
    // JSON.parse failures and prototype-poisoning refusals from the JSON body parser.
    return { statusCode: 400, body: { error: 'invalid JSON', problems: [{ path: '', message: err.message }] } };
  }
  if (fe.code === 'FST_ERR_BAD_URL') {
    return { statusCode: 400, body: { error: 'invalid URL', problems: [{ path: '', message: `${fe.message} (malformed percent-encoding in the path)` }] } };
  }
  if (fe.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return { statusCode: 414, body: { error: 'URI too long', problems: [{ path: '', message: fe.message }] } };
  }
  if (status >= 400 && status < 500) {
    const name = fe.code !== undefined ? `${fe.code}: ` : '';
    return { statusCode: status, body: { error: fe.message || 'bad request', problems: [{ path: '', message: `${name}${fe.message || 'the request was refused'}` }] } };
  }
  return { statusCode: 500, body: { error: 'internal error', problems: [{ path: '', message: err.message }] } };
}

/**
 * The answer written on a socket whose request Node's HTTP parser refused (fastify's
 * `clientErrorHandler`): header overflow 431, request timeout 408, anything else 400, each in the
 * error document with the parser's reason named. A body shorter or longer than its Content-Length
 * shows up here as a parse error of what follows it. Undefined when nothing can be written.
 */
export function clientErrorAnswer(err: Error & { code?: string }): ErrorAnswer {
  const code = err.code ?? 'unknown';
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { statusCode: 431, body: { error: 'request header fields too large', problems: [{ path: '', message: 'the request headers exceed the server\'s limit (HPE_HEADER_OVERFLOW)' }] } };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { statusCode: 408, body: { error: 'request timeout', problems: [{ path: '', message: 'the request was not received in full in time (ERR_HTTP_REQUEST_TIMEOUT)' }] } };
  }
  const hint = code === 'HPE_INVALID_EOF_STATE'
    ? 'the connection ended before the whole request arrived (a body shorter than its Content-Length?)'
    : code === 'HPE_INVALID_METHOD' || code === 'HPE_INVALID_CONSTANT'
      ? 'bytes after the end of a request are not a request (a body longer than its Content-Length?)'
      : 'the request could not be parsed';
  const reason = (err as { reason?: unknown }).reason;
  return { statusCode: 400, body: { error: 'malformed request', problems: [{ path: '', message: `${hint} (${code}${typeof reason === 'string' && reason !== '' ? `: ${reason}` : ''})` }] } };
}
