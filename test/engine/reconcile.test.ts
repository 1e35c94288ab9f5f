// start() repairs drift between the store and the kernel without re-attaching: a stored program missing from the
// kernel is loaded again (restarts 1), a program the store does not hold is removed, orphaned pins are removed, a
// chain in the wrong order is reordered, map_args drift is rewritten; a corrupt store stops start() with a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap, queryXdp, u32, u64 } from '../../agent/src/bpf/index.ts';
import { ChainManager, ChainProgram } from '../../agent/src/chain/index.ts';
import { EngineError } from '../../agent/src/engine/index.ts';
import { skipUnless, EngineLab } from '../harness/index.ts';
import { capSpec, packageObject, pinsUnder, rootSpecs } from '../chain/helpers.ts';
import { countAndPass, countAndPassRepo, engineWithChains, ratelimiting, ratelimitingMaps, xdpBody } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

test('start() adopts and repairs drift: missing, extra, orphaned, out of order, map_args', { skip, timeout: 180_000 }, async () => {
  await using bed = await EngineLab.create();
  const { fs, state, iface, host, config } = bed;
  const repo = countAndPassRepo(state.path, ['cap-a', 'cap-b']);
  const first = engineWithChains(config);
  let second: ReturnType<typeof engineWithChains> | undefined;
  try {
    await first.engine.start();
    const a = countAndPass('cap-a', 1, { ebpf_package_repo_url: repo });
    const b = countAndPass('cap-b', 2, { ebpf_package_repo_url: repo });
    await first.engine.update(xdpBody(host, iface, [a, b, ratelimiting(3, 2, [8080])]));
    const before = first.chains().describe(iface, 'xdp_ingress');
    const expectedGet = first.engine.get();
    await first.engine.stop();

    // drift made behind the agent's back, through a chain manager of our own
    const other = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
    await other.adopt({ objectPathFor: (r) => packageObject(r.name === 'ratelimiting' ? 'ratelimiting' : 'count_and_pass') });
    await other.remove(iface, 'xdp_ingress', 'cap-b'); // a stored program missing from the kernel
    await other.move(iface, 'xdp_ingress', 'ratelimiting', 0); // out of order
    await other.insert(iface, 'xdp_ingress', capSpec('xdp_ingress', 'intruder'), 0); // one the store does not hold
    ChainProgram.load(other.layout, { iface, direction: 'xdp_ingress' }, capSpec('xdp_ingress', 'orphan', '9')).close(); // pinned, unlinked
    other.close();
    using cfg = BpfMap.openPinned(join(fs.path, iface, 'ratelimiting', 'latest', 'rl_config_map'));
    cfg.typed(u32, u64).set(0, 99n); // map drift: a listed key changed
    cfg.typed(u32, u64).set(1, 5_000_000n); // and an array slot the payload does not list (written back to 0)
    const rootId = queryXdp(iface).progId;
    assert.equal(rootId, before.root.id);

    second = engineWithChains(config);
    await second.engine.start();
    const d = second.chains().describe(iface, 'xdp_ingress');
    assert.equal(queryXdp(iface).progId, rootId, 'the root was not re-attached');
    assert.deepEqual(d.programs.map((p) => p.name), ['cap-a', 'cap-b', 'ratelimiting'], 'intruder removed, cap-b back in its place');
    for (const p of d.programs) assert.ok(p.linked, `${p.name} linked`);
    assert.deepEqual(ratelimitingMaps(fs.path, iface), { rate: 2n, window: 0n, ports: [8080] }, 'map_args drift repaired, unlisted array slot zeroed');
    assert.deepEqual(pinsUnder(fs.path).filter((p) => p.includes('intruder') || p.includes('orphan')), [], 'intruder and orphan pins removed');
    const got = second.engine.get();
    const progs = (got[0]?.bpf_programs.xdp_ingress ?? []) as unknown as { name: string; status: { restarts: number; attached: boolean } }[];
    assert.deepEqual(progs.map((p) => [p.name, p.status.restarts, p.status.attached]), [['cap-a', 0, true], ['cap-b', 1, true], ['ratelimiting', 0, true]]);
    const strip = (x: typeof got): unknown => JSON.parse(JSON.stringify(x, (k, v: unknown) => (k === 'status' ? undefined : v)));
    assert.deepEqual(strip(got), strip(expectedGet), 'desired state as stored');
    await second.engine.stop({ unload: true });
    assert.deepEqual(pinsUnder(fs.path), []);

    // a corrupt store: a degraded start that names it, and nothing is touched
    writeFileSync(config.l3afConfigStore.filename, '[{"host_name": ');
    const third = engineWithChains(config);
    await third.engine.start();
    const problem = third.engine.storeProblem?.();
    assert.equal(problem?.file, config.l3afConfigStore.filename);
    assert.match(problem?.error ?? '', /not valid JSON/);
    const degraded = (e: unknown): boolean => e instanceof EngineError && e.code === 'degraded' && e.message.includes(config.l3afConfigStore.filename);
    assert.throws(() => third.engine.get(), degraded);
    await assert.rejects(third.engine.add(xdpBody(host, iface, [a])), degraded);
    assert.deepEqual(third.engine.running(), []);
    await third.engine.stop();
  } finally {
    await first.engine.stop({ unload: true }).catch(() => undefined);
    await second?.engine.stop({ unload: true }).catch(() => undefined);
  }
});
