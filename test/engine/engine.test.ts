// The engine on the real kernel: l3afd payloads through add / update / delete onto a veth's XDP chain, read back from
// the kernel (chain links, map contents), the config store, a failing program that leaves the rest untouched, a
// restart by a second engine that adopts without re-attaching, stop() that leaves the data plane, stop({unload}).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queryXdp } from '../../agent/src/bpf/index.ts';
import { ConfigStore } from '../../agent/src/store/index.ts';
import type { ChainDescription } from '../../agent/src/chain/index.ts';
import type { ProgramResult } from '../../agent/src/engine/index.ts';
import type { NormalizedL3afBpfPrograms } from '../../agent/src/payload/index.ts';
import { skipUnless, EngineLab } from '../harness/index.ts';
import { pinsUnder } from '../chain/helpers.ts';
import { countAndPass, countAndPassRepo, engineWithChains, ratelimiting, ratelimitingMaps, withoutStatus, xdpBody } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

/** name:outcome for each result (reason left out). */
function outcomes(results: readonly ProgramResult[]): string[] {
  return results.map((r) => `${r.name}:${r.outcome}`);
}

/** Asserts the chain is root → names…, every slot holding its successor, the root attached. */
function assertLinked(d: ChainDescription, names: string[]): void {
  assert.deepEqual(d.programs.map((p) => p.name), names);
  assert.ok(d.root.linked, 'the hook runs the root');
  for (const p of d.programs) assert.ok(p.linked, `${p.name}: predecessor slot holds ${p.slotId}, program is ${p.id}`);
  assert.equal(d.root.nextId, d.programs[0]?.id);
  d.programs.forEach((p, i) => assert.equal(p.nextId, d.programs[i + 1]?.id, `${p.name} links to its successor`));
}

interface Shown { name: string; seq_id: number; admin_status: string; status: { attached: boolean; kernel_prog_id: number; last_error: string | null; restarts: number } }
function xdpOf(get: NormalizedL3afBpfPrograms[]): Shown[] {
  return (get[0]?.bpf_programs.xdp_ingress ?? []) as unknown as Shown[];
}

test('add, update, delete, re-add, a failing program, restart by adoption, stop and unload', { skip, timeout: 180_000 }, async (t) => {
  await using bed = await EngineLab.create();
  const { fs, state, iface, host, config } = bed;
  const store = new ConfigStore(config.l3afConfigStore.filename);
  const extraRepo = countAndPassRepo(state.path, ['cap-b', 'bad-object', 'bad-map', 'probe']);
  const first = engineWithChains(config);
  const e1 = first.engine;
  let e2: ReturnType<typeof engineWithChains> | undefined;
  try {
    await e1.start();
    assert.deepEqual(e1.get(), [], 'nothing stored yet');

    // add ratelimiting (seed-like), then count-and-pass
    let r = await e1.add(xdpBody(host, iface, [ratelimiting(1, 2, [8080, 8081])]));
    assert.deepEqual(outcomes(r.results), ['ratelimiting:added']);
    r = await e1.add(xdpBody(host, iface, [countAndPass('count-and-pass', 2)]));
    assert.deepEqual(outcomes(r.results), ['count-and-pass:added']);
    const d1 = first.chains().describe(iface, 'xdp_ingress');
    assertLinked(d1, ['ratelimiting', 'count-and-pass']);
    assert.equal(d1.root.name, 'xdp-root');
    assert.equal(queryXdp(iface).progId, d1.root.id, 'the XDP hook runs the root');
    assert.deepEqual(ratelimitingMaps(fs.path, iface), { rate: 2n, window: 0n, ports: [8080, 8081] }, 'map_args are in the maps');

    let get = e1.get();
    assert.equal(get.length, 1);
    assert.equal(get[0]?.iface, iface);
    assert.deepEqual(xdpOf(get).map((p) => [p.name, p.seq_id, p.status.attached, p.status.kernel_prog_id]),
      [['ratelimiting', 1, true, d1.programs[0]?.id], ['count-and-pass', 2, true, d1.programs[1]?.id]], 'GET: roots hidden, live status');
    assert.deepEqual(get[0]?.bpf_programs.tc_ingress, null);
    assert.deepEqual(withoutStatus(get), await store.read(), 'the store holds what GET shows');

    // add again: present by name → unchanged, nothing reloaded
    r = await e1.add(xdpBody(host, iface, [ratelimiting(1, 7, [9])]));
    assert.deepEqual(outcomes(r.results), ['ratelimiting:unchanged']);
    assert.deepEqual(first.chains().describe(iface, 'xdp_ingress').programs.map((p) => p.id), d1.programs.map((p) => p.id));
    assert.equal(ratelimitingMaps(fs.path, iface).rate, 2n);

    // a third program, then an update that omits it, moves seq_ids and rewrites the rate and ports
    r = await e1.add(xdpBody(host, iface, [countAndPass('cap-b', 3, { ebpf_package_repo_url: extraRepo })]));
    assert.deepEqual(outcomes(r.results), ['cap-b:added'], JSON.stringify(r.results));
    assertLinked(first.chains().describe(iface, 'xdp_ingress'), ['ratelimiting', 'count-and-pass', 'cap-b']);
    r = await e1.update(xdpBody(host, iface, [countAndPass('count-and-pass', 1), ratelimiting(2, 5, [8080])]));
    assert.deepEqual(outcomes(r.results).sort(), ['cap-b:removed', 'count-and-pass:updated', 'ratelimiting:updated']);
    assert.match(r.results.find((x) => x.name === 'ratelimiting')?.reason ?? '', /seq_id.*map_args/);
    const d2 = first.chains().describe(iface, 'xdp_ingress');
    assertLinked(d2, ['count-and-pass', 'ratelimiting']);
    assert.equal(d2.root.id, d1.root.id, 'the root stayed attached');
    assert.deepEqual(ratelimitingMaps(fs.path, iface), { rate: 5n, window: 0n, ports: [8080] }, 'rate rewritten, port 8081 deleted');
    assert.deepEqual(pinsUnder(fs.path).filter((p) => p.includes('cap-b')), [], 'cap-b left no pins');

    // update with map_args only: maps rewritten in place (same kernel program)
    r = await e1.update(xdpBody(host, iface, [countAndPass('count-and-pass', 1), ratelimiting(2, 9, [8080, 443])]));
    assert.deepEqual(outcomes(r.results), ['count-and-pass:unchanged', 'ratelimiting:updated']);
    assert.deepEqual(first.chains().describe(iface, 'xdp_ingress').programs.map((p) => p.id), d2.programs.map((p) => p.id), 'no reload for map_args');
    assert.deepEqual(ratelimitingMaps(fs.path, iface), { rate: 9n, window: 0n, ports: [443, 8080] });

    // admin_status disabled: unloaded and dropped from the list, as l3afd (GET no longer shows it)
    r = await e1.update(xdpBody(host, iface, [countAndPass('count-and-pass', 1), ratelimiting(2, 9, [8080, 443], { admin_status: 'disabled' })]));
    assert.deepEqual(outcomes(r.results), ['count-and-pass:unchanged', 'ratelimiting:updated']);
    assertLinked(first.chains().describe(iface, 'xdp_ingress'), ['count-and-pass']);
    get = e1.get(iface);
    assert.deepEqual(xdpOf(get).map((p) => [p.name, p.admin_status, p.status.attached, p.status.kernel_prog_id]),
      [['count-and-pass', 'enabled', true, d2.programs[0]?.id]]);

    // delete by name (ratelimiting is gone already), then re-add
    r = await e1.delete([{ host_name: host, iface, bpf_programs: { xdp_ingress: ['ratelimiting', 'nope'] } }]);
    assert.deepEqual(outcomes(r.results), ['ratelimiting:unchanged', 'nope:unchanged']);
    r = await e1.add(xdpBody(host, iface, [ratelimiting(2, 2, [8080, 8081])]));
    assert.deepEqual(outcomes(r.results), ['ratelimiting:added']);
    const d3 = first.chains().describe(iface, 'xdp_ingress');
    assertLinked(d3, ['count-and-pass', 'ratelimiting']);
    assert.deepEqual(ratelimitingMaps(fs.path, iface), { rate: 2n, window: 0n, ports: [8080, 8081] });

    // failing programs: a bad object file, a map that does not exist, a user program, a probe; the chain is untouched
    // (one add each: as l3afd, the first failure of an interface ends its payload, so the others would be 'not applied')
    const before = e1.get();
    const failing = [
      countAndPass('bad-object', 3, { object_file: 'nope.bpf.o', ebpf_package_repo_url: extraRepo }),
      countAndPass('bad-map', 4, { ebpf_package_repo_url: extraRepo, map_args: [{ name: 'no_such_map', args: [{ key: 1, value: 1 }] }] }),
      countAndPass('user-prog', 5, { object_file: '', cmd_start: 'ratelimiting' }),
    ];
    r = await e1.add([{ host_name: host, iface, bpf_programs: { xdp_ingress: failing, probes: [countAndPass('probe', 0, { prog_type: 'tracepoint', ebpf_package_repo_url: extraRepo })] } }]);
    assert.deepEqual(outcomes(r.results), ['bad-object:failed', 'bad-map:failed', 'user-prog:failed', 'probe:failed']);
    assert.match(r.results[1]?.reason ?? '', /not applied: 'bad-object'/, 'the programs after the first failure are not applied');
    const alone = [];
    for (const p of failing.slice(1)) alone.push(...(await e1.add([{ host_name: host, iface, bpf_programs: { xdp_ingress: [p] } }])).results);
    const reasons = [r.results[0], ...alone, r.results[3]].map((x) => x?.reason ?? '');
    assert.match(reasons[0] ?? '', /nope\.bpf\.o/);
    assert.match(reasons[1] ?? '', /no_such_map.*does not have/);
    assert.match(reasons[2] ?? '', /NOT_FOUND.*user-prog/, 'a self-linking user program whose package is missing');
    assert.match(reasons[3] ?? '', /has no probe program/, 'an XDP object is not a probe');
    assert.deepEqual(first.chains().describe(iface, 'xdp_ingress'), d3, 'the chain is exactly as it was');
    assert.deepEqual(e1.get(), before, 'GET unchanged');
    assert.deepEqual(pinsUnder(fs.path).filter((p) => p.includes('bad-')), [], 'the failed loads left no pins');

    // a failed upgrade (bad object in a new version) keeps the old program running
    r = await e1.update(xdpBody(host, iface, [countAndPass('count-and-pass', 1, { version: '1.0.0', object_file: 'missing.bpf.o' }), ratelimiting(2, 2, [8080, 8081])]));
    assert.deepEqual(outcomes(r.results), ['count-and-pass:failed', 'ratelimiting:failed']);
    assert.match(r.results[1]?.reason ?? '', /^not applied: 'count-and-pass'/, 'l3afd stops at the first failure');
    assert.deepEqual(first.chains().describe(iface, 'xdp_ingress'), d3);
    assert.match(xdpOf(e1.get())[0]?.status.last_error ?? '', /missing\.bpf\.o/, 'last_error says why');

    // restart: stop leaves the data plane; a second engine over the same store and pins adopts it
    const shown = withoutStatus(e1.get());
    const ids = e1.get().map((e) => xdpOf([e]).map((p) => p.status.kernel_prog_id));
    await e1.stop();
    assert.equal(queryXdp(iface).progId, d3.root.id, 'stop() left XDP attached');
    e2 = engineWithChains(config);
    await e2.engine.start();
    const d4 = e2.chains().describe(iface, 'xdp_ingress');
    assert.equal(queryXdp(iface).progId, d1.root.id, 'XDP prog id unchanged: not re-attached');
    assert.deepEqual(d4.programs.map((p) => p.id), d3.programs.map((p) => p.id), 'same kernel programs, adopted');
    assert.ok(d4.programs.every((p) => p.adopted));
    const get2 = e2.engine.get();
    assert.deepEqual(withoutStatus(get2), shown, 'GET after restart equals GET before');
    assert.deepEqual(get2.map((e) => xdpOf([e]).map((p) => p.status.kernel_prog_id)), ids);
    assert.ok(xdpOf(get2).every((p) => p.status.attached && p.status.restarts === 0));
    assert.deepEqual(ratelimitingMaps(fs.path, iface), { rate: 2n, window: 0n, ports: [8080, 8081] });

    // the adopted chain can still be changed (moves rebuild adopted programs from the fetched objects)
    r = await e2.engine.update(xdpBody(host, iface, [countAndPass('count-and-pass', 3), ratelimiting(2, 2, [8080, 8081])]));
    assert.deepEqual(outcomes(r.results), ['count-and-pass:updated', 'ratelimiting:unchanged']);
    assertLinked(e2.chains().describe(iface, 'xdp_ingress'), ['ratelimiting', 'count-and-pass']);

    // stop({unload}) leaves nothing: no XDP, no pins; the store keeps the desired state
    await e2.engine.stop({ unload: true });
    assert.equal(queryXdp(iface).progId, 0, 'XDP detached');
    assert.deepEqual(pinsUnder(fs.path), [], 'no pins left');
    assert.equal((await store.read())[0]?.bpf_programs.xdp_ingress?.length, 2, 'desired state kept for the next start');
    t.diagnostic(`chain ids before restart ${JSON.stringify(d3.programs.map((p) => p.id))}, after ${JSON.stringify(d4.programs.map((p) => p.id))}`);
  } finally {
    await e1.stop({ unload: true }).catch(() => undefined);
    await e2?.engine.stop({ unload: true }).catch(() => undefined);
  }
});
