/**
 * `l3af_agent_state_store_ok`: 1 when the agent read its stored desired state at start, 0 when it
 * started degraded over an unreadable file (it then serves 503 and changes nothing in the kernel).
 */
import { Gauge, type Registry } from 'prom-client';

/** What the gauge needs of a degraded start: the file and its error, or null when the store was read. */
export type StoreProblemSource = () => { readonly file: string } | null;

export function registerStoreHealth(registry: Registry, problem: StoreProblemSource): Gauge {
  return new Gauge({
    name: 'l3af_agent_state_store_ok',
    help: 'Whether the agent could read its stored desired state at start (0: degraded start, the state file named in the log and in every 503 answer).',
    registers: [registry],
    collect() {
      this.set(problem() === null ? 1 : 0);
    },
  });
}
