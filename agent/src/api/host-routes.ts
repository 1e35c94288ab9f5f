/** `GET /l3af/host`: the host's facts (platform/host-facts), cached. */
import type { FastifyPluginAsync } from 'fastify';
import { HostFactsCache } from '../platform/host-facts.ts';

/** Options of {@link hostRoutes}. */
export interface HostRoutesOptions {
  readonly cache?: HostFactsCache;
}

/** Fastify plugin: `GET /l3af/host` → {@link HostFacts} as JSON. */
export const hostRoutes: FastifyPluginAsync<HostRoutesOptions> = async (app, opts) => {
  const cache = opts.cache ?? new HostFactsCache();
  app.get('/l3af/host', async () => cache.get());
};
