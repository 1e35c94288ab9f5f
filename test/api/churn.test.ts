// Issue 14, points 6 and 7: the agent (main.ts, a child process over a private bpffs) under concurrent and
// repeated changes. 200 concurrent add/update/delete requests over two interfaces are serialised (no 5xx, GET
// equals what the kernel holds: every program GET reports is the one pinned, by id, per bpftool), and after
// deleting everything no program pin is left and no program seen is still loaded. 500 add/delete cycles bring
// open fds, pins and loaded programs back to the baseline and RSS within a stated bound of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, run, skipUnless } from '../harness/index.ts';
import { ROOT, countAndPass, countAndPassRepo, ensurePackages } from '../engine/helpers.ts';
import { UNDER_ATTACK } from '../artifacts/agent-under-attack.ts';
import { startAgent, type AgentProcess } from '../harness/agent-process.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

const NAMES = ['cp0', 'cp1', 'cp2', 'cp3'];
/** RSS bound after 500 cycles: within this of the baseline (KiB). */
const RSS_DRIFT_KIB = 64 * 1024;

let work = '';
let extraRepo = '';
let bpffs: PrivateBpffs;
let labA: VethLab;
let labB: VethLab;
let agent: AgentProcess;

interface Listed { name: string; status?: { kernel_prog_id?: number } }

function prog(name: string, seq: number): ReturnType<typeof countAndPass> {
  return countAndPass(name, seq, { ebpf_package_repo_url: extraRepo });
}

/** The programs GET reports on `iface`'s XDP chain. */
async function listed(iface: string): Promise<Listed[]> {
  const r = await agent.get(`/${iface}?status=true`);
  if (r.status === 404) return [];
  assert.equal(r.status, 200, r.text);
  return ((JSON.parse(r.text) as { bpf_programs: { xdp_ingress?: Listed[] | null } }).bpf_programs.xdp_ingress ?? []);
}

/** Program pins of `iface` (name → pin file), from the bpffs. */
function pinnedPrograms(iface: string): Map<string, string> {
  const out = new Map<string, string>();
  const dir = join(bpffs.path, 'progs', iface);
  let names: string[] = [];
  try { names = readdirSync(dir); } catch { return out; }
  for (const n of names) {
    for (const v of readdirSync(join(dir, n))) for (const f of readdirSync(join(dir, n, v))) out.set(n, join(dir, n, v, f));
  }
  return out;
}

/** Id of a pinned program, per bpftool. */
async function pinnedId(path: string): Promise<number> {
  const r = await run('bpftool', ['-j', 'prog', 'show', 'pinned', path]);
  return (JSON.parse(r.stdout) as { id: number }).id;
}

/** True while program `id` is loaded, per bpftool. */
async function loaded(id: number): Promise<boolean> {
  try {
    await run('bpftool', ['-j', 'prog', 'show', 'id', String(id)]);
    return true;
  } catch {
    return false;
  }
}

/** Every file under the bpffs (pins). */
function allPins(): string[] {
  return readdirSync(bpffs.path, { recursive: true }).map(String).sort();
}

/** GET == kernel on `iface`: each listed program is the pinned one (same id, loaded); no other program pin. Returns the ids. */
async function checkGetEqualsKernel(iface: string): Promise<number[]> {
  const got = await listed(iface);
  const pins = pinnedPrograms(iface);
  for (const n of [...pins.keys()]) if (!NAMES.includes(n)) pins.delete(n); // the root program
  assert.deepEqual([...pins.keys()].sort(), got.map((p) => p.name).sort(), `${iface}: GET lists exactly the pinned programs`);
  const ids: number[] = [];
  for (const p of got) {
    const id = await pinnedId(pins.get(p.name) as string);
    assert.equal(p.status?.kernel_prog_id, id, `${iface}/${p.name}: GET's program id is the pinned one`);
    assert.ok(await loaded(id));
    ids.push(id);
  }
  return ids;
}

before(async () => {
  if (skip) return;
  ensurePackages();
  work = mkdtempSync(join(tmpdir(), `l3af-churn-${process.pid}-`));
  extraRepo = countAndPassRepo(work, NAMES);
  bpffs = await PrivateBpffs.create();
  labA = await VethLab.create();
  labB = await VethLab.create();
  mkdirSync(join(work, 'state'));
  agent = await startAgent({ ...UNDER_ATTACK, stateDir: join(work, 'state'), pinRoot: bpffs.path, repoUrl: pathToFileURL(join(ROOT, 'programs', 'repo')).href });
});

after(async () => {
  if (skip) return;
  await agent?.stop();
  await labB?.[Symbol.asyncDispose]();
  await labA?.[Symbol.asyncDispose]();
  await bpffs?.[Symbol.asyncDispose]();
  rmSync(work, { recursive: true, force: true });
});

test('6: 200 concurrent add/update/delete over two interfaces are serialised; GET == kernel; nothing left after deleting all', { skip, timeout: 300_000 }, async () => {
  const ifaces = [labA.rootIfname, labB.rootIfname];
  let seed = 14;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const ops: Promise<{ status: number; text: string }>[] = [];
  const t0 = Date.now();
  for (let i = 0; i < 200; i++) {
    const iface = ifaces[i % 2] as string;
    const k = rnd(3);
    if (k === 0) {
      const n = rnd(NAMES.length);
      ops.push(agent.post('add', [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: [prog(NAMES[n] as string, n + 1)] } }]));
    } else if (k === 1) {
      const keep = NAMES.map((name, n) => ({ name, n })).filter(() => rnd(2) === 0);
      ops.push(agent.post('update', [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: keep.map(({ name, n }) => prog(name, n + 1)) } }]));
    } else {
      ops.push(agent.post('delete', [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: [NAMES[rnd(NAMES.length)] as string] } }]));
    }
  }
  const answers = await Promise.all(ops);
  const statuses = new Map<number, number>();
  for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
  console.log(`# point 6: 200 concurrent requests answered in ${Date.now() - t0} ms: ${JSON.stringify(Object.fromEntries(statuses))}`);
  for (const a of answers) assert.ok(a.status === 200 || a.status === 422, `no 5xx: ${a.status} ${a.text}`);
  assert.ok(agent.alive, agent.death);
  const seen: number[] = [];
  for (const iface of ifaces) seen.push(...await checkGetEqualsKernel(iface));
  // delete everything
  for (const iface of ifaces) {
    const r = await agent.post('update', [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: [] } }]);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await listed(iface), []);
    assert.deepEqual([...pinnedPrograms(iface).keys()].filter((n) => NAMES.includes(n)), [], `${iface}: no program pin left`);
  }
  assert.ok(!allPins().some((p) => NAMES.some((n) => p.split('/').includes(n))), `no pin (program or map) of a deleted program: ${allPins().join(', ')}`);
  for (const id of seen) assert.equal(await loaded(id), false, `program ${id} unloaded after deleting all`);
});

test('7: 500 add/delete cycles: open fds (not counting sockets), pins and loaded programs back to the baseline, RSS within 64 MiB of it', { skip, timeout: 600_000 }, async () => {
  const iface = labA.rootIfname;
  const add = [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: [prog('cp0', 1)] } }];
  const del = [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['cp0'] } }];
  const cycle = async (): Promise<void> => {
    const a = await agent.post('add', add);
    assert.equal(a.status, 200, a.text);
    const d = await agent.post('delete', del);
    assert.equal(d.status, 200, d.text);
  };
  for (let i = 0; i < 20; i++) await cycle(); // warm-up: caches, JIT, first package extraction
  const sysProgs = async (): Promise<number> => (JSON.parse((await run('bpftool', ['-j', 'prog', 'show'])).stdout) as unknown[]).length;
  const sysMaps = async (): Promise<number> => (JSON.parse((await run('bpftool', ['-j', 'map', 'show'])).stdout) as unknown[]).length;
  const base = { rss: agent.statusKiB('VmRSS'), fds: agent.openFds(), pins: allPins(), progs: await sysProgs(), maps: await sysMaps() };
  const ids: number[] = [];
  const mapIds: number[] = [];
  const t0 = Date.now();
  for (let i = 0; i < 500; i++) {
    const a = await agent.post('add', add);
    assert.equal(a.status, 200, a.text);
    if (i % 50 === 0) {
      const now = (await listed(iface)).map((p) => p.status?.kernel_prog_id ?? 0);
      ids.push(...now);
      for (const id of now) mapIds.push(...((JSON.parse((await run('bpftool', ['-j', 'prog', 'show', 'id', String(id)])).stdout) as { map_ids?: number[] }).map_ids ?? []));
    }
    const d = await agent.post('delete', del);
    assert.equal(d.status, 200, d.text);
  }
  const ms = Date.now() - t0;
  const now = { rss: agent.statusKiB('VmRSS'), fds: agent.openFds(), pins: allPins(), progs: await sysProgs(), maps: await sysMaps() };
  console.log(`# point 7: 500 cycles in ${ms} ms; RSS ${base.rss >> 10} -> ${now.rss >> 10} MiB (peak ${agent.statusKiB('VmHWM') >> 10}); fds ${base.fds} -> ${now.fds}; pins ${base.pins.length} -> ${now.pins.length}; system-wide programs ${base.progs} -> ${now.progs}, maps ${base.maps} -> ${now.maps} (other processes included)`);
  assert.deepEqual(now.pins, base.pins, 'the bpffs holds the same pins');
  assert.ok(now.fds <= base.fds + 2, `open fds ${base.fds} -> ${now.fds}`);
  for (const id of ids) assert.equal(await loaded(id), false, `program ${id} of a deleted instance is unloaded`);
  // maps of the deleted instances: reported, not asserted (a prog-array leak in chain/ is fixed elsewhere)
  const stillThere: number[] = [];
  for (const id of mapIds) if (await run('bpftool', ['-j', 'map', 'show', 'id', String(id)]).then(() => true, () => false)) stillThere.push(id);
  console.log(`# point 7: maps of deleted instances still in the kernel: ${stillThere.length} of ${mapIds.length} sampled (${stillThere.join(', ')})`);
  assert.ok(now.rss <= base.rss + RSS_DRIFT_KIB, `RSS ${base.rss} -> ${now.rss} KiB`);
  assert.ok(agent.alive, agent.death);
});
