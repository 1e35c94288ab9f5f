/**
 * The REST server of the agent: a fastify instance with the l3afd routes, the OpenAPI document
 * and the error handling that keeps every client mistake a 4xx.
 *
 * - Validation: fastify's ajv with `allErrors` (every offending field), no type coercion, no
 *   silent removal of unknown keys; JSON bodies only (anything else is 415); body size bound by
 *   `[l3af] body-limit` (413).
 * - Serialisation: answers are sent as the engine returns them (the response schemas document
 *   them in the OpenAPI document; they do not filter fields).
 * - Logging: the agent's pino logger with a request id per request (`x-request-id` is honoured
 *   when a client sends one and echoed on every answer).
 */
import { randomUUID } from 'node:crypto';
import type { TlsOptions } from 'node:tls';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/index.ts';
import type { Engine } from '../engine/types.ts';
import { chainsRoutes } from './chains-routes.ts';
import { configsRoutes } from './configs-routes.ts';
import { errorAnswer } from './errors.ts';
import { realHost, type HostFacts } from './host-checks.ts';
import { packagesRoutes } from './packages-routes.ts';
import { tracingPlugin } from '../telemetry/tracing.ts';
import { hostRoutes, type HostFactsCache } from '../platform/host-facts.ts';
import { eventRoutes } from '../events/sse-routes.ts';
import { EtwEvents } from '../events/etw-events.ts';
import type { EventHub } from '../events/event-hub.ts';
import { registerOpenApi } from './openapi.ts';
import { restartRoutes, type RestartController } from './restart-route.ts';

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
  observability?: { readonly hostFacts: HostFactsCache; readonly events: EventHub; readonly tracing?: boolean };
}

/** Server timeouts (l3afd had none): whole request, headers, idle keep-alive. */
export const SERVER_TIMEOUTS = { requestTimeoutMs: 30_000, headersTimeoutMs: 15_000, keepAliveTimeoutMs: 10_000 } as const;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Builds the server (not listening yet); call `.listen()` or `.inject()` on it. */
export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const { engine, config, logger } = opts;
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: config.l3af.bodyLimit,
    requestIdHeader: 'x-request-id',
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    requestTimeout: SERVER_TIMEOUTS.requestTimeoutMs,
    keepAliveTimeout: SERVER_TIMEOUTS.keepAliveTimeoutMs,
    ...(opts.https ? { https: opts.https } : {}),
    ajv: { customOptions: { allErrors: true, coerceTypes: false, removeAdditional: false, useDefaults: false } },
  }) as unknown as FastifyInstance;

  app.server.headersTimeout = SERVER_TIMEOUTS.headersTimeoutMs;
  if (opts.observability?.tracing !== false && opts.observability) await app.register(tracingPlugin);
  if (opts.authorize) app.addHook('onRequest', opts.authorize);

  // JSON only: text/plain would otherwise be parsed as a string and fail later as a type error.
  app.removeContentTypeParser('text/plain');
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-request-id', req.id);
    return payload;
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const answer = errorAnswer(err);
    if (answer.statusCode >= 500) {
      req.log.error({ err }, 'request failed');
    } else {
      req.log.info({ status: answer.statusCode, error: answer.body.error, problems: answer.body.problems }, 'request rejected');
    }
    return reply.code(answer.statusCode).type('application/json; charset=utf-8').send(answer.body);
  });

  app.setNotFoundHandler((req, reply) => reply.code(404).send({
    error: 'not found',
    problems: [{ path: '', message: `no route ${req.method} ${req.url.split('?')[0] ?? ''}` }],
  }));

  await registerOpenApi(app, { swaggerUi: config.l3afd.swaggerApiEnabled, version: API_VERSION });
  await app.register(configsRoutes, { prefix: '/l3af/configs', engine, host: opts.host ?? realHost });
  await app.register(chainsRoutes, { prefix: '/l3af/chains', engine });
  if (opts.restart) await app.register(restartRoutes, { controller: opts.restart });
  await app.register(packagesRoutes, { config });
  if (opts.observability) {
    await app.register(hostRoutes, { cache: opts.observability.hostFacts });
    // Windows: ETW real-time events at source=etw (one session, started by the first subscriber)
    const etw = process.platform === 'win32' ? new EtwEvents() : undefined;
    if (etw) app.addHook('onClose', async () => etw.close());
    await app.register(eventRoutes, { hub: opts.observability.events, ...(etw ? { etw } : {}) });
  }
  return app;
}
