// HTTP answers read as l3afd's (README "HTTP answers"), through the REST server on the real engine and kernel:
// a client that only checks for 200 reads success/failure exactly as it reads l3afd's for the same outcome.
// - add of a program whose seq_id is taken: l3afd skips it silently (200) → 200, reported `unchanged` with why;
// - add of a name already present: 200 (`unchanged`), as l3afd;
// - a program whose package is missing: l3afd answers 500 → 422 with that program `failed`;
// - unknown keys in the payload: l3afd ignores them (200) → 200 with `warnings`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { createEngine } from '../../agent/src/engine/index.ts';
import { buildServer } from '../../agent/src/api/server.ts';
import { createLogger } from '../../agent/src/log.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { skipUnless, EngineLab } from '../harness/index.ts';
import { countAndPass, countAndPassRepo, xdpBody } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

type Answer = { results: { name: string; outcome: string; reason?: string }[]; warnings?: { path: string }[] };

test('200 exactly where l3afd answers 200: skipped seq_id and present name on add, unknown keys; 422 where l3afd answers 500', { skip, timeout: 120_000 }, async () => {
  await using bed = await EngineLab.create();
  const { fs, state, iface, config } = bed;
  const repo = countAndPassRepo(state.path, ['cap-a', 'cap-b', 'cap-c', 'cap-missing']);
  const cap = (name: string, seq: number, extra: object = {}) => countAndPass(name, seq, { ebpf_package_repo_url: repo, ...extra });
  const engine = createEngine(config, { chainManager: (roots) => new ChainManager({ pinRoot: fs.path, roots }) });
  const app = await buildServer({ engine, config, logger: createLogger({ level: 'silent', env: {} }) });
  const post = async (op: string, body: unknown): Promise<{ status: number; doc: Answer }> => {
    const r = await app.inject({ method: 'POST', url: `/l3af/configs/v1/${op}`, payload: body as object });
    return { status: r.statusCode, doc: r.json() as Answer };
  };
  try {
    await engine.start();
    let r = await post('add', xdpBody(hostName(), iface, [cap('cap-a', 1)]));
    assert.equal(r.status, 200, JSON.stringify(r.doc));
    // same seq_id, other name: l3afd's add skips it and answers 200
    r = await post('add', xdpBody(hostName(), iface, [cap('cap-b', 1)]));
    assert.equal(r.status, 200, JSON.stringify(r.doc));
    assert.equal(r.doc.results[0]?.outcome, 'unchanged');
    assert.match(r.doc.results[0]?.reason ?? '', /not added: seq_id 1 is taken by 'cap-a'/);
    // same name again: 200, unchanged
    r = await post('add', xdpBody(hostName(), iface, [cap('cap-a', 5)]));
    assert.equal(r.status, 200);
    assert.equal(r.doc.results[0]?.outcome, 'unchanged');
    const get = await app.inject({ method: 'GET', url: `/l3af/configs/v1/${iface}` });
    assert.deepEqual((get.json() as { bpf_programs: { xdp_ingress: { name: string }[] } }).bpf_programs.xdp_ingress.map((p) => p.name), ['cap-a']);
    // a package that does not exist: l3afd answers 500 → 422, the program failed
    r = await post('add', xdpBody(hostName(), iface, [cap('cap-missing', 2, { version: '9.9.9' })]));
    assert.equal(r.status, 422, JSON.stringify(r.doc));
    assert.equal(r.doc.results[0]?.outcome, 'failed');
    // unknown keys: ignored (200), named in warnings
    const body = xdpBody(hostName(), iface, [{ ...cap('cap-c', 3), from_a_newer_l3afd: true } as never]);
    r = await post('add', body);
    assert.equal(r.status, 200, JSON.stringify(r.doc));
    assert.deepEqual(r.doc.warnings?.map((w) => w.path), ['/0/bpf_programs/xdp_ingress/0/from_a_newer_l3afd']);
    assert.equal(r.doc.results[0]?.outcome, 'added');
  } finally {
    await app.close();
    await engine.stop({ unload: true });
  }
});
