// Restart without touching the data plane: a chain built by this process is adopted from its pins by a fresh
// child process while traffic flows, the child adds a program, XDP is never re-attached, and no packet skips a
// program. Then this process adopts again, removes an orphan, moves an adopted program, and tears down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { enableStats, queryXdp } from '../../agent/src/bpf/index.ts';
import { ChainManager, ChainProgram, type AdoptReport, type ChainDescription } from '../../agent/src/chain/index.ts';
import { PrivateBpffs, VethLab, skipUnless } from '../harness/index.ts';
import { Counter, capSpec, formatRun, pinsUnder, rootSpecs, underTraffic } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');
const CHILD = fileURLToPath(new URL('./fixtures/adopt-child.ts', import.meta.url));
const ROOT_DIR = fileURLToPath(new URL('../../', import.meta.url));

interface ChildResult { adopted: AdoptReport; after: ChainDescription; adoptMs: number }

function runChild(args: string[]): Promise<ChildResult & { ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`adopt child exited ${code}: ${err.trim()}`));
      try {
        resolve({ ...(JSON.parse(out.trim().split('\n').pop() ?? '') as ChildResult), ms: performance.now() - t0 });
      } catch {
        reject(new Error(`adopt child printed no result: ${out} ${err}`));
      }
    });
  });
}

test('a fresh process adopts the pinned chain under traffic, re-attaching nothing, and extends it', { skip }, async (t) => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using _stats = enableStats();
  const iface = lab.rootIfname;
  const dir = 'xdp_ingress' as const;
  const rootPin = (): string => `${fs.path}/progs/${iface}/xdp-root/latest/xdp_root_xdp`;
  const counters: Counter[] = [];
  const builder = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
  let later: ChainManager | undefined;
  try {
    await builder.insert(iface, dir, capSpec(dir, 'A'));
    await builder.insert(iface, dir, capSpec(dir, 'B'));
    // an element pinned but never linked: what a crash between load and switch leaves behind
    ChainProgram.load(builder.layout, { iface, direction: dir }, capSpec(dir, 'O', '3.1')).close();
    const built = builder.describe(iface, dir);
    builder.close(); // fds released; pins and the attachment stay
    const attachedBefore = queryXdp(iface).progId;
    assert.equal(attachedBefore, built.root.id);

    const A = Counter.of(builder.layout, iface, dir, 'A');
    const B = Counter.of(builder.layout, iface, dir, 'B');
    counters.push(A, B);
    let child: Awaited<ReturnType<typeof runChild>> | undefined;
    let D: Counter | undefined;
    const run = await underTraffic(lab, rootPin, 'child adopts and adds D', async () => {
      child = await runChild([fs.path, iface, dir, 'D']);
    }, [A, B], () => [(D = Counter.of(builder.layout, iface, dir, 'D'))], { count: 400_000, ratePps: 50_000 });
    assert.ok(child && D);
    counters.push(D);
    t.diagnostic(`${formatRun(run)} (child ran ${child.ms.toFixed(0)} ms, adopt ${child.adoptMs.toFixed(1)} ms)`);
    console.log(`adopt: ${formatRun(run)} (child ran ${child.ms.toFixed(0)} ms, adopt ${child.adoptMs.toFixed(1)} ms)`);

    const adopted = child.adopted.chains.find((c) => c.iface === iface && c.direction === dir);
    assert.ok(adopted, 'the child found the chain');
    assert.equal(adopted.root.id, built.root.id);
    assert.deepEqual(adopted.programs.map((p) => [p.name, p.version, p.id, p.linked]), built.programs.map((p) => [p.name, '1_0', p.id, true]),
      'same programs, same ids, versions as their pin segment');
    assert.deepEqual(child.adopted.problems, []);
    assert.deepEqual(child.adopted.orphans.map((o) => [o.name, o.versionSegment, o.reason]), [['O', '3_1', 'no chain reaches it']]);
    assert.deepEqual(child.after.programs.map((p) => p.name), ['A', 'B', 'D']);
    assert.ok(child.after.programs.every((p) => p.linked));
    assert.equal(queryXdp(iface).progId, attachedBefore, 'XDP was never re-attached');

    assert.equal(run.counted['A@1.0'], run.root, 'A counted every packet across the restart');
    assert.equal(run.counted['B@1.0'], run.root, 'B counted every packet across the restart');
    assert.ok((run.counted['D@1.0'] ?? 0n) > 0n && (run.counted['D@1.0'] ?? 0n) < run.root, 'D counted from its insertion on');

    // this process adopts again (now with object files, so adopted programs can be rebuilt)
    later = new ChainManager({ pinRoot: fs.path, roots: rootSpecs() });
    const report = await later.adopt({ objectPathFor: () => capSpec(dir, 'x').objectPath });
    assert.deepEqual(report.chains[0]?.programs.map((p) => p.id), child.after.programs.map((p) => p.id));
    const orphan = report.orphans.find((o) => o.name === 'O');
    assert.ok(orphan);
    assert.ok(orphan.paths.some((p) => p.endsWith('xdp_count_and_pass_xdp')) && orphan.paths.some((p) => p.endsWith('xdp_cap_count')));
    later.removeOrphan(orphan);
    assert.deepEqual(pinsUnder(fs.path).filter((p) => p.includes('/O/')), [], 'the orphan is gone');

    const mgr = later;
    const moved = await underTraffic(lab, rootPin, 'move adopted D to the front', () => mgr.move(iface, dir, 'D', 0), [A, B, D]);
    t.diagnostic(formatRun(moved));
    console.log(`adopt: ${formatRun(moved)}`);
    for (const k of ['A@1.0', 'B@1.0', 'D@1.0']) assert.equal(moved.counted[k], moved.root, `${k} counted every packet`);
    assert.deepEqual(later.describe(iface, dir).programs.map((p) => [p.name, p.linked]), [['D', true], ['A', true], ['B', true]]);
    assert.equal(queryXdp(iface).progId, attachedBefore);

    for (const name of ['A', 'D', 'B']) await later.remove(iface, dir, name);
    assert.equal(queryXdp(iface).attached, 'none');
    assert.deepEqual(pinsUnder(fs.path), []);
  } finally {
    for (const c of counters) c.close();
    if (later) {
      for (const p of [...later.programs(iface, dir)]) await later.remove(iface, dir, p.name).catch(() => undefined);
      later.close();
    }
  }
});
