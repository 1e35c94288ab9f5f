// Add/update/delete cycles leave the kernel as they found it: every program and map the agent created during the
// cycles (the roots, their prog-array maps xdp_root_array / tc_ingress_root_array / tc_egress_root_array, and the
// programs' own maps) is gone from the kernel after the last delete and the agent's stop: nothing pinned, nothing
// attached, no object kept alive by a reference the agent forgot. Objects are followed by kernel id (read back
// from the chains after each change), so objects of other processes with the same names never count; the lists
// of objects with our names are compared as well when nobody else changed them meanwhile.
// The cycle count is L3AF_CYCLES (default 100; the 500 was measured once for its closing note).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BpfProgram } from '../../agent/src/bpf/index.ts';
import type { BpfProgram as Payload } from '../../agent/src/payload/index.ts';
import type { ChainDirection } from '../../agent/src/chain/index.ts';
import { skipUnless, EngineLab } from '../harness/index.ts';
import { countAndPass, countAndPassRepo, engineWithChains, ratelimiting } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');
const CYCLES = Number(process.env.L3AF_CYCLES ?? 100);

/** Names of the maps and programs the agent's packages create (bpftool shows the first 15 characters). */
const OURS = /^(xdp_root|tc_ingress_root|tc_egress_root|xdp_rl_|rl_|_xdp_ratelimit|xdp_cap_|tc_cap_|xdp_count_and|tc_count_and)/;

interface Listed { id: number; name: string }
function listed(kind: 'map' | 'prog'): Listed[] {
  const all = JSON.parse(execFileSync('bpftool', ['-j', kind, 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Array<{ id: number; name?: string }>;
  return all.map((o) => ({ id: o.id, name: o.name ?? '' }));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test(`${CYCLES} add/update/delete cycles on XDP, TC ingress and TC egress, then stop: every kernel object the agent created is gone`, { skip, timeout: Math.max(300_000, CYCLES * 3_000) }, async () => {
  await using bed = await EngineLab.create();
  const { state, iface, host, config } = bed;
  const repo = countAndPassRepo(state.path, ['cap-egress']);
  const tc = (name: string, seq: number, extra: Partial<Payload> = {}): Payload => countAndPass(name, seq, {
    prog_type: 'tc', map_name: 'tc_cap_next_prog', object_file: 'count_and_pass_tc.bpf.o', entry_function_name: 'tc_count_and_pass', ...extra,
  });
  const body = (rlSeq: number) => [{
    host_name: host, iface, bpf_programs: {
      xdp_ingress: [ratelimiting(rlSeq, 2, [8080]), countAndPass('count-and-pass', 2)],
      tc_ingress: [tc('count-and-pass', 1)],
      tc_egress: [tc('cap-egress', 1, { ebpf_package_repo_url: repo })],
    },
  }];
  const progsBefore = listed('prog').filter((o) => OURS.test(o.name));
  const mapsBefore = listed('map').filter((o) => OURS.test(o.name));

  const seenProgs = new Set<number>();
  const seenMaps = new Set<number>();
  const { engine, chains } = engineWithChains(config);
  /** Records the ids of every program in the chains (roots included) and of the maps they use. */
  const record = (): void => {
    for (const d of ['xdp_ingress', 'tc_ingress', 'tc_egress'] as ChainDirection[]) {
      if (!chains().chains().some((c) => c.iface === iface && c.direction === d)) continue;
      const desc = chains().describe(iface, d);
      for (const id of [desc.root.id, ...desc.programs.map((p) => p.id)]) {
        if (!id) continue;
        seenProgs.add(id);
        using p = BpfProgram.fromId(id);
        for (const m of p.info().mapIds) seenMaps.add(m);
      }
    }
  };
  try {
    await engine.start();
    for (let i = 0; i < CYCLES; i++) {
      const a = await engine.add(body(1));
      assert.deepEqual(a.results.map((r) => r.outcome), ['added', 'added', 'added', 'added'], `cycle ${i} add: ${JSON.stringify(a.results)}`);
      record();
      engine.get();
      const u = await engine.update(body(3)); // ratelimiting moves behind count-and-pass
      assert.ok(u.results.every((r) => r.outcome !== 'failed'), `cycle ${i} update: ${JSON.stringify(u.results)}`);
      record();
      const d = await engine.delete([{ host_name: host, iface, bpf_programs: { xdp_ingress: ['ratelimiting', 'count-and-pass'], tc_ingress: ['count-and-pass'], tc_egress: ['cap-egress'] } }]);
      assert.deepEqual(d.results.map((r) => r.outcome), ['removed', 'removed', 'removed', 'removed'], `cycle ${i} delete`);
      assert.deepEqual(chains().chains(), [], `cycle ${i}: no chain left`);
    }
  } finally {
    await engine.stop({ unload: true });
  }
  assert.ok(seenMaps.size >= CYCLES * 3, `${seenMaps.size} maps followed`);

  // the kernel frees programs and maps after an RCU grace period: give it a moment
  let leftProgs: Listed[] = [];
  let leftMaps: Listed[] = [];
  for (let i = 0; i < 50; i++) {
    leftProgs = listed('prog').filter((o) => seenProgs.has(o.id));
    leftMaps = listed('map').filter((o) => seenMaps.has(o.id));
    if (leftProgs.length + leftMaps.length === 0) break;
    await sleep(100);
  }
  assert.deepEqual(leftMaps, [], `maps the agent created that the kernel still holds (of ${seenMaps.size})`);
  assert.deepEqual(leftProgs, [], `programs the agent created that the kernel still holds (of ${seenProgs.size})`);
  // by name too: what is there now with our names was there before, or is not ours (another process's, by id)
  const progsAfter = listed('prog').filter((o) => OURS.test(o.name));
  const mapsAfter = listed('map').filter((o) => OURS.test(o.name));
  const fresh = (after: Listed[], before: Listed[], seen: Set<number>) => after.filter((o) => !before.some((b) => b.id === o.id) && seen.has(o.id));
  assert.deepEqual(fresh(mapsAfter, mapsBefore, seenMaps), []);
  assert.deepEqual(fresh(progsAfter, progsBefore, seenProgs), []);
  console.log(`# ${CYCLES} cycles: ${seenProgs.size} programs and ${seenMaps.size} maps created and freed; maps with our names before ${mapsBefore.length}, after ${mapsAfter.length}; programs before ${progsBefore.length}, after ${progsAfter.length}`);
});
