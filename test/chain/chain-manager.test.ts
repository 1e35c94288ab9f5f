// Hitless chains on a veth with live traffic: insert, remove, move and upgrade while UDP flows, with every
// program that stays in the chain counting exactly what the root saw; failed operations that change nothing;
// teardown that detaches the root and leaves no pins. Run for XDP and for TC ingress.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BpfMap, ProgArray, detachXdp, enableStats, queryTc, queryXdp } from '../../agent/src/bpf/index.ts';
import { ChainError, ChainManager, ChainProgram, type ChainDescription, type ChainDirection } from '../../agent/src/chain/index.ts';
import { PrivateBpffs, VethLab, registerExitCleanup, run, runSyncQuiet, sendUdpReport, skipUnless } from '../harness/index.ts';
import { Counter, capSpec, dirsUnder, formatRun, pinsUnder, rootSpecs, underTraffic, type TrafficRun } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

function hookId(iface: string, direction: ChainDirection): number | undefined {
  if (direction === 'xdp_ingress') return queryXdp(iface).progId || undefined;
  return queryTc({ iface, direction: direction === 'tc_egress' ? 'egress' : 'ingress' });
}

/** Asserts the chain reads back from the kernel as root → names…, every slot holding its successor. */
function assertLinked(d: ChainDescription, names: string[], rootId: number): void {
  assert.deepEqual(d.programs.map((p) => p.name), names);
  assert.equal(d.root.id, rootId, 'the root stayed the same program');
  assert.equal(d.root.slotId, rootId, 'the hook runs the root');
  for (const p of d.programs) assert.ok(p.linked, `${p.name}: predecessor slot holds ${p.slotId}, program is ${p.id}`);
  assert.equal(d.root.nextId, d.programs[0]?.id);
  d.programs.forEach((p, i) => assert.equal(p.nextId, d.programs[i + 1]?.id, `${p.name} links to its successor`));
}

for (const direction of ['xdp_ingress', 'tc_ingress'] as ChainDirection[]) {
  test(`${direction}: insert, remove, move and upgrade under traffic skip no packet`, { skip }, async (t) => {
    await using lab = await VethLab.create();
    await using fs = await PrivateBpffs.create();
    using _stats = enableStats();
    const iface = lab.rootIfname;
    const mgr = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
    const L = mgr.layout;
    const rootPin = (): string => L.programPath(iface, direction, rootSpecs()[direction].name, 'latest', rootSpecs()[direction].entry);
    const counters: Counter[] = [];
    const counter = (name: string, version = '1.0'): Counter => {
      const c = Counter.of(L, iface, direction, name, version);
      counters.push(c);
      return c;
    };
    const runs: TrafficRun[] = [];
    try {
      await mgr.insert(iface, direction, capSpec(direction, 'A'));
      await mgr.insert(iface, direction, capSpec(direction, 'B'));
      const d0 = mgr.describe(iface, direction);
      const rootId = d0.root.id;
      assertLinked(d0, ['A', 'B'], rootId);
      assert.equal(hookId(iface, direction), rootId);
      if (direction === 'xdp_ingress') assert.equal(d0.attachMode, 'drv', 'veth takes native XDP');
      const A = counter('A');
      const B = counter('B');

      const baseline = await sendUdpReport(lab, { port: 9000, count: 2000, ratePps: 20_000 });
      assert.equal(A.read(), BigInt(baseline.sent), 'A counted every datagram');
      assert.equal(B.read(), BigInt(baseline.sent), 'B counted every datagram');

      // insert C between A and B
      let C: Counter | undefined;
      let r = await underTraffic(lab, rootPin, 'insert C between A and B', () => mgr.insert(iface, direction, capSpec(direction, 'C'), 1),
        [A, B], () => [(C = counter('C'))]);
      runs.push(r);
      assert.equal(r.counted['A@1.0'], r.root, 'A skipped nothing');
      assert.equal(r.counted['B@1.0'], r.root, 'B skipped nothing');
      assert.ok((r.counted['C@1.0'] ?? 0n) > 0n && (r.counted['C@1.0'] ?? 0n) <= r.root, 'C counted from its insertion on');
      assertLinked(mgr.describe(iface, direction), ['A', 'C', 'B'], rootId);
      assert.ok(C);

      // remove A (the first program: the root's slot switches to C)
      r = await underTraffic(lab, rootPin, 'remove A', () => mgr.remove(iface, direction, 'A'), [A, C, B]);
      runs.push(r);
      assert.equal(r.counted['C@1.0'], r.root, 'C skipped nothing');
      assert.equal(r.counted['B@1.0'], r.root, 'B skipped nothing');
      assert.ok((r.counted['A@1.0'] ?? 0n) < r.root, 'A stopped counting');
      assertLinked(mgr.describe(iface, direction), ['C', 'B'], rootId);
      assert.deepEqual(pinsUnder(fs.path).filter((p) => p.includes('/A/')), [], 'A left no pins');

      // move B before C: both are rebuilt with their maps, switched in with one write at the root
      const beforeMove = mgr.describe(iface, direction);
      r = await underTraffic(lab, rootPin, 'move B before C', () => mgr.move(iface, direction, 'B', 0), [C, B]);
      runs.push(r);
      assert.equal(r.counted['B@1.0'], r.root, 'B counted every packet exactly once');
      assert.equal(r.counted['C@1.0'], r.root, 'C counted every packet exactly once');
      const afterMove = mgr.describe(iface, direction);
      assertLinked(afterMove, ['B', 'C'], rootId);
      assert.notDeepEqual(afterMove.programs.map((p) => p.id).sort(), beforeMove.programs.map((p) => p.id).sort(), 'new instances');
      assert.ok(!pinsUnder(fs.path).some((p) => p.endsWith('.staged')), 'no staged pins left');

      // upgrade C to 2.0 (new maps under the new version)
      let C2: Counter | undefined;
      r = await underTraffic(lab, rootPin, 'upgrade C 1.0 -> 2.0', () => mgr.replace(iface, direction, 'C', capSpec(direction, 'C', '2.0')),
        [B, C], () => [(C2 = counter('C', '2.0'))]);
      runs.push(r);
      assert.equal(r.counted['B@1.0'], r.root, 'B skipped nothing');
      assert.equal((r.counted['C@1.0'] ?? 0n) + (r.counted['C@2.0'] ?? 0n), r.root, 'every packet crossed C 1.0 or C 2.0, never neither nor both');
      assert.ok((r.counted['C@1.0'] ?? 0n) > 0n && (r.counted['C@2.0'] ?? 0n) > 0n, 'the switch happened mid-traffic');
      const afterUpgrade = mgr.describe(iface, direction);
      assertLinked(afterUpgrade, ['B', 'C'], rootId);
      assert.equal(afterUpgrade.programs[1]?.version, '2.0');
      assert.deepEqual(pinsUnder(fs.path).filter((p) => p.includes('/C/1_0')), [], 'C 1.0 left no pins');
      assert.ok(C2);

      for (const run of runs) t.diagnostic(formatRun(run));
      console.log(runs.map((x) => `${direction} ${formatRun(x)}`).join('\n'));
      assert.equal(hookId(iface, direction), rootId, 'the root was never re-attached');

      // teardown: the last program takes the root with it, and nothing stays pinned
      await mgr.remove(iface, direction, 'B');
      assertLinked(mgr.describe(iface, direction), ['C'], rootId);
      await mgr.remove(iface, direction, 'C');
      assert.equal(hookId(iface, direction), undefined, 'root detached');
      assert.throws(() => mgr.describe(iface, direction), (e: unknown) => e instanceof ChainError && e.code === 'not_found');
      assert.deepEqual(pinsUnder(fs.path), [], 'no pins left');
      assert.deepEqual(dirsUnder(fs.path), [], 'no directories left');
      assert.deepEqual(mgr.chains(), []);
    } finally {
      for (const c of counters) c.close();
      for (const { iface: i, direction: d } of mgr.chains()) {
        for (const p of [...mgr.programs(i, d)]) await mgr.remove(i, d, p.name).catch(() => undefined);
      }
      mgr.close();
    }
  });
}

test('failed operations leave the chain exactly as it was, under traffic', { skip }, async (t) => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using _stats = enableStats();
  const iface = lab.rootIfname;
  const dir: ChainDirection = 'xdp_ingress';
  const mgr = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
  const rootPin = (): string => mgr.layout.programPath(iface, dir, 'xdp-root', 'latest', 'xdp_root');
  let counters: Counter[] = [];
  try {
    await mgr.insert(iface, dir, capSpec(dir, 'A'));
    await mgr.insert(iface, dir, capSpec(dir, 'B'));
    counters = [Counter.of(mgr.layout, iface, dir, 'A'), Counter.of(mgr.layout, iface, dir, 'B')];
    const before = mgr.describe(iface, dir);
    const pinsBefore = pinsUnder(fs.path);
    const bad: Array<[string, ChainError['code'], () => Promise<unknown>]> = [
      ['object path that does not exist', 'invalid', () => mgr.insert(iface, dir, { ...capSpec(dir, 'X'), objectPath: '/nonexistent/x.bpf.o' }, 1)],
      ['entry not in the object', 'invalid', () => mgr.insert(iface, dir, { ...capSpec(dir, 'X'), entry: 'no_such_function' }, 1)],
      ['next map not in the object', 'invalid', () => mgr.insert(iface, dir, { ...capSpec(dir, 'X'), nextMap: 'no_such_map' }, 1)],
      ['next map that is not a prog_array', 'invalid', () => mgr.insert(iface, dir, { ...capSpec(dir, 'X'), nextMap: 'xdp_cap_count' }, 0)],
      ['upgrade to an entry not in the object', 'invalid', () => mgr.replace(iface, dir, 'A', { ...capSpec(dir, 'A', '2.0'), entry: 'nope' })],
      ['upgrade to a missing object', 'invalid', () => mgr.replace(iface, dir, 'B', { ...capSpec(dir, 'B', '2.0'), objectPath: '/nonexistent' })],
      ['duplicate name', 'conflict', () => mgr.insert(iface, dir, capSpec(dir, 'B'))],
      ['root name', 'conflict', () => mgr.insert(iface, dir, capSpec(dir, 'xdp-root'))],
      ['position out of range', 'invalid', () => mgr.insert(iface, dir, capSpec(dir, 'X'), 5)],
      ['version that escapes', 'invalid', () => mgr.insert(iface, dir, capSpec(dir, 'X', '..'))],
      ['name with a slash', 'invalid', () => mgr.insert(iface, dir, capSpec(dir, '../X'))],
      ['remove unknown', 'not_found', () => mgr.remove(iface, dir, 'nobody')],
      ['move out of range', 'invalid', () => mgr.move(iface, dir, 'A', 2)],
    ];
    const failures: string[] = [];
    const run = await underTraffic(lab, rootPin, 'failed operations', async () => {
      for (const [what, code, op] of bad) {
        await assert.rejects(op(), (e: unknown) => {
          assert.ok(e instanceof ChainError, `${what}: ${String(e)}`);
          assert.equal(e.code, code, `${what}: ${e.message}`);
          failures.push(`${what}: ${e.message.split('\n')[0]}`);
          return true;
        });
        assert.deepEqual(mgr.describe(iface, dir), before, `${what}: describe() unchanged`);
        assert.deepEqual(pinsUnder(fs.path), pinsBefore, `${what}: pins unchanged`);
      }
    }, counters);
    t.diagnostic(formatRun(run));
    for (const f of failures) t.diagnostic(f);
    assert.equal(run.counted['A@1.0'], run.root, 'A counted every packet');
    assert.equal(run.counted['B@1.0'], run.root, 'B counted every packet');
    assert.match(failures.find((f) => f.startsWith('entry')) ?? '', /no program 'no_such_function'.*xdp_count_and_pass/);
  } finally {
    for (const c of counters) c.close();
    for (const name of ['A', 'B']) await mgr.remove(iface, dir, name).catch(() => undefined);
    mgr.close();
  }
  assert.deepEqual(pinsUnder(fs.path), []);
});

test('refusals that need no traffic: missing interface, the same name on both TC directions', { skip }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  const mgr = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
  const iface = lab.rootIfname;
  try {
    await assert.rejects(mgr.insert('nosuchif0', 'xdp_ingress', capSpec('xdp_ingress', 'A')), (e: unknown) => e instanceof ChainError && e.code === 'not_found' && /nosuchif0/.test(e.message));
    await mgr.insert(iface, 'tc_ingress', capSpec('tc_ingress', 'A'));
    await assert.rejects(mgr.insert(iface, 'tc_egress', capSpec('tc_egress', 'A')), (e: unknown) => e instanceof ChainError && e.code === 'conflict' && /other TC direction/.test(e.message));
    await mgr.insert(iface, 'tc_egress', capSpec('tc_egress', 'E'));
    const eg = mgr.describe(iface, 'tc_egress');
    assert.equal(queryTc({ iface, direction: 'egress' }), eg.root.id);
    assert.ok(eg.programs[0]?.linked);
    await mgr.remove(iface, 'tc_egress', 'E');
    await mgr.remove(iface, 'tc_ingress', 'A');
    assert.equal(queryTc({ iface, direction: 'ingress' }), undefined);
    assert.equal(queryTc({ iface, direction: 'egress' }), undefined);
    assert.deepEqual(pinsUnder(fs.path), []);
  } finally {
    mgr.close();
  }
});

test('a hook that holds someone else\'s program is refused and nothing stays pinned', { skip }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  const iface = lab.rootIfname;
  const first = new ChainManager({ pinRoot: fs.path, roots: rootSpecs(), xdpMode: 'skb' });
  const other = await PrivateBpffs.create();
  const second = new ChainManager({ pinRoot: other.path, roots: rootSpecs() });
  try {
    await first.insert(iface, 'xdp_ingress', capSpec('xdp_ingress', 'A'));
    assert.equal(first.describe(iface, 'xdp_ingress').attachMode, 'skb');
    await assert.rejects(second.insert(iface, 'xdp_ingress', capSpec('xdp_ingress', 'A')), (e: unknown) => e instanceof ChainError && e.code === 'conflict');
    assert.deepEqual(pinsUnder(other.path), [], 'the refused chain left no pins');
    assert.equal(queryXdp(iface).progId, first.describe(iface, 'xdp_ingress').root.id, 'the first chain is untouched');
    await first.remove(iface, 'xdp_ingress', 'A');
    assert.equal(queryXdp(iface).attached, 'none');
  } finally {
    first.close();
    second.close();
    await other.dispose();
  }
});

test('native XDP refused by the driver falls back to generic; without fallback the refusal is reported', { skip }, async () => {
  await using fs = await PrivateBpffs.create();
  const iface = `l3d${process.pid.toString(36)}`;
  await run('ip', ['link', 'add', iface, 'type', 'bridge']); // a bridge has no native XDP
  const unregister = registerExitCleanup(`bridge ${iface}`, () => { runSyncQuiet('ip', ['link', 'del', iface]); });
  const strict = new ChainManager({ pinRoot: fs.path, roots: rootSpecs(), xdpFallbackToSkb: false });
  const mgr = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
  try {
    await run('ip', ['link', 'set', iface, 'up']);
    await assert.rejects(strict.insert(iface, 'xdp_ingress', capSpec('xdp_ingress', 'A')),
      (e: unknown) => e instanceof ChainError && e.code === 'kernel' && /bpf_xdp_attach/.test(e.message));
    assert.deepEqual(pinsUnder(fs.path), [], 'the refused attach left no pins');
    await mgr.insert(iface, 'xdp_ingress', capSpec('xdp_ingress', 'A'));
    const d = mgr.describe(iface, 'xdp_ingress');
    assert.equal(d.attachMode, 'skb');
    assert.equal(queryXdp(iface).skbProgId, d.root.id);
    await mgr.remove(iface, 'xdp_ingress', 'A');
    assert.equal(queryXdp(iface).attached, 'none');
  } finally {
    strict.close();
    mgr.close();
    await run('ip', ['link', 'del', iface]).catch(() => undefined);
    unregister();
  }
});

test('a pinned chain whose root is no longer attached is reported as orphans, and removing them leaves no pins', { skip }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  const iface = lab.rootIfname;
  const first = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
  await first.insert(iface, 'xdp_ingress', capSpec('xdp_ingress', 'A'));
  await first.insert(iface, 'xdp_ingress', capSpec('xdp_ingress', 'B'));
  first.close();
  detachXdp({ iface }); // someone detached it behind the agent's back
  const mgr = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
  try {
    const report = await mgr.adopt();
    assert.deepEqual(report.chains, []);
    assert.deepEqual(report.orphans.map((o) => o.name).sort(), ['A', 'B', 'xdp-root']);
    assert.equal(report.orphans.find((o) => o.name === 'xdp-root')?.reason, 'root of xdp_ingress is pinned but not attached');
    for (const o of report.orphans) mgr.removeOrphan(o);
    assert.deepEqual(pinsUnder(fs.path), []);
    assert.deepEqual(dirsUnder(fs.path), []);
  } finally {
    mgr.close();
  }
});

test('adopt completes an operation interrupted after its switch: the staged pins are renamed into place', { skip }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  const iface = lab.rootIfname;
  const dir: ChainDirection = 'xdp_ingress';
  const first = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
  await first.insert(iface, dir, capSpec(dir, 'A'));
  await first.insert(iface, dir, capSpec(dir, 'B'));
  // a same-version replacement of A that "crashed" right after its switch, before renaming its pins
  const a2 = ChainProgram.load(first.layout, { iface, direction: dir }, capSpec(dir, 'A'));
  assert.ok(a2.staged, 'A 1.0 is live, so the new instance is pinned beside it');
  a2.linkTo(first.programs(iface, dir)[1]);
  {
    using rootArray = BpfMap.openPinned(first.layout.mapPath(iface, dir, 'xdp-root', 'latest', 'xdp_root_array'));
    new ProgArray(rootArray).set(0, a2.program);
  }
  const a2id = a2.id;
  a2.close();
  first.close();
  assert.ok(pinsUnder(fs.path).some((p) => p.endsWith('~staged')));

  const mgr = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
  const counters: Counter[] = [];
  try {
    const report = await mgr.adopt();
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.orphans, [], 'the old A was replaced by the rename');
    assert.deepEqual(report.chains[0]?.programs.map((p) => [p.name, p.linked]), [['A', true], ['B', true]]);
    assert.equal(report.chains[0]?.programs[0]?.id, a2id);
    assert.ok(!pinsUnder(fs.path).some((p) => p.endsWith('~staged')), 'no staged pins left');
    counters.push(Counter.of(mgr.layout, iface, dir, 'A'), Counter.of(mgr.layout, iface, dir, 'B'));
    const r = await sendUdpReport(lab, { port: 9000, count: 2000, ratePps: 20_000 });
    assert.deepEqual(counters.map((c) => c.read()), [BigInt(r.sent), BigInt(r.sent)], 'the promoted pins are the live programs\' maps');
    await mgr.remove(iface, dir, 'A');
    await mgr.remove(iface, dir, 'B');
    assert.deepEqual(pinsUnder(fs.path), []);
  } finally {
    for (const c of counters) c.close();
    mgr.close();
  }
});

test('concurrent operations on one chain run one at a time, in call order', { skip }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  const iface = lab.rootIfname;
  const dir: ChainDirection = 'tc_ingress';
  const mgr = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
  try {
    const results = await Promise.allSettled([
      mgr.insert(iface, dir, capSpec(dir, 'A')),
      mgr.insert(iface, dir, capSpec(dir, 'B')),
      mgr.insert(iface, dir, capSpec(dir, 'C'), 0),
      mgr.insert(iface, dir, capSpec(dir, 'B')), // refused: B is in by then
      mgr.move(iface, dir, 'A', 2),
      mgr.remove(iface, dir, 'B'),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const d = mgr.describe(iface, dir);
    assert.deepEqual(d.programs.map((p) => [p.name, p.linked]), [['C', true], ['A', true]]);
    assert.equal(d.root.slotId, d.root.id);
    await Promise.all([mgr.remove(iface, dir, 'C'), mgr.remove(iface, dir, 'A')]);
    assert.equal(queryTc({ iface, direction: 'ingress' }), undefined);
    assert.deepEqual(pinsUnder(fs.path), []);
  } finally {
    mgr.close();
  }
});
