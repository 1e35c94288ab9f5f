/**
 * The REST server of the agent: a fastify instance with the l3afd routes, the OpenAPI document
 * and the error handling that keeps every client mistake a 4xx.
 *
 * - Validation: fastify's ajv with `allErrors` (every offending field), no type coercion; unknown
 *   keys are removed before it with a warning (configs-routes.ts); bodies are JSON whatever the
 *   content type says (as l3afd); body size bound by `[l3af] body-limit` (413).
 * - Serialisation: answers are sent as the engine returns them (the response schemas document
 *   them in the OpenAPI document; they do not filter fields).
 * - Logging: the agent's pino logger with a request id per request (`x-request-id` is honoured
 *   when a client sends one and echoed on every answer); request log lines for reads (GET, HEAD) at debug level, for changes at info.
 */
import { randomUUID } from 'node:crypto';
import type { TlsOptions } from 'node:tls';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/index.ts';
import type { Engine } from '../engine/types.ts';
import { chainsRoutes } from './chains-routes.ts';
import { RequestLogger } from './request-logger.ts';
import { configsRoutes } from './configs-routes.ts';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { clientErrorAnswer, errorAnswer } from './errors.ts';
import { realHost, type HostFacts } from './host-checks.ts';
import { packagesRoutes } from './packages-routes.ts';
import { tracingPlugin } from '../telemetry/tracing.ts';
import type { HostFactsCache } from '../platform/host-facts.ts';
import { hostRoutes } from './host-routes.ts';
import { eventRoutes } from './events-routes.ts';
import { EtwEvents } from '../events/etw-events.ts';
import type { EventHub } from '../events/event-hub.ts';
import { registerOpenApi } from './openapi.ts';
import { restartRoutes, type RestartController } from './restart-route.ts';
import { auditRoutes } from './audit-routes.ts';
import type { AuditLog } from '../audit/audit-log.ts';

/** Version reported in the OpenAPI document. */
export const API_VERSION = '0.1.0';

/** Options of {@link buildServer}. */
export interface ServerOptions {
  engine: Engine;
  config: AgentConfig;
  logger: Logger;
  /** Host facts requests are checked against (default: this host). */
  host?: HostFacts;
  /** Serve https with these options (mTLS: agent/src/security). */
  https?: TlsOptions;
  /** Runs before every request (roles: 403 for what the client may not do). */
  authorize?: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** Enables `PUT /l3af/configs/{version}/restart` and `GET /l3af/agent`. */
  restart?: RestartController;
  /**
   * Observability routes and request tracing: `GET /l3af/host` (host facts), `GET /l3af/events`
   * (live events, SSE), one span per request.
   */
  observability?: { readonly hostFacts: HostFactsCache; readonly events: EventHub; readonly tracing?: boolean; readonly etw?: EtwEvents | undefined };
  /** Audit log of accepted changes: recorded by the write routes, served at `/l3af/audit` (none: neither). */
  audit?: AuditLog;
}

/** Server timeouts (l3afd had none): whole request, headers, idle keep-alive. */
export const SERVER_TIMEOUTS = { requestTimeoutMs: 30_000, headersTimeoutMs: 15_000, keepAliveTimeoutMs: 10_000 } as const;

/**
 * fastify's request log lines at the agent's levels: reads (GET, HEAD) at debug, so a polling client costs
 * no log line; "incoming request" at debug; a completed change (POST, …) and every error as fastify logs them.
 */
class RequestLogs extends LogController {
  constructor(private readonly debug: boolean) {
    super();
  }

  override incomingRequest(request: FastifyRequest): void {
    if (this.debug) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (!error && (request.method === 'GET' || request.method === 'HEAD')) {
      if (this.debug) reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
      return;
    }
    super.requestCompleted(error, request, reply);
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Methods a route may answer (a 405 names those of the path that exist). */
const ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/** Builds the server (not listening yet); call `.listen()` or `.inject()` on it. */
export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const { engine, config, logger } = opts;
  const app = Fastify({
    loggerInstance: logger,
    logController: new RequestLogs(logger.isLevelEnabled('debug')),
    // req.log: pino's child with the request id, made when the request first writes a line
    childLoggerFactory: (parent, bindings, options) => new RequestLogger(parent as unknown as Logger, bindings, options) as unknown as FastifyBaseLogger,
    bodyLimit: config.l3af.bodyLimit,
    requestIdHeader: 'x-request-id',
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // answered by the onRequest hook below, in the error document (fastify's own 503 is not)
    return503OnClosing: false,
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const answer = errorAnswer(err);
      req.log.info({ status: answer.statusCode, error: answer.body.error, problems: answer.body.problems }, 'request rejected');
      return reply.code(answer.statusCode).type('application/json; charset=utf-8').send(answer.body);
    },
    clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const answer = clientErrorAnswer(err);
      logger.info({ status: answer.statusCode, error: answer.body.error, problems: answer.body.problems }, 'request rejected by the HTTP parser');
      if (socket.writable) {
        const body = JSON.stringify(answer.body);
        socket.write(`HTTP/1.1 ${answer.statusCode} ${STATUS_CODES[answer.statusCode] ?? ''}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroy(err);
    },
    requestTimeout: SERVER_TIMEOUTS.requestTimeoutMs,
    keepAliveTimeout: SERVER_TIMEOUTS.keepAliveTimeoutMs,
    ...(opts.https ? { https: opts.https } : {}),
    // the answer is built from err.validation (errors.ts); fastify's default message would join every error into one string
    schemaErrorFormatter: (errors, dataVar) => new Error(`${errors.length} schema errors in ${dataVar}`),
    ajv: { customOptions: { allErrors: true, coerceTypes: false, removeAdditional: false, useDefaults: false } },
  }) as unknown as FastifyInstance;

  app.server.headersTimeout = SERVER_TIMEOUTS.headersTimeoutMs;
  // one synchronous hook per request (no promise): the request id goes back in every answer, and a
  // stopping agent answers 503 in the error document
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    if (!closing) return done();
    reply.code(503).header('connection', 'close').type('application/json; charset=utf-8')
      .send({ error: 'not ready', problems: [{ path: '', message: 'the agent is stopping; retry' }] });
  });

  if (opts.observability?.tracing !== false && opts.observability) await app.register(tracingPlugin);
  if (opts.authorize) app.addHook('onRequest', opts.authorize);

  // Every body is JSON, whatever its content type, as l3afd reads it (`curl -d @payload.json`, as
  // L3AF's READMEs write it, sends application/x-www-form-urlencoded), with the same protections.
  // A route that takes no body (revert) also takes an empty one, whatever its content type says
  // (`curl -X POST -H 'content-type: application/json' …/revert`); a route with a body still refuses it.
  const json = app.getDefaultJsonParser('error', 'error');
  const parseBody = (req: FastifyRequest, body: string, done: (err: Error | null, value?: unknown) => void): void => {
    if (body === '' && req.routeOptions.schema?.body === undefined) return done(null, undefined);
    json(req, body, done);
  };
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseBody);
  app.addContentTypeParser('*', { parseAs: 'string' }, parseBody);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const answer = errorAnswer(err);
    if (answer.statusCode >= 500) {
      req.log.error({ err }, 'request failed');
    } else {
      req.log.info({ status: answer.statusCode, error: answer.body.error, problems: answer.body.problems }, 'request rejected');
    }
    return reply.code(answer.statusCode).type('application/json; charset=utf-8').send(answer.body);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    const allowed = ROUTE_METHODS.filter((m) => m !== req.method && app.findRoute({ method: m, url: path }) !== null);
    if (allowed.length > 0) {
      return reply.code(405).header('allow', allowed.join(', ')).send({
        error: 'method not allowed',
        problems: [{ path: '', message: `${req.method} is not allowed on ${path} (allowed: ${allowed.join(', ')})` }],
      });
    }
    return reply.code(404).send({ error: 'not found', problems: [{ path: '', message: `no route ${req.method} ${path}` }] });
  });

  await registerOpenApi(app, { swaggerUi: config.l3afd.swaggerApiEnabled, version: API_VERSION });
  await app.register(configsRoutes, { prefix: '/l3af/configs', engine, host: opts.host ?? realHost, audit: opts.audit });
  if (opts.audit) await app.register(auditRoutes, { engine, audit: opts.audit });
  await app.register(chainsRoutes, { prefix: '/l3af/chains', engine });
  if (opts.restart) await app.register(restartRoutes, { controller: opts.restart });
  await app.register(packagesRoutes, { config });
  if (opts.observability) {
    await app.register(hostRoutes, { cache: opts.observability.hostFacts });
    // Windows: ETW real-time events at source=etw (one session, started by the first subscriber)
    const etw = opts.observability.etw ?? (process.platform === 'win32' ? new EtwEvents() : undefined);
    if (etw && !opts.observability.etw) app.addHook('onClose', async () => etw.close());
    await app.register(eventRoutes, { hub: opts.observability.events, ...(etw ? { etw } : {}) });
  }
  return app;
}
