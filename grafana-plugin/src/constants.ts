import pluginJson from './plugin.json';

export const PLUGIN_ID = pluginJson.id;
export const PLUGIN_BASE_URL = `/a/${pluginJson.id}`;

/** The app's pages (paths under PLUGIN_BASE_URL). */
export enum ROUTES {
  Fleet = 'fleet',
  Chains = 'chains',
  Ratelimiting = 'ratelimiting',
  Events = 'events',
  Rollout = 'rollout',
  Discover = 'discover',
}
