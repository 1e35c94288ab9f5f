// Per-program packet counts inside a chain ([l3af] chain-counting) on the real kernel: a counting step before
// each chained program. Under live traffic on a veth lab: each step counts exactly what its program's own
// counter counts (count-and-pass), ratelimiting's dropped SYNs = packets that entered it − packets that entered
// the program after it; insert, replace (the count goes on) and move stay hitless; a fresh manager adopts the
// steps from their pins; removing the programs leaves no pin of a step behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap, enableStats, u16, u32, u64, u8 } from '../../agent/src/bpf/index.ts';
import { ChainManager, type ChainDescription, type ProgramSpec } from '../../agent/src/chain/index.ts';
import { PrivateBpffs, VethLab, connectTcp, listenTcp, sendUdpReport, skipUnless } from '../harness/index.ts';
import { Counter, capSpec, packageObject, pinsUnder, rootSpecs, underTraffic } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

const RL_RATE = 5n;

/** ratelimiting on XDP: RL_RATE new connections per hour-long window to `port`. */
function rlSpec(port: number): ProgramSpec {
  return {
    name: 'rl', version: '1.0', objectPath: packageObject('ratelimiting'), entry: '_xdp_ratelimiting', nextMap: 'xdp_rl_ingress_next_prog',
    prepare: (maps) => {
      using cfg = maps.open('rl_config_map');
      cfg.typed(u32, u64).set(0, RL_RATE);
      cfg.typed(u32, u64).set(1, 3_600_000_000_000n);
      using ports = maps.open('rl_ports_map');
      ports.typed(u16, u8).set(port, 1);
    },
  };
}

const packets = (d: ChainDescription, name: string): bigint => {
  const el = d.programs.find((p) => p.name === name);
  assert.ok(el?.counted, `${name} has a counting step`);
  return el.counted.packets;
};

test('chain counting: a step before each program counts what enters it; hitless insert, replace and move; adopted after a restart', { skip, timeout: 180_000 }, async (t) => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using _stats = enableStats();
  const iface = lab.rootIfname;
  const direction = 'xdp_ingress' as const;
  const countSteps = { objectPath: packageObject('count_step'), where: () => true };
  const mgr = new ChainManager({ pinRoot: fs.path, roots: rootSpecs(), countSteps });
  const L = mgr.layout;
  const rootPin = (): string => L.programPath(iface, direction, 'xdp-root', 'latest', 'xdp_root');
  const counters: Counter[] = [];
  const counter = (name: string, version = '1.0'): Counter => {
    const c = Counter.of(L, iface, direction, name, version);
    counters.push(c);
    return c;
  };
  let fresh: ChainManager | undefined;
  try {
    await mgr.insert(iface, direction, capSpec(direction, 'A'));
    await mgr.insert(iface, direction, capSpec(direction, 'B'));
    let d = mgr.describe(iface, direction);
    for (const [i, p] of d.programs.entries()) {
      assert.ok(p.counted && p.linked && p.reachable, `${p.name}: counted, linked, reachable`);
      assert.equal(i === 0 ? d.root.nextId : d.programs[i - 1]?.nextId, p.counted.stepId, `${p.name}: its predecessor's slot holds its counting step`);
    }
    const A = counter('A');
    const B = counter('B');
    const sent = (await sendUdpReport(lab, { port: 9000, count: 2000, ratePps: 20_000 })).sent;
    d = mgr.describe(iface, direction);
    assert.deepEqual([packets(d, 'A'), packets(d, 'B')], [BigInt(sent), BigInt(sent)], 'each step counted every datagram');
    assert.deepEqual([A.read(), B.read()], [BigInt(sent), BigInt(sent)], 'and so did each program');

    // insert C between A and B under traffic: nothing skipped, C's step counts what C counts
    let C: Counter | undefined;
    const ins = await underTraffic(lab, rootPin, 'insert C (counted)', () => mgr.insert(iface, direction, capSpec(direction, 'C'), 1), [A, B], () => [(C = counter('C'))]);
    assert.equal(ins.counted['A@1.0'], ins.root, 'A skipped nothing');
    assert.equal(ins.counted['B@1.0'], ins.root, 'B skipped nothing');
    d = mgr.describe(iface, direction);
    assert.equal(packets(d, 'C'), C?.read(), 'C\'s step counted exactly what C counted');
    assert.equal(packets(d, 'A'), A.read());

    // replace B by B 2.0 under traffic: the step's count goes on (its counter is handed on)
    const bBefore = packets(d, 'B');
    const B2 = () => counter('B', '2.0');
    let b2: Counter | undefined;
    const rep = await underTraffic(lab, rootPin, 'replace B 1.0 → 2.0 (counted)', () => mgr.replace(iface, direction, 'B', capSpec(direction, 'B', '2.0')), [A], () => [(b2 = B2())]);
    assert.equal(rep.counted['A@1.0'], rep.root, 'A skipped nothing');
    d = mgr.describe(iface, direction);
    const bAfter = packets(d, 'B');
    assert.equal(bAfter - bBefore, rep.root, 'B\'s step counted every packet across the replacement (old and new instance)');
    assert.ok((b2?.read() ?? 0n) > 0n);

    // move A to the end under traffic
    const mv = await underTraffic(lab, rootPin, 'move A to the end (counted)', () => mgr.move(iface, direction, 'A', 2), [A]);
    assert.equal(mv.counted['A@1.0'], mv.root, 'A skipped nothing while it moved');
    d = mgr.describe(iface, direction);
    assert.deepEqual(d.programs.map((p) => p.name), ['C', 'B', 'A']);
    assert.equal(packets(d, 'A'), A.read(), 'A\'s step went with it, count included');
    t.diagnostic(`steps: ${d.programs.map((p) => `${p.name}#${p.id} step#${p.counted?.stepId} ${p.counted?.packets}`).join(', ')}`);

    // ratelimiting before A: dropped SYNs = entered ratelimiting − entered A
    await mgr.remove(iface, direction, 'C');
    await mgr.remove(iface, direction, 'B');
    await using listener = await listenTcp(lab);
    await mgr.insert(iface, direction, rlSpec(listener.port), 0);
    d = mgr.describe(iface, direction);
    const rl0 = packets(d, 'rl');
    const a0 = packets(d, 'A');
    const syn = await connectTcp(lab, { port: listener.port, attempts: 40, ratePerSec: 200, timeoutMs: 500, reset: true });
    await new Promise((r) => setTimeout(r, 200));
    d = mgr.describe(iface, direction);
    const entered = packets(d, 'rl') - rl0;
    const passed = packets(d, 'A') - a0;
    using drops = BpfMap.openPinned(join(L.mapDir(iface, direction, 'rl', '1.0'), 'rl_drop_count_map'));
    const dropped = drops.typed(u32, u64).get(0) ?? 0n;
    t.diagnostic(`ratelimiting: ${syn.attempted} attempts (${syn.connected} connected), entered ${entered}, passed on ${passed}, its drop counter ${dropped}`);
    assert.ok(dropped > 0n, 'ratelimiting dropped SYNs over its rate');
    assert.equal(entered - passed, dropped, 'packets ratelimiting ended = entered − entered the next program = its own drop count');

    // a fresh manager (an agent restart) adopts the chain and its steps from the pins
    const before = mgr.describe(iface, direction);
    mgr.close();
    fresh = new ChainManager({ pinRoot: fs.path, roots: rootSpecs(), countSteps });
    const report = await fresh.adopt();
    assert.deepEqual(report.problems, []);
    const after = fresh.describe(iface, direction);
    assert.deepEqual(after.programs.map((p) => [p.name, p.id, p.counted?.stepId, p.linked]), before.programs.map((p) => [p.name, p.id, p.counted?.stepId, true]), 'same programs, same steps, linked');

    // removing every program leaves no step pin behind
    for (const p of after.programs) await fresh.remove(iface, direction, p.name);
    const countDir = join(fs.path, 'chain-counts');
    assert.deepEqual(existsSync(countDir) ? pinsUnder(countDir) : [], [], 'no counting-step pin left');
  } finally {
    for (const c of counters) c.close();
    (fresh ?? mgr).close();
  }
});
