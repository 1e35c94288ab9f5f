// Per-program packet counts through the agent ([l3af] chain-counting = all): ratelimiting and count-and-pass
// chained on a veth lab by the engine, TCP SYNs over the rate. l3af_program_packets_entered_total of each
// program equals what its counting step saw, count-and-pass's equals its own counter, ratelimiting's
// l3af_program_packets_ended equals its own drop counter (entered − what entered count-and-pass), and the
// last program ends everything it gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { BpfMap, u32, u64 } from '../../agent/src/bpf/index.ts';
import { createEngine } from '../../agent/src/engine/index.ts';
import { ChainCounts } from '../../agent/src/metrics/chain-counts.ts';
import { EngineLab, connectTcp, listenTcp, skipUnless } from '../harness/index.ts';
import { countAndPass, ratelimiting, xdpBody } from '../engine/helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

function series(text: string, metric: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} (\\S+)$`, 'gm'))) out.set(/program="([^"]*)"/.exec(m[1] ?? '')?.[1] ?? '', Number(m[2]));
  return out;
}

test('chain counting through the agent: entered and ended per program equal the programs\' own counters', { skip, timeout: 120_000 }, async (t) => {
  await using bed = await EngineLab.create();
  const { iface, host, config, fs } = bed;
  config.l3af.chainCounting = ['all'];
  const registry = new Registry();
  const counts = new ChainCounts({ registry, host: 'h' });
  const engine = createEngine(config, { observer: counts });
  await engine.start();
  try {
    await using listener = await listenTcp(bed.lab);
    const add = await engine.add(xdpBody(host, iface, [ratelimiting(1, 5, [listener.port]), countAndPass('count-and-pass', 2)]));
    assert.deepEqual(add.results.map((r) => r.outcome), ['added', 'added']);
    const syn = await connectTcp(bed.lab, { port: listener.port, attempts: 60, ratePerSec: 200, timeoutMs: 500, reset: true });
    await new Promise((r) => setTimeout(r, 200));
    const text = await registry.metrics();
    const entered = series(text, 'l3af_program_packets_entered_total');
    const ended = series(text, 'l3af_program_packets_ended');
    const mapOf = (name: string, map: string): bigint => {
      using m = BpfMap.openPinned(join(fs.path, iface, name, 'latest', map));
      return m.typed(u32, u64).sumPerCpu(0) ?? 0n;
    };
    using drops = BpfMap.openPinned(join(fs.path, iface, 'ratelimiting', 'latest', 'rl_drop_count_map'));
    const dropped = Number(drops.typed(u32, u64).get(0) ?? 0n);
    const capCounted = Number(mapOf('count-and-pass', 'xdp_cap_count'));
    t.diagnostic(`${syn.attempted} SYNs (${syn.connected} connected); entered ${JSON.stringify([...entered])}; ended ${JSON.stringify([...ended])}; ratelimiting dropped ${dropped}; count-and-pass counted ${capCounted}`);
    assert.ok(dropped > 0);
    assert.equal(entered.get('count-and-pass'), capCounted, 'count-and-pass entered = what it counted itself');
    assert.equal(ended.get('ratelimiting'), dropped, 'ratelimiting ended = its drop counter');
    assert.equal((entered.get('ratelimiting') ?? 0) - (entered.get('count-and-pass') ?? 0), dropped, 'entered − the next program\'s entered');
    assert.equal(ended.get('count-and-pass'), capCounted, 'the last program ends everything it gets');
    assert.match(text, /l3af_program_packets_entered_total\{host="h",program="ratelimiting",direction="xdp_ingress",interface="[^"]+",ipv4_address=""\} \d+/);
    // GET ?status=true shows it too: the chain's description has each step
    const d = (engine as unknown as { describeChains(i: string): { programs: { name: string; counted?: { packets: bigint } }[] }[] }).describeChains(iface)[0];
    assert.equal(Number(d?.programs.find((p) => p.name === 'count-and-pass')?.counted?.packets), capCounted);
  } finally {
    await engine.stop({ unload: true });
  }
});
