// GET /l3af/chains/{iface} over the real engine and kernel (fastify inject): the XDP chain of a veth as the kernel
// sees it — the root is the program attached to the hook, each program's id is the one its predecessor's slot holds,
// bpftool knows every id — with no configuration in the answer; an interface without chains gives []; a bad name
// is a 400; the answer conforms to the schema published in /openapi.json; a stopped engine is a 503.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { queryXdp } from '../../agent/src/bpf/index.ts';
import { buildServer } from '../../agent/src/api/server.ts';
import { createLogger } from '../../agent/src/log.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import type { InterfaceChains } from '../../agent/src/payload/responses.ts';
import { run, skipUnless, EngineLab } from '../harness/index.ts';
import { countAndPass, engineWithChains, ratelimiting, xdpBody } from '../engine/helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

interface AjvLike { compile(schema: unknown): ((data: unknown) => boolean) & { errors?: unknown } }
// ajv is fastify's (reached through ajv-formats), not a dependency of ours
const AjvClass = (createRequire(import.meta.resolve('ajv-formats'))('ajv') as { default: new (opts: Record<string, unknown>) => AjvLike }).default;

test('GET /l3af/chains/{iface}: ids and links as the kernel sees them, no configuration', { skip, timeout: 120_000 }, async () => {
  await using bed = await EngineLab.create();
  const { fs, state, iface, config } = bed;
  const { engine, chains } = engineWithChains(config);
  const app = await buildServer({ engine, config, logger: createLogger({ level: 'silent', env: {} }) });
  try {
    await engine.start();
    const get = async (name: string): Promise<{ status: number; body: unknown; text: string }> => {
      const r = await app.inject({ method: 'GET', url: `/l3af/chains/${name}` });
      return { status: r.statusCode, body: r.json(), text: r.body };
    };
    assert.deepEqual(await get(iface), { status: 200, body: { iface, chains: [] }, text: JSON.stringify({ iface, chains: [] }) });

    const r = await engine.add(xdpBody(hostName(), iface, [ratelimiting(1, 2, [8080]), countAndPass('count-and-pass', 2)]));
    assert.deepEqual(r.results.map((x) => x.outcome), ['added', 'added']);
    const res = await get(iface);
    assert.equal(res.status, 200, res.text);
    const doc = res.body as InterfaceChains;
    const d = chains().describe(iface, 'xdp_ingress');
    const attached = queryXdp(iface).progId;
    assert.equal(doc.iface, iface);
    assert.equal(doc.chains.length, 1, 'one chain: XDP ingress');
    const c = doc.chains[0] as InterfaceChains['chains'][number];
    assert.equal(c.direction, 'xdp_ingress');
    assert.equal(c.attach_mode, d.attachMode);
    assert.ok(c.attach_mode === 'drv' || c.attach_mode === 'skb');
    assert.deepEqual(c.root, { name: 'xdp-root', version: 'latest', kernel_prog_id: attached, slot_prog_id: attached, linked: true, next_prog_id: d.programs[0]?.id });
    assert.deepEqual(c.programs.map((p) => p.name), ['ratelimiting', 'count-and-pass']);
    c.programs.forEach((p, i) => {
      const prev = i === 0 ? c.root : c.programs[i - 1];
      assert.equal(p.kernel_prog_id, d.programs[i]?.id);
      assert.equal(p.slot_prog_id, prev?.next_prog_id, `${p.name}: the slot is its predecessor's next slot`);
      assert.equal(p.slot_prog_id, p.kernel_prog_id);
      assert.equal(p.linked, true);
      assert.equal(p.next_prog_id, c.programs[i + 1]?.kernel_prog_id ?? null);
    });
    // bpftool knows every id, with the entry function as its name (full, from BTF)
    const entries = ['xdp_root', '_xdp_ratelimiting', 'xdp_count_and_pass'];
    for (const [i, id] of [c.root.kernel_prog_id, ...c.programs.map((p) => p.kernel_prog_id)].entries()) {
      const shown = JSON.parse((await run('bpftool', ['prog', 'show', 'id', String(id), '--json'])).stdout) as { id: number; name: string; type: string };
      assert.equal(shown.type, 'xdp');
      assert.equal(shown.name, entries[i]);
    }
    // no configuration: no map names, map_args, pins, object files, repository or agent settings
    for (const leak of ['rl_config_map', 'rl_ports_map', 'map_args', 'map_name', fs.path, state.path, '.bpf.o', 'tar.gz', 'monitor', 'seq_id', 'artifact']) {
      assert.ok(!res.text.includes(leak), `the answer does not contain '${leak}'`);
    }

    // an interface without chains, a name that is not an interface name
    assert.deepEqual((await get('lo')).body, { iface: 'lo', chains: [] });
    const bad = await get('an-interface-name-too-long');
    assert.equal(bad.status, 400);
    assert.deepEqual((bad.body as { problems: { path: string }[] }).problems.map((p) => p.path), ['/iface']);

    // the published schema describes the answer
    const openapi = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, { get?: { responses: Record<string, { content?: Record<string, { schema: unknown }> }> } }>;
      components: unknown;
    };
    const op = openapi.paths['/l3af/chains/{iface}']?.get;
    assert.ok(op, 'GET /l3af/chains/{iface} is in the OpenAPI document');
    assert.deepEqual(Object.keys(op.responses).sort(), ['200', '400', '500', '501', '503']);
    const schema = op.responses['200']?.content?.['application/json']?.schema;
    const validate = new AjvClass({ allErrors: true, strict: false }).compile({ ...(schema as object), components: openapi.components });
    assert.ok(validate(doc), JSON.stringify(validate.errors));
    assert.equal(validate({ ...doc, extra: 1 }), false, 'the schema is closed');

    await engine.stop();
    assert.equal((await get(iface)).status, 503, 'engine stopped: retry later');
  } finally {
    await app.close();
    await engine.stop({ unload: true }).catch(() => undefined);
    // what a stopped engine left goes with the lab (veth deleted) and the bpffs (unmounted)
  }
});
