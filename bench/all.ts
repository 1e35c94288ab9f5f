// Runs every benchmark one after the other (each writes its report to bench/reports/); `npm run bench`.
// Each runs under the agent's node flags (lib/agent-flags.ts): the figures are those of the agent as it runs.
//   npx tsx bench/all.ts [name…]      (as root; names: chain-cost post-latency get-configs events observability idle-rss)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AGENT_NODE_FLAGS } from './lib/agent-flags.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const ALL = ['chain-cost', 'post-latency', 'get-configs', 'events', 'observability', 'idle-rss'];
const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;
const unknown = names.filter((n) => !ALL.includes(n));
if (unknown.length > 0) {
  console.error(`bench: unknown benchmark(s) ${unknown.join(', ')}; known: ${ALL.join(', ')}`);
  process.exit(2);
}
const results: Array<{ name: string; status: number | null; s: number }> = [];
for (const name of names) {
  console.log(`\n=== ${name}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...AGENT_NODE_FLAGS, '--import', 'tsx', `bench/${name}.ts`], { cwd: REPO, stdio: 'inherit' });
  results.push({ name, status: r.status, s: (performance.now() - t0) / 1000 });
}
console.log('\nbenchmark        status  time   report');
for (const r of results) console.log(`${r.name.padEnd(16)} ${String(r.status).padStart(6)}  ${r.s.toFixed(0).padStart(4)} s  bench/reports/${r.name}.md`);
process.exitCode = results.every((r) => r.status === 0) ? 0 : 1;
