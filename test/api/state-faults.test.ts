// Issue 14, point 8: the agent's state file and the file system under it. The store is written atomically
// (temporary file, fsync, rename), so the agent itself never leaves it truncated; a file truncated or corrupted
// by something else is met with a clear error that names it, the file kept as it is and the data plane left
// running; a full file system under the store answers the change with an error naming the store (nothing
// acknowledged is lost: the file still holds the last acknowledged state), while the agent keeps answering GET
// and the programs it runs stay attached.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { queryXdp } from '../../agent/src/bpf/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, run, skipUnless } from '../harness/index.ts';
import { ROOT, countAndPass, countAndPassRepo, ensurePackages } from '../engine/helpers.ts';
import { startAgent, type AgentProcess } from '../artifacts/agent-under-attack.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

let work = '';
let extraRepo = '';
let storeDir = '';
let bpffs: PrivateBpffs;
let lab: VethLab;
let mounted = false;

before(async () => {
  if (skip) return;
  ensurePackages();
  work = mkdtempSync(join(tmpdir(), `l3af-state-${process.pid}-`));
  extraRepo = countAndPassRepo(work, ['cp0', 'cp1', 'cp2']);
  storeDir = join(work, 'store');
  mkdirSync(storeDir);
  // a 256 KiB tmpfs under the store: small enough to fill
  await run('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'l3af-test-store', storeDir]);
  mounted = true;
  bpffs = await PrivateBpffs.create();
  lab = await VethLab.create();
  mkdirSync(join(work, 'state'));
});

after(async () => {
  if (skip) return;
  await lab?.[Symbol.asyncDispose]();
  await bpffs?.[Symbol.asyncDispose]();
  if (mounted) await run('umount', [storeDir]);
  rmSync(work, { recursive: true, force: true });
});

function add(name: string, seq: number): unknown {
  return [{ host_name: hostName(), iface: lab.rootIfname, bpf_programs: { xdp_ingress: [countAndPass(name, seq, { ebpf_package_repo_url: extraRepo })] } }];
}

test('8: full file system under the store, then a truncated and a corrupt store file', { skip, timeout: 180_000 }, async () => {
  const storeFile = join(storeDir, 'l3af-config.json');
  const setup = { stateDir: join(work, 'state'), pinRoot: bpffs.path, repoUrl: pathToFileURL(join(ROOT, 'programs', 'repo')).href, storeFile };
  let agent: AgentProcess | undefined = await startAgent(setup);
  try {
    const first = await agent.post('add', add('cp0', 1));
    assert.equal(first.status, 200, first.text);
    const acknowledged = readFileSync(storeFile, 'utf8');
    assert.match(acknowledged, /"cp0"/);
    const rootId = queryXdp(lab.rootIfname).progId;
    assert.ok(rootId > 0);

    // fill the file system (dd stops at ENOSPC)
    await run('dd', ['if=/dev/zero', `of=${join(storeDir, 'filler')}`, 'bs=4k']).catch(() => undefined);
    const full = await agent.post('add', add('cp1', 2));
    console.log(`# point 8 (full fs): add answered ${full.status}: ${full.text.slice(0, 200)}`);
    assert.notEqual(full.status, 200, 'a change that could not be stored is not acknowledged');
    assert.match(full.text, /config store .*l3af-config\.json.*(ENOSPC|no space)/i, 'the error names the store and the cause');
    assert.equal(readFileSync(storeFile, 'utf8'), acknowledged, 'the store still holds the last acknowledged state');
    const t0 = performance.now();
    assert.equal((await agent.get()).status, 200, 'GET answers');
    const getMs = performance.now() - t0;
    assert.equal(queryXdp(lab.rootIfname).progId, rootId, 'the XDP chain stays attached (same root program)');
    assert.ok(agent.alive, agent.death);
    assert.ok(!agent.lines.some((l) => String(l.msg).includes('unexpected error')), 'handled where it happened, not by the process guard');

    // space again: the next change is stored whole
    rmSync(join(storeDir, 'filler'));
    const again = await agent.post('add', add('cp2', 3));
    assert.equal(again.status, 200, again.text);
    const stored = JSON.parse(readFileSync(storeFile, 'utf8')) as unknown[];
    assert.equal(stored.length, 1, 'a valid store again');
    console.log(`# point 8: GET during the full file system answered in ${getMs.toFixed(0)} ms`);

    // something else truncates the file while the agent runs: the running agent is not affected
    const whole = readFileSync(storeFile);
    writeFileSync(storeFile, whole.subarray(0, Math.floor(whole.length / 2)));
    assert.equal((await agent.get()).status, 200);
    await agent.stop();
    agent = undefined;
    assert.equal(queryXdp(lab.rootIfname).progId, rootId, 'the data plane outlives the agent');

    // restart over the truncated file, then over a corrupt one: refused with a clear error, file and data plane kept
    for (const [what, content] of [['truncated', whole.subarray(0, Math.floor(whole.length / 2))], ['corrupt', Buffer.from('[{"iface": 12, "bpf_programs": "nope"}]\n')]] as const) {
      writeFileSync(storeFile, content);
      const failed = await startAgent(setup).then((a) => { agent = a; return undefined; }, (e: unknown) => e as Error);
      assert.ok(failed instanceof Error, `${what}: the agent refuses to start over an unreadable store`);
      assert.match(failed.message, new RegExp(`config store ${storeFile.replace(/[.]/g, '\\.')}`), `${what}: the error names the file: ${failed.message.slice(0, 400)}`);
      assert.deepEqual(readFileSync(storeFile), content, `${what}: the file is kept for the operator`);
      assert.equal(queryXdp(lab.rootIfname).progId, rootId, `${what}: the data plane is untouched`);
    }
  } finally {
    await agent?.stop();
  }
});
