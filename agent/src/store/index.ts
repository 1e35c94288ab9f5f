/** Persistence of the desired state (l3afd's config store, written atomically). */
export { ConfigStore, Reservation, StoreError, parseStore } from './config-store.ts';
