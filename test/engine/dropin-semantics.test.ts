// l3afd's payload semantics the agent keeps (issue 13):
// - point 7: an interface keeps its ipv4_address in GET after its last program is deleted, or failed;
// - point 14: update is the host's whole desired state (an interface it omits is stopped and leaves GET), and
//   admin_status disabled stops a program and drops it from GET;
// - point 12: partial apply as l3afd: the first program of an interface that fails ends that interface's payload
//   (the ones before stay, the failed one and the ones after are not there), other interfaces go on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queryXdp } from '../../agent/src/bpf/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import type { ProgramResult } from '../../agent/src/engine/index.ts';
import type { NormalizedL3afBpfPrograms } from '../../agent/src/payload/index.ts';
import { PrivateBpffs, VethLab, skipUnless } from '../harness/index.ts';
import { StateDir, countAndPass, countAndPassRepo, engineWithChains, ensurePackages, testConfig } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

function outcomes(results: readonly ProgramResult[]): string[] {
  return results.map((r) => `${r.iface === '' ? '' : ''}${r.name}:${r.outcome}`);
}

function names(get: NormalizedL3afBpfPrograms[], iface: string): string[] | null {
  const e = get.find((x) => x.iface === iface);
  return e?.bpf_programs.xdp_ingress?.map((p) => p.name) ?? null;
}

test('ipv4_address kept after the last program goes; update is the whole state; disabled leaves GET; partial apply stops at the first failure', { skip, timeout: 180_000 }, async () => {
  ensurePackages();
  await using labA = await VethLab.create();
  await using labB = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using state = new StateDir();
  const repo = countAndPassRepo(state.path, ['cap-a', 'cap-b', 'cap-c']);
  const [a, b] = [labA.rootIfname, labB.rootIfname];
  const host = hostName();
  const cap = (name: string, seq: number, extra = {}): ReturnType<typeof countAndPass> => countAndPass(name, seq, { ebpf_package_repo_url: repo, ...extra });
  const el = (iface: string, ipv4: string, programs: ReturnType<typeof countAndPass>[]): { host_name: string; iface: string; ipv4_address: string; bpf_programs: { xdp_ingress: ReturnType<typeof countAndPass>[] } } =>
    ({ host_name: host, iface, ipv4_address: ipv4, bpf_programs: { xdp_ingress: programs } });
  const { engine } = engineWithChains(testConfig(fs.path, state.path));
  try {
    await engine.start();
    // point 7: delete the last program: the interface stays, with its address and null lists
    let r = await engine.add([el(a, '10.10.0.1', [cap('cap-a', 1)])]);
    assert.deepEqual(outcomes(r.results), ['cap-a:added']);
    r = await engine.delete([{ host_name: host, iface: a, bpf_programs: { xdp_ingress: ['cap-a'] } }]);
    assert.deepEqual(outcomes(r.results), ['cap-a:removed']);
    assert.equal(queryXdp(a).progId, 0, 'root detached with the last program');
    assert.deepEqual(engine.get(a), [{ host_name: host, iface: a, ipv4_address: '10.10.0.1', bpf_programs: { xdp_ingress: null, tc_ingress: null, tc_egress: null, probes: null } }]);
    // ... and after a program that failed on an interface the agent did not know
    r = await engine.add([el(b, '10.20.0.1', [cap('cap-b', 1, { object_file: 'missing.bpf.o' })])]);
    assert.deepEqual(outcomes(r.results), ['cap-b:failed']);
    assert.equal(engine.get(b)[0]?.ipv4_address, '10.20.0.1');
    assert.deepEqual(engine.get().map((e) => [e.iface, e.ipv4_address]).sort(), [[a, '10.10.0.1'], [b, '10.20.0.1']].sort());

    // point 12: [cap-a ok, cap-b bad, cap-c ok] on a: cap-a stays, cap-b fails, cap-c is not applied
    r = await engine.update([el(a, '10.10.0.1', [cap('cap-a', 1), cap('cap-b', 2, { object_file: 'missing.bpf.o' }), cap('cap-c', 3)]), el(b, '10.20.0.1', [cap('cap-c', 1)])]);
    assert.deepEqual(outcomes(r.results), ['cap-a:added', 'cap-b:failed', 'cap-c:failed', 'cap-c:added']);
    assert.match(r.results[1]?.reason ?? '', /missing\.bpf\.o/);
    assert.match(r.results[2]?.reason ?? '', /^not applied: 'cap-b' \(xdp_ingress\) failed before it/);
    let get = engine.get();
    assert.deepEqual(names(get, a), ['cap-a'], 'the program before the failure stays; the failed one and the one after are not listed');
    assert.deepEqual(names(get, b), ['cap-c'], 'the other interface went on');
    assert.notEqual(queryXdp(a).progId, 0);

    // point 14: admin_status disabled stops cap-a and drops it from GET (the interface stays, with its address)
    r = await engine.update([el(a, '10.10.0.1', [cap('cap-a', 1, { admin_status: 'disabled' })]), el(b, '10.20.0.1', [cap('cap-c', 1)])]);
    assert.deepEqual(outcomes(r.results), ['cap-a:updated', 'cap-c:unchanged']);
    get = engine.get();
    assert.deepEqual(names(get, a), null, 'disabled: not listed');
    assert.equal(queryXdp(a).progId, 0, 'disabled: unloaded, root detached');
    // a disabled program that is not there is not added either
    r = await engine.update([el(a, '10.10.0.1', [cap('cap-b', 2, { admin_status: 'disabled' })]), el(b, '10.20.0.1', [cap('cap-c', 1)])]);
    assert.deepEqual(outcomes(r.results), ['cap-b:unchanged', 'cap-c:unchanged']);
    assert.deepEqual(names(engine.get(), a), null);

    // point 14: an update that omits interface b stops it and b leaves GET
    const bRoot = queryXdp(b).progId;
    assert.notEqual(bRoot, 0);
    r = await engine.update([el(a, '10.10.0.1', [cap('cap-a', 1)])]);
    assert.deepEqual(outcomes(r.results), ['cap-a:added', 'cap-c:removed']);
    assert.equal(queryXdp(b).progId, 0, 'the omitted interface is stopped');
    assert.deepEqual(engine.get().map((e) => e.iface), [a], 'and forgotten');
    assert.deepEqual(names(engine.get(), a), ['cap-a']);
  } finally {
    await engine.stop({ unload: true }).catch(() => undefined);
  }
});
