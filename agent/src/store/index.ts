/** Persistence of the desired state (l3afd's config store, written atomically). */
export { ConfigStore, StoreError, parseStore } from './config-store.ts';
