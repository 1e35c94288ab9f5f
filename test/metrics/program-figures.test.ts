// Verifier figures on the real kernel: ratelimiting and count-and-pass chained on a veth lab; each program's
// status (?status=true) and the l3af_program_* gauges carry xlated and JIT sizes equal to what bpftool reads for
// the same kernel id, verified instructions equal to a separate load of the same object (bpftool 7.1 here does not
// print verified_insns), and the load time of its object; a second engine adopting the chain from pins keeps the
// kernel figures and has no load time (it loaded nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { join } from 'node:path';
import { createEngine } from '../../agent/src/engine/index.ts';
import { verifyObject } from '../../agent/src/engine/verify.ts';
import { ProgramFigureMetrics } from '../../agent/src/metrics/program-figures.ts';
import type { ProgramStatus } from '../../agent/src/payload/index.ts';
import { EngineLab, ROOT, run, skipUnless } from '../harness/index.ts';
import { countAndPass, ratelimiting, xdpBody } from '../engine/helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

type Verifier = NonNullable<ProgramStatus['verifier']>;

async function bpftoolFigures(id: number): Promise<{ bytes_xlated: number; bytes_jited: number }> {
  const r = await run('bpftool', ['prog', 'show', 'id', String(id), '--json']);
  return JSON.parse(r.stdout) as { bytes_xlated: number; bytes_jited: number };
}

/** Verified instructions of a separate load of the same object's entry (the dry run's check). */
function separateLoad(name: string): number | undefined {
  const [object, entry, nextMap] = name === 'ratelimiting'
    ? ['ratelimiting.bpf.o', '_xdp_ratelimiting', 'xdp_rl_ingress_next_prog'] : ['count_and_pass.bpf.o', 'xdp_count_and_pass', 'xdp_cap_next_prog'];
  return verifyObject(join(ROOT, 'programs', 'build', object), entry, nextMap, 'xdp_ingress').insns;
}

/** `name{…program="p"…} value` lines of one metric. */
function series(text: string, metric: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const program = /program="([^"]*)"/.exec(m[1] ?? '')?.[1] ?? '';
    out.set(program, Number(m[2]));
  }
  return out;
}

test('verifier figures: status and l3af_program_* gauges equal bpftool\'s; load time only for what this agent loaded', { skip, timeout: 180_000 }, async (t) => {
  await using bed = await EngineLab.create();
  const { iface, host, config } = bed;
  const registry = new Registry();
  const figures = new ProgramFigureMetrics({ registry, host: 'h' });
  const first = createEngine(config, { observer: figures });
  await first.start();
  let second: ReturnType<typeof createEngine> | undefined;
  try {
    const res = await first.add(xdpBody(host, iface, [ratelimiting(1, 2, [8080]), countAndPass('count-and-pass', 2)]));
    assert.deepEqual(res.results.map((r) => r.outcome), ['added', 'added']);
    const statusOf = (e: typeof first): Map<string, { id: number; v: Verifier | undefined }> => new Map(
      (e.get(iface)[0]?.bpf_programs.xdp_ingress ?? []).map((p) => {
        const s = (p as unknown as { status: ProgramStatus }).status;
        return [p.name, { id: s.kernel_prog_id, v: s.verifier }];
      }));
    const text = await registry.metrics();
    const insns = series(text, 'l3af_program_verified_instructions');
    const xlated = series(text, 'l3af_program_xlated_bytes');
    const jited = series(text, 'l3af_program_jited_bytes');
    const load = series(text, 'l3af_program_load_seconds');
    for (const [name, { id, v }] of statusOf(first)) {
      assert.ok(v, `${name}: status has its verifier figures`);
      const kernel = await bpftoolFigures(id);
      t.diagnostic(`${name} (id ${id}): verified_insns ${v.verified_insns}, xlated ${v.xlated_bytes} B, jited ${v.jited_bytes} B, load ${v.load_ms} ms; bpftool: ${JSON.stringify(kernel)}`);
      assert.ok(v.verified_insns > 0 && v.xlated_bytes > 0);
      assert.deepEqual([v.xlated_bytes, v.jited_bytes], [kernel.bytes_xlated, kernel.bytes_jited], `${name}: the same sizes as bpftool reads`);
      assert.equal(v.verified_insns, separateLoad(name), `${name}: the verifier processes as many instructions in a separate load`);
      assert.ok(v.load_ms !== undefined && v.load_ms > 0, `${name}: load time measured`);
      assert.equal(insns.get(name), v.verified_insns, `${name}: l3af_program_verified_instructions`);
      assert.equal(xlated.get(name), v.xlated_bytes);
      assert.equal(jited.get(name), v.jited_bytes);
      assert.ok(Math.abs((load.get(name) ?? 0) - (v.load_ms ?? 0) / 1000) < 0.001, `${name}: l3af_program_load_seconds`);
    }
    assert.match(text, /l3af_program_verified_instructions\{host="h",program="ratelimiting",direction="xdp_ingress",interface="[^"]+",ipv4_address=""\} \d+/);

    // a new engine adopts the chain from its pins: the same kernel figures, no load time
    const before = statusOf(first);
    await first.stop({ unload: false });
    const registry2 = new Registry();
    second = createEngine(config, { observer: new ProgramFigureMetrics({ registry: registry2, host: 'h' }) });
    await second.start();
    for (const [name, { id, v }] of statusOf(second)) {
      assert.equal(id, before.get(name)?.id, `${name}: adopted, same id`);
      assert.ok(v && v.load_ms === undefined, `${name}: adopted: no load time`);
      assert.equal(v.verified_insns, before.get(name)?.v?.verified_insns, `${name}: the figures read back from the adopted program`);
      assert.equal(v.xlated_bytes, (await bpftoolFigures(id)).bytes_xlated);
    }
    const text2 = await registry2.metrics();
    assert.equal(series(text2, 'l3af_program_load_seconds').size, 0, 'no load time series for adopted programs');
    assert.equal(series(text2, 'l3af_program_verified_instructions').size, 2);
  } finally {
    await (second ?? first).stop({ unload: true });
  }
});
