/**
 * l3afd's `PUT /l3af/configs/{version}/restart` (body `RestartConfig {hostname, version}`) and
 * `GET /l3af/agent` (which process answers: pid, build, start time).
 *
 * Restart hands the agent over to the build installed at `[graceful-restart] basepath/<version>/`
 * (see agent/src/instance/handover.ts): 200 once the new process answers on the REST address,
 * 400 for another host name, a version outside `version-limit` or no installed build, 409 while
 * a hand-over is under way, 500 when the new build failed (this agent serves again).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { RestartConfig } from '../payload/index.ts';
import { ErrorBody } from '../payload/responses.ts';

/** The result of a successful hand-over. */
export interface HandoverResult {
  readonly pid: number;
  readonly version: string;
  readonly build: string;
  /** Called once the answer has been sent: this process leaves. */
  readonly finish: () => void;
}

/** What the route needs from the agent. */
export interface RestartController {
  /** Hands over (throws RequestError for refusals, anything else is a 500). */
  handover(body: RestartConfig): Promise<HandoverResult>;
  /** Facts about this process for `GET /l3af/agent`. */
  info(): Record<string, unknown>;
}

/** Options of {@link restartRoutes}. */
export interface RestartRoutesOptions {
  controller: RestartController;
}

const HandoverAnswer = Type.Object({
  status: Type.Literal('handed over'),
  pid: Type.Integer({ description: 'pid of the process now serving the API' }),
  version: Type.String(),
  build: Type.String({ description: 'Directory of the build now running' }),
}, { additionalProperties: false });

/** Registers the restart and agent-info routes (no prefix). */
export const restartRoutes: FastifyPluginAsync<RestartRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { controller } = opts;
  app.put('/l3af/configs/:version/restart', {
    schema: {
      tags: ['l3af configs'], operationId: 'restart', body: RestartConfig,
      params: Type.Object({ version: Type.String({ minLength: 1, maxLength: 64 }) }),
      response: {
        200: HandoverAnswer, 400: ErrorBody, 403: ErrorBody, 409: ErrorBody, 500: ErrorBody,
      },
      summary: 'Hand over to the build installed under [graceful-restart] basepath/<version>/ (the data plane stays).',
    },
  }, async (req, reply) => {
    const done = await controller.handover(req.body);
    reply.raw.once('close', () => done.finish());
    return reply.code(200).send({ status: 'handed over', pid: done.pid, version: done.version, build: done.build });
  });
  app.get('/l3af/agent', {
    schema: { tags: ['agent'], operationId: 'agentInfo', summary: 'The process serving the API: pid, build, start time, TLS.' },
  }, async () => controller.info());
};
