// The payloads' `probes` list through the engine on the real kernel: a package with a tracepoint and a libc uprobe
// program (test/probes/fixtures/probe_counters.bpf.c) is attached and counts; an update repeating it is unchanged
// (same links); GET shows it; a restarted engine adopts the pinned links; delete detaches (bpftool shows no link);
// a kprobe package fails with the missing kernel feature named and leaves nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BpfMap, u32, u64 } from '../../agent/src/bpf/index.ts';
import { createEngine, type Engine, type ProgramResult, type ProgramStatus } from '../../agent/src/engine/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { platformName } from '../../agent/src/platform/platform-name.ts';
import type { AddUpdateBody, BpfProgram, NormalizedL3afBpfPrograms } from '../../agent/src/payload/index.ts';
import { writePackage } from '../../programs/repository.ts';
import { ensureTracefs, skipUnless, EngineLab } from '../harness/index.ts';
import { testConfig } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs', 'tracefs');
const FIXTURES = fileURLToPath(new URL('../probes/fixtures/', import.meta.url));
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
let build = '';

before(async () => {
  if (skip) return;
  build = mkdtempSync(join(tmpdir(), `l3af-engine-probes-${process.pid}-`));
  for (const f of ['probe_counters', 'probe_kprobe']) {
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-Wall', '-Werror', `-I/usr/include/${process.arch === 'x64' ? 'x86_64' : 'aarch64'}-linux-gnu`,
      '-c', join(FIXTURES, `${f}.bpf.c`), '-o', join(build, `${f}.bpf.o`)]);
  }
  await ensureTracefs();
});
after(() => {
  if (build) rmSync(build, { recursive: true, force: true });
});

function outcomes(results: readonly ProgramResult[]): string[] {
  return results.map((r) => `${r.name}:${r.outcome}`);
}

/** Kernel link ids of BPF links whose program is `progId` (bpftool). */
function linksOf(progId: number): number[] {
  const all = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' }) || '[]') as Array<{ id: number; prog_id: number }>;
  return all.filter((l) => l.prog_id === progId).map((l) => l.id);
}

/** A python3 process calling getppid() and getpid() `n` times each; returns its pid. */
function traced(n: number): number {
  const out = execFileSync(PYTHON, ['-c', `import os\nfor _ in range(${n}):\n  os.getppid(); os.getpid()\nprint(os.getpid())`], { encoding: 'utf8' });
  return Number(out.trim());
}

function count(pin: string, pid: number): bigint {
  using m = BpfMap.openPinned(pin);
  return m.typed(u32, u64).get(pid) ?? 0n;
}

type Shown = { name: string; status: ProgramStatus };
function probesOf(get: NormalizedL3afBpfPrograms[]): Shown[] {
  return get.flatMap((e) => (e.bpf_programs.probes ?? []) as unknown as Shown[]);
}

test('probes payload: tracepoint + uprobe attached and counting, update unchanged, adopted on restart, delete detaches; kprobe refused', { skip, timeout: 120_000 }, async () => {
  await using bed = await EngineLab.create();
  const { fs, state, iface } = bed;
  const repoDir = join(state.path, 'probe-repo');
  const platform = platformName();
  await writePackage(repoDir, platform, { name: 'counters', artifact: 'l3af_counters.tar.gz', version: '1.0.0', files: [{ source: join(build, 'probe_counters.bpf.o'), name: 'probe_counters.bpf.o' }] });
  await writePackage(repoDir, platform, { name: 'kprobes', artifact: 'l3af_kprobes.tar.gz', version: '1.0.0', files: [{ source: join(build, 'probe_kprobe.bpf.o'), name: 'probe_kprobe.bpf.o' }] });
  const repo = pathToFileURL(repoDir).href;
  const probe = (name: string, artifact: string, object: string, type: string): BpfProgram => ({
    name, seq_id: 1, artifact, version: '1.0.0', admin_status: 'enabled', prog_type: type, object_file: object, ebpf_package_repo_url: repo, cfg_version: 1,
  });
  const counters = probe('counters', 'l3af_counters.tar.gz', 'probe_counters.bpf.o', 'tracepoint');
  const body = (probes: BpfProgram[]): AddUpdateBody => [{ host_name: hostName(), iface, bpf_programs: { probes } }];
  const config = testConfig(fs.path, state.path);
  const maps = join(fs.path, 'probes', 'counters', '1_0_0', 'maps');
  let engine: Engine = createEngine(config);
  let second: Engine | undefined;
  try {
    await engine.start();
    let r = await engine.add(body([counters]));
    assert.deepEqual(outcomes(r.results), ['counters:added']);
    const pid = traced(50);
    assert.ok(count(join(maps, 'tp_counts'), pid) >= 50n, 'the tracepoint counted the getppid calls');
    assert.ok(count(join(maps, 'up_counts'), pid) >= 50n, 'the uprobe counted the libc getpid calls');

    let shown = probesOf(engine.get());
    assert.deepEqual(shown.map((p) => [p.name, p.status.attached]), [['counters', true]], 'GET lists the probe (once, with the interface it came with)');
    const progId = shown[0]?.status.kernel_prog_id as number;
    const links = linksOf(progId);
    assert.equal(links.length, 1, 'one link for that program');

    // update repeating it: unchanged, same links (l3afd would attach it again)
    r = await engine.update(body([counters]));
    assert.deepEqual(outcomes(r.results), ['counters:unchanged']);
    assert.deepEqual(linksOf(progId), links);
    r = await engine.add(body([counters]));
    assert.deepEqual(outcomes(r.results), ['counters:unchanged']);

    // kprobe: a clear error naming the missing feature; nothing stored or attached
    r = await engine.add(body([probe('kprobes', 'l3af_kprobes.tar.gz', 'probe_kprobe.bpf.o', 'kprobe')]));
    assert.deepEqual(outcomes(r.results), ['kprobes:failed']);
    assert.match(r.results[0]?.reason ?? '', /no kprobe support \(CONFIG_KPROBES is off/);
    assert.equal(existsSync(join(fs.path, 'probes', 'kprobes')), false, 'nothing pinned for it');
    assert.deepEqual(probesOf(engine.get()).map((p) => p.name), ['counters']);

    // restart: a second engine adopts the pinned links (no second attach)
    await engine.stop();
    second = createEngine(config);
    engine = second;
    await second.start();
    shown = probesOf(second.get());
    assert.deepEqual(shown.map((p) => [p.name, p.status.attached, p.status.kernel_prog_id]), [['counters', true, progId]], 'adopted');
    assert.deepEqual(linksOf(progId), links, 'the same link, not a second one');

    // delete: detached, unpinned
    r = await second.delete([{ host_name: hostName(), iface, bpf_programs: { probes: ['counters'] } }]);
    assert.deepEqual(outcomes(r.results), ['counters:removed']);
    assert.deepEqual(linksOf(progId), [], 'bpftool shows no link left');
    assert.equal(existsSync(join(fs.path, 'probes', 'counters')), false);
    // as l3afd, the interface stays known (its address, null lists) after its last program goes
    assert.deepEqual(second.get().map((e) => [e.iface, e.bpf_programs]), [[iface, { xdp_ingress: null, tc_ingress: null, tc_egress: null, probes: null }]]);
  } finally {
    await engine.stop({ unload: true });
  }
});
