// After a reboot the agent re-applies its stored state: the desired state is in the config store, but the kernel
// holds nothing (the hook is empty, a fresh bpffs has no pins). start() loads, pins and links every stored program
// (restarts 1, attached), writes their map_args, attaches the root, and traffic is counted by the chain again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detachXdp, enableStats, queryXdp } from '../../agent/src/bpf/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, sendUdpReport, skipUnless } from '../harness/index.ts';
import { Counter, pinsUnder, rootRuns } from '../chain/helpers.ts';
import {
  StateDir, countAndPass, engineWithChains, ensurePackages, ratelimiting, ratelimitingMaps, testConfig, withoutStatus, xdpBody,
} from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

test('reboot: a stored state and an empty pin root → start() re-applies it and traffic is counted', { skip, timeout: 180_000 }, async (t) => {
  ensurePackages();
  await using lab = await VethLab.create();
  using state = new StateDir();
  using _stats = enableStats();
  const iface = lab.rootIfname;
  const host = hostName();
  let before: ReturnType<ReturnType<typeof engineWithChains>['engine']['get']>;

  // before the reboot: an agent applies ratelimiting + count-and-pass and stops, leaving them running
  {
    await using fs = await PrivateBpffs.create();
    const first = engineWithChains(testConfig(fs.path, state.path));
    try {
      await first.engine.start();
      const r = await first.engine.add(xdpBody(host, iface, [ratelimiting(1, 3, [8080, 8443]), countAndPass('count-and-pass', 2)]));
      assert.deepEqual(r.results.map((x) => x.outcome), ['added', 'added']);
      before = first.engine.get();
      await first.engine.stop();
    } finally {
      await first.engine.stop().catch(() => undefined);
    }
    // the reboot: the hook is empty, and the pins go with the bpffs (unmounted on dispose)
    assert.ok(detachXdp({ iface }), 'the chain was attached');
  }
  assert.equal(queryXdp(iface).progId, 0, 'after the reboot nothing is attached');

  await using fresh = await PrivateBpffs.create();
  assert.deepEqual(pinsUnder(fresh.path), [], 'the new pin root is empty');
  const second = engineWithChains(testConfig(fresh.path, state.path));
  const counters: Counter[] = [];
  try {
    await second.engine.start();
    const d = second.chains().describe(iface, 'xdp_ingress');
    assert.deepEqual(d.programs.map((p) => p.name), ['ratelimiting', 'count-and-pass'], 'the stored chain, in seq_id order');
    assert.ok(d.root.linked && queryXdp(iface).progId === d.root.id, 'the root is attached again');
    for (const p of d.programs) {
      assert.ok(p.linked, `${p.name} is linked`);
      assert.equal(p.adopted, false, `${p.name} was loaded, not adopted`);
    }
    assert.deepEqual(ratelimitingMaps(fresh.path, iface), { rate: 3n, window: 0n, ports: [8080, 8443] }, 'map_args written again');

    const got = second.engine.get();
    assert.deepEqual(withoutStatus(got), withoutStatus(before), 'GET shows the stored desired state');
    const status = (got[0]?.bpf_programs.xdp_ingress ?? []).map((p) => (p as unknown as { status: { attached: boolean; kernel_prog_id: number; restarts: number; last_error: string | null } }).status);
    assert.deepEqual(status.map((s) => [s.attached, s.restarts, s.last_error]), [[true, 1, null], [true, 1, null]], 'loaded again: restarts 1');
    assert.deepEqual(status.map((s) => s.kernel_prog_id), d.programs.map((p) => p.id));

    // traffic crosses the re-applied chain: count-and-pass counts every datagram the root ran on
    const L = second.chains().layout;
    const rootPin = L.programPath(iface, 'xdp_ingress', 'xdp-root', 'latest', 'xdp_root');
    const cap = new Counter('count-and-pass', L.mapPath(iface, 'xdp_ingress', 'count-and-pass', 'latest', 'xdp_cap_count'));
    counters.push(cap);
    const root0 = rootRuns(rootPin);
    const rep = await sendUdpReport(lab, { port: 9000, count: 20_000, ratePps: 20_000 });
    assert.equal(rep.failed, 0, String(rep.firstError));
    await new Promise((r) => setTimeout(r, 100));
    const root = rootRuns(rootPin) - root0;
    assert.equal(root, BigInt(rep.sent), 'the root ran on every datagram');
    assert.equal(cap.read(), root, 'count-and-pass counted every datagram');
    t.diagnostic(`after the reboot: sent=${rep.sent} root=${root} count-and-pass=${cap.read()}; ids ${d.root.id} → ${d.programs.map((p) => p.id).join(' → ')}`);
  } finally {
    for (const c of counters) c.close();
    await second.engine.stop({ unload: true }).catch(() => undefined);
  }
});
