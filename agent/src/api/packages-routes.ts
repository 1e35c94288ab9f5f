/**
 * `GET /l3af/packages`: what the agent's package repository (`[ebpf-repo] url`) offers for this
 * host's platform (`?platform=all` for every platform) — what a UI can offer to add.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { PackagesAnswer } from '../payload/responses.ts';
import { CatalogError, listPackages } from '../artifacts/index.ts';
import { platformName } from '../platform/platform-name.ts';
import type { AgentConfig } from '../config/index.ts';
import { RequestError } from './errors.ts';

export interface PackagesRoutesOptions {
  readonly config: AgentConfig;
}


export const packagesRoutes: FastifyPluginAsync<PackagesRoutesOptions> = async (app, opts) => {
  const repository = opts.config.ebpfRepo.url;
  const platform = opts.config.l3af.platform || platformName();
  app.get<{ Querystring: { platform?: string } }>('/l3af/packages', {
    schema: {
      summary: 'What the package repository offers',
      querystring: Type.Object({ platform: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' })) }),
      response: { 200: PackagesAnswer },
    },
  }, async (req) => {
    const want = req.query.platform === 'all' ? undefined : (req.query.platform ?? platform);
    try {
      const packages = await listPackages(repository, { ...(want !== undefined ? { platform: want } : {}), timeoutMs: opts.config.l3afd.httpClientTimeoutMs });
      return { repository, platform: want ?? 'all', packages };
    } catch (err) {
      if (err instanceof CatalogError) throw new RequestError(502, 'repository not listable', [{ path: '', message: err.message }]);
      throw err;
    }
  });
};
