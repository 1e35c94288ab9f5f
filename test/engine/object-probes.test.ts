// Probe programs inside an XDP package (issue 5 item 7) through the engine on the real kernel: a package whose object
// has an XDP chain entry and a tracepoint beside it (test/bpf/xdp_with_tp.bpf.c, both counting into one array map) is
// added; the tracepoint is attached from the same loaded object, so it counts into the chain element's pinned map;
// a restarted agent adopts it with the chain; a version change re-attaches it once (old link gone, counts kept with the maps); delete detaches it (bpftool shows
// no link of its program) and leaves no pin.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BpfMap, BpfProgram as KernelProgram, u32, u64 } from '../../agent/src/bpf/index.ts';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { createEngine, type ProgramResult } from '../../agent/src/engine/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { platformName } from '../../agent/src/platform/platform-name.ts';
import type { BpfProgram } from '../../agent/src/payload/index.ts';
import { writePackage } from '../../programs/repository.ts';
import { ensureTracefs, skipUnless, EngineLab } from '../harness/index.ts';
import { pinsUnder } from '../chain/helpers.ts';
import { ROOT, testConfig, xdpBody } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs', 'tracefs');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
let build = '';

before(async () => {
  if (skip) return;
  build = mkdtempSync(join(tmpdir(), `l3af-object-probes-${process.pid}-`));
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-Wall', '-Werror', `-I/usr/include/${process.arch === 'x64' ? 'x86_64' : 'aarch64'}-linux-gnu`,
    `-I${join(ROOT, 'programs', 'include')}`, '-c', join(ROOT, 'test', 'bpf', 'xdp_with_tp.bpf.c'), '-o', join(build, 'xdp_with_tp.bpf.o')]);
  await ensureTracefs();
});
after(() => {
  if (build) rmSync(build, { recursive: true, force: true });
});

function outcomes(results: readonly ProgramResult[]): string[] {
  return results.map((r) => `${r.name}:${r.outcome}${r.reason ? ` (${r.reason})` : ''}`);
}

/** BPF links per bpftool: id, program id, type. */
function links(): Array<{ id: number; prog_id: number; type: string }> {
  return JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' }) || '[]') as Array<{ id: number; prog_id: number; type: string }>;
}

/** Tracepoint links of programs named like the fixture's tracepoint (kernel names are cut at 15 bytes). */
function tpLinks(): Array<{ id: number; progId: number }> {
  return links().filter((l) => l.type === 'perf_event' || l.type === 'tracing' || l.type === 'raw_tracepoint')
    .flatMap((l) => {
      try {
        using p = KernelProgram.fromId(l.prog_id);
        return p.info().name === 'xwt_getppid' ? [{ id: l.id, progId: l.prog_id }] : [];
      } catch {
        return [];
      }
    });
}

function getppid(n: number): void {
  execFileSync(PYTHON, ['-c', `import os\nfor _ in range(${n}):\n  os.getppid()`]);
}

function counts(pin: string): [bigint, bigint] {
  using m = BpfMap.openPinned(pin);
  const t = m.typed(u32, u64);
  return [t.get(0) ?? 0n, t.get(1) ?? 0n];
}

test('a tracepoint inside an XDP package: attached with it from the same object (shared map), re-attached on replace, detached on delete', { skip, timeout: 120_000 }, async () => {
  await using bed = await EngineLab.create();
  const { fs, state, iface } = bed;
  const repoDir = join(state.path, 'xwt-repo');
  for (const version of ['1.0.0', '2.0.0']) {
    await writePackage(repoDir, platformName(), { name: 'xwt', artifact: 'l3af_xwt.tar.gz', version, files: [{ source: join(build, 'xdp_with_tp.bpf.o'), name: 'xdp_with_tp.bpf.o' }] });
  }
  const prog = (version: string): BpfProgram => ({
    name: 'xwt', seq_id: 1, artifact: 'l3af_xwt.tar.gz', version, admin_status: 'enabled', prog_type: 'xdp', map_name: 'xwt_next_prog',
    object_file: 'xdp_with_tp.bpf.o', entry_function_name: 'xwt_xdp', ebpf_package_repo_url: pathToFileURL(repoDir).href, cfg_version: 1,
  });
  const config = testConfig(fs.path, state.path);
  let cm: ChainManager | undefined;
  let engine = createEngine(config, { chainManager: (roots) => (cm = new ChainManager({ pinRoot: fs.path, roots })) });
  assert.deepEqual(tpLinks(), [], 'no fixture link before the test');
  try {
    await engine.start();
    let r = await engine.add(xdpBody(hostName(), iface, [prog('1.0.0')]));
    assert.deepEqual(outcomes(r.results), ['xwt:added']);
    assert.deepEqual(cm?.describe(iface, 'xdp_ingress').programs.map((p) => [p.name, p.linked]), [['xwt', true]]);
    let tp = tpLinks();
    assert.equal(tp.length, 1, 'one tracepoint link for the object\'s tracepoint program');
    const xdpId = cm?.describe(iface, 'xdp_ingress').programs[0]?.id as number;
    {
      using x = KernelProgram.fromId(xdpId);
      using t = KernelProgram.fromId(tp[0]?.progId as number);
      const shared = t.info().mapIds.filter((id) => x.info().mapIds.includes(id));
      assert.equal(shared.length, 1, 'the tracepoint uses the XDP program\'s map (one collection)');
    }
    const pin1 = join(fs.path, iface, 'xwt', '1_0_0', 'xwt_counts');
    const [, before1] = counts(pin1);
    getppid(40);
    const [, after1] = counts(pin1);
    assert.ok(after1 - before1 >= 40n, `the tracepoint counted into the chain element's pinned map (${before1} → ${after1})`);

    // agent restart: a second engine adopts the pinned tracepoint link with the chain (same link, still counting)
    await engine.stop();
    engine = createEngine(config, { chainManager: (roots) => (cm = new ChainManager({ pinRoot: fs.path, roots })) });
    await engine.start();
    assert.deepEqual(tpLinks(), tp, 'the same tracepoint link after the restart, not a second one');
    const [, beforeRestart] = counts(pin1);
    getppid(10);
    assert.ok(counts(pin1)[1] - beforeRestart >= 10n, 'it still counts into the element\'s map');

    // a version change: replaced hitlessly with its maps; the tracepoint is attached anew from the new object, once
    r = await engine.update(xdpBody(hostName(), iface, [prog('2.0.0')]));
    assert.deepEqual(outcomes(r.results), ['xwt:updated (changed: version)']);
    const tp2 = tpLinks();
    assert.equal(tp2.length, 1, 'still one tracepoint link');
    assert.notEqual(tp2[0]?.id, tp[0]?.id, 'the old link is gone, a new one holds the new object\'s program');
    const pin2 = join(fs.path, iface, 'xwt', '2_0_0', 'xwt_counts');
    const [, before2] = counts(pin2);
    assert.ok(before2 >= after1, 'the counts carried over with the map');
    getppid(25);
    assert.ok(counts(pin2)[1] - before2 >= 25n, 'the new tracepoint counts into the new element\'s map');
    tp = tp2;

    // delete: the tracepoint is detached with its package
    r = await engine.delete([{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['xwt'] } }]);
    assert.deepEqual(outcomes(r.results), ['xwt:removed']);
    assert.deepEqual(links().filter((l) => l.prog_id === tp[0]?.progId), [], 'bpftool shows no link of the tracepoint program');
    assert.deepEqual(tpLinks(), []);
    assert.deepEqual(pinsUnder(fs.path), [], 'no pin left');
  } finally {
    await engine.stop({ unload: true });
  }
});
