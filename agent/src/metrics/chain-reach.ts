/**
 * `l3af_chain_unreachable_programs`: per chained program whose code never tail-calls through its
 * next array (like L3AF's connection-limit), how many programs after it in its chain never run.
 * l3afd chains such a program without a word; the agent accepts it too and says so here (and in
 * GET's status with `?status=true`: `continues_chain`, `reachable`). Read from the kernel at scrape.
 */
import { Gauge, type Registry } from 'prom-client';
import type { ChainDescription } from '../chain/index.ts';

/** Name of the gauge. */
export const UNREACHABLE_METRIC = 'l3af_chain_unreachable_programs';

/** Every program that does not continue its chain, with the number of programs after it. */
export function deadEnds(chains: readonly ChainDescription[]): Array<{ iface: string; direction: string; program: string; after: number }> {
  const out: Array<{ iface: string; direction: string; program: string; after: number }> = [];
  for (const c of chains) {
    c.programs.forEach((p, i) => {
      if (!p.continues) out.push({ iface: c.iface, direction: c.direction, program: p.name, after: c.programs.length - i - 1 });
    });
  }
  return out;
}

/** Registers the gauge; `chains` gives every chain as the kernel sees it (an error leaves the gauge empty). */
export function registerChainReach(registry: Registry, chains: () => readonly ChainDescription[]): Gauge<'interface' | 'direction' | 'program'> {
  return new Gauge({
    name: UNREACHABLE_METRIC,
    help: 'Programs after this one in its chain that never run, because its code never tail-calls through its map_name',
    labelNames: ['interface', 'direction', 'program'],
    registers: [registry],
    collect() {
      this.reset();
      let all: readonly ChainDescription[];
      try {
        all = chains();
      } catch {
        return;
      }
      for (const d of deadEnds(all)) this.set({ interface: d.iface, direction: d.direction, program: d.program }, d.after);
    },
  });
}
