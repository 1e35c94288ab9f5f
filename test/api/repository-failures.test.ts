// A package repository that cannot be reached or does not answer is a gateway problem, not the client's: add/update
// answer 502 (unreachable) or 504 (timed out) with the operation result (error_code on each failed program), the
// program is not in the chain, GET and the store are as before; a request that also fails for a client reason stays
// 422. Every one of them is non-2xx, so an l3afd client (which only tells 2xx from the rest) reads a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { buildServer } from '../../agent/src/api/server.ts';
import { createLogger } from '../../agent/src/log.ts';
import { ConfigStore } from '../../agent/src/store/index.ts';
import { skipUnless, EngineLab } from '../harness/index.ts';
import { countAndPass, engineWithChains, ratelimiting, withoutStatus, xdpBody } from '../engine/helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

interface Result { name: string; outcome: string; reason?: string; error_code?: string }

test('unreachable repository → 502, silent repository → 504, mixed with a client failure → 422; nothing changed', { skip, timeout: 120_000 }, async () => {
  await using bed = await EngineLab.create();
  const { iface, host, config } = bed;
  config.l3afd.httpClientTimeoutMs = 400; // response-header / idle timeout of downloads
  const store = new ConfigStore(config.l3afConfigStore.filename);

  // a port nobody listens on (a listener opened and closed), and a listener that accepts and never answers
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const held: Socket[] = [];
  const silent = createServer((s) => held.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const silentPort = (silent.address() as AddressInfo).port;

  const { engine, chains } = engineWithChains(config);
  const app = await buildServer({ engine, config, logger: createLogger({ level: 'silent', env: {} }) });
  try {
    await engine.start();
    const seed = await app.inject({ method: 'POST', url: '/l3af/configs/v1/add', payload: xdpBody(host, iface, [ratelimiting(1, 2, [8080])]) });
    assert.equal(seed.statusCode, 200, seed.body);
    const before = { get: withoutStatus(engine.get()), store: await store.read(), ids: chains().describe(iface, 'xdp_ingress').programs.map((p) => p.id) };
    const unchanged = async (what: string): Promise<void> => {
      assert.deepEqual(withoutStatus(engine.get()), before.get, `${what}: GET unchanged`);
      assert.deepEqual(await store.read(), before.store, `${what}: store unchanged`);
      assert.deepEqual(chains().describe(iface, 'xdp_ingress').programs.map((p) => p.id), before.ids, `${what}: kernel chain unchanged`);
    };
    const post = async (op: string, programs: ReturnType<typeof countAndPass>[]) => {
      const r = await app.inject({ method: 'POST', url: `/l3af/configs/v1/${op}`, payload: xdpBody(host, iface, programs) });
      return { status: r.statusCode, results: (r.json() as { results: Result[] }).results };
    };

    const unreachable = countAndPass('cap-far', 2, { ebpf_package_repo_url: `http://127.0.0.1:${deadPort}/repo` });
    let r = await post('add', [unreachable]);
    assert.equal(r.status, 502, JSON.stringify(r.results));
    assert.deepEqual(r.results.map((x) => [x.name, x.outcome, x.error_code]), [['cap-far', 'failed', 'REPOSITORY_UNREACHABLE']]);
    assert.match(r.results[0]?.reason ?? '', /UNREACHABLE/);
    await unchanged('502');

    const slow = countAndPass('cap-slow', 3, { ebpf_package_repo_url: `http://127.0.0.1:${silentPort}/repo` });
    r = await post('add', [slow]);
    assert.equal(r.status, 504, JSON.stringify(r.results));
    assert.deepEqual(r.results.map((x) => [x.name, x.outcome, x.error_code]), [['cap-slow', 'failed', 'REPOSITORY_TIMEOUT']]);
    await unchanged('504');

    // l3afd stops an interface's payload at its first failure: what follows an unreachable repository is not
    // applied for the same cause, so the answer stays a gateway failure
    r = await post('add', [unreachable, slow]);
    assert.equal(r.status, 502, JSON.stringify(r.results));
    assert.deepEqual(r.results.map((x) => [x.name, x.outcome, x.error_code]), [['cap-far', 'failed', 'REPOSITORY_UNREACHABLE'], ['cap-slow', 'failed', 'REPOSITORY_UNREACHABLE']]);
    assert.match(r.results[1]?.reason ?? '', /not applied/);
    await unchanged('502 for the rest of the payload');

    // update: the stored ratelimiting again plus the unreachable one → 502, ratelimiting unchanged
    r = await post('update', [ratelimiting(1, 2, [8080]), unreachable]);
    assert.equal(r.status, 502, JSON.stringify(r.results));
    assert.deepEqual(r.results.map((x) => [x.name, x.outcome]), [['ratelimiting', 'unchanged'], ['cap-far', 'failed']]);
    await unchanged('502 on update');

    // a client failure (a package the repository does not have) before a repository failure: 422
    r = await post('add', [countAndPass('cap-missing', 4), unreachable]);
    assert.equal(r.status, 422, JSON.stringify(r.results));
    assert.deepEqual(r.results.map((x) => [x.name, x.outcome, x.error_code]), [['cap-missing', 'failed', undefined], ['cap-far', 'failed', undefined]]);
    await unchanged('422');
  } finally {
    await app.close();
    await engine.stop({ unload: true });
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});
