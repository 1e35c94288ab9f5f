// Issue 14, point 8: the agent's state file and the file system under it. The store is written atomically
// (temporary file, fsync, rename), so the agent itself never leaves it truncated; a file truncated or corrupted
// by something else is met with a clear error that names it, the file kept as it is and the data plane left
// running — and an agent started over such a file starts degraded (REST and /metrics up, 503 naming the file,
// nothing changed in the kernel) until it is fixed; a full file system under the store answers the change with an error naming the store (nothing
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
import { PrivateBpffs, VethLab, run, sendUdp, skipUnless } from '../harness/index.ts';
import { PinLayout } from '../../agent/src/chain/index.ts';
import { Counter } from '../chain/helpers.ts';
import { ROOT, countAndPass, countAndPassRepo, ensurePackages } from '../engine/helpers.ts';
import { UNDER_ATTACK } from '../artifacts/agent-under-attack.ts';
import { startAgent, type AgentProcess } from '../harness/agent-process.ts';

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
  const setup = { ...UNDER_ATTACK, stateDir: join(work, 'state'), pinRoot: bpffs.path, repoUrl: pathToFileURL(join(ROOT, 'programs', 'repo')).href, storeFile };
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

    // restart over a truncated, a corrupt and an empty file: a degraded start. REST and /metrics answer,
    // every read and write is 503 naming the file and its error, the kernel is not touched (same root
    // program, traffic counted by the chain), the file is kept byte for byte.
    const layout = new PinLayout(bpffs.path);
    const counter = new Counter('cp0', layout.mapPath(lab.rootIfname, 'xdp_ingress', 'cp0', 'latest', 'xdp_cap_count'));
    try {
      for (const [what, content, cause] of [
        ['truncated', whole.subarray(0, Math.floor(whole.length / 2)), /not valid JSON/],
        ['corrupt', Buffer.from('[{"iface": 12, "bpf_programs": "nope"}]\n'), /does not hold valid desired state/],
        ['empty', Buffer.alloc(0), /is empty/],
      ] as const) {
        writeFileSync(storeFile, content);
        const t0 = performance.now();
        agent = await startAgent(setup);
        const listeningMs = performance.now() - t0;
        const g0 = performance.now();
        const got = await agent.get();
        const getMs = performance.now() - g0;
        assert.equal(got.status, 503, `${what}: GET answers 503: ${got.text}`);
        const body = JSON.parse(got.text) as { error: string; problems: { path: string; message: string }[] };
        assert.match(body.error, /degraded/, what);
        assert.ok(body.problems.some((p) => p.message.includes(storeFile) && cause.test(p.message)), `${what}: the answer names the file and its error: ${got.text}`);
        assert.equal((await agent.get('/' + lab.rootIfname)).status, 503, `${what}: GET of one interface too`);
        const write = await agent.post('add', add('cp1', 2));
        assert.equal(write.status, 503, `${what}: a write is refused: ${write.text}`);
        assert.match(write.text, new RegExp(storeFile.replace(/[.]/g, '\\.')), `${what}: the write's answer names the file`);
        assert.match(await agent.metrics(), /^l3af_agent_state_store_ok 0$/m, `${what}: the store gauge says 0`);
        const degradedLines = agent.lines.filter((l) => String(l.msg).startsWith('DEGRADED START'));
        assert.equal(degradedLines.length, 1, `${what}: one clear log line`);
        assert.equal(degradedLines[0]?.file, storeFile);
        // the data plane: same root program, and the chain still counts packets
        assert.equal(queryXdp(lab.rootIfname).progId, rootId, `${what}: the data plane is untouched`);
        const before = counter.read();
        const sent = await sendUdp(lab, { port: 9000, count: 200, ratePps: 10_000 });
        const counted = counter.read() - before;
        assert.ok(counted >= BigInt(sent), `${what}: traffic still counted by the chain (${counted} of ${sent})`);
        assert.deepEqual(readFileSync(storeFile), content, `${what}: the file is kept for the operator`);
        console.log(`# point 8 (${what}): degraded start: REST listening ${listeningMs.toFixed(0)} ms after spawn (tsx included), GET answered 503 in ${getMs.toFixed(0)} ms; ${counted}/${sent} packets counted meanwhile`);
        await agent.stop();
        agent = undefined;
        assert.equal(queryXdp(lab.rootIfname).progId, rootId, `${what}: a degraded agent leaves the data plane as it found it`);
      }

      // the operator restores the file: a normal start adopts the chain as it is
      writeFileSync(storeFile, whole);
      agent = await startAgent(setup);
      const normal = await agent.get();
      assert.equal(normal.status, 200, normal.text);
      assert.match(normal.text, /"cp0"/);
      assert.match(await agent.metrics(), /^l3af_agent_state_store_ok 1$/m, 'the store gauge says 1');
      assert.equal(queryXdp(lab.rootIfname).progId, rootId, 'adopted: the same root program');
      assert.equal((await agent.post('add', add('cp1', 2))).status, 200, 'writes work again');
    } finally {
      counter.close();
    }
  } finally {
    await agent?.stop();
  }
});
