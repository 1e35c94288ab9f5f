// PUT /l3af/configs/{version}/restart on a running agent under UDP traffic: the agent hands over to the build
// installed at <basepath>/v1.0.1 (a symlink to this checkout); the new process (another pid) adopts the pinned
// data plane without re-attaching (same XDP program id) and serves the API; 0 packets are lost (kernel counters:
// root runs = datagrams sent = count-and-pass counts). A broken build (v1.0.2) fails the hand-over and the running
// agent serves again; wrong host, a version over the limit or not installed are 400s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { enableStats, queryXdp } from '../../agent/src/bpf/index.ts';
import { PinLayout } from '../../agent/src/chain/index.ts';
import { parseRecord, startTimeOf } from '../../agent/src/instance/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, skipUnless } from '../harness/index.ts';
import { Counter, formatRun, underTraffic } from '../chain/helpers.ts';
import { ROOT, StateDir, countAndPass, ensurePackages, xdpBody } from '../engine/helpers.ts';
import { agentConfig, listening, spawnAgent } from '../harness/agent-process.ts';
import { freePort } from '../harness/net.ts';

const skip = await skipUnless('root', 'bpffs', 'netns', 'veth');

/** One JSON request on a fresh connection (no keep-alive across processes). */
function call(port: number, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host: '127.0.0.1', port, method, path, agent: false,
      headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

const alive = (pid: number): boolean => startTimeOf(pid) !== undefined;

test('restart hands over to an installed build under traffic: same XDP program, new pid, 0 lost; a broken build rolls back', { skip, timeout: 240_000 }, async (t) => {
  ensurePackages();
  await using bpffs = await PrivateBpffs.create();
  await using lab = await VethLab.create();
  using state = new StateDir();
  using _stats = enableStats();
  const iface = lab.rootIfname;
  const basepath = join(state.path, 'builds');
  mkdirSync(join(basepath, 'v1.0.2'), { recursive: true });
  symlinkSync(ROOT, join(basepath, 'v1.0.1'));
  const broken = join(basepath, 'v1.0.2', 'l3af-agent');
  writeFileSync(broken, '#!/bin/sh\necho "this build is broken" >&2\nexit 3\n');
  chmodSync(broken, 0o755);
  const port = await freePort();
  const metricsPort = await freePort();
  const pidFile = join(state.path, 'l3afd.pid');
  const cfg = agentConfig({ stateDir: state.path, pinRoot: bpffs.path, port, metricsPort, pidFile,
    extra: ['graceful-restart:', `  basepath: ${basepath}`, '  time-to-restart: 60', '  version-limit: 100'] });
  const old = spawnAgent(cfg);
  let newPid = 0;
  const counters: Counter[] = [];
  try {
    await listening(old);
    const oldPid = old.child.pid ?? 0;
    const add = await call(port, 'POST', '/l3af/configs/v1/add', xdpBody(hostName(), iface, [countAndPass('count-and-pass', 1)]));
    assert.equal(add.status, 200, JSON.stringify(add.json));
    const L = new PinLayout(bpffs.path);
    const rootPin = (): string => L.programPath(iface, 'xdp_ingress', 'xdp-root', 'latest', 'xdp_root');
    const cap = new Counter('count-and-pass', L.mapPath(iface, 'xdp_ingress', 'count-and-pass', 'latest', 'xdp_cap_count'));
    counters.push(cap);
    const xdpBefore = queryXdp(iface).progId;
    const progOf = async (): Promise<number> => {
      const g = await call(port, 'GET', `/l3af/configs/v1/${iface}?status=true`);
      return ((g.json.bpf_programs as { xdp_ingress: { status: { kernel_prog_id: number } }[] }).xdp_ingress[0]?.status.kernel_prog_id) ?? 0;
    };
    const capBefore = await progOf();
    assert.ok(xdpBefore > 0 && capBefore > 0);

    // refusals first: nothing changes
    const wrongHost = await call(port, 'PUT', '/l3af/configs/v1/restart', { hostname: `not-${hostName()}`, version: 'v1.0.1' });
    assert.equal(wrongHost.status, 400);
    assert.match(JSON.stringify(wrongHost.json), /is not this host/);
    const overLimit = await call(port, 'PUT', '/l3af/configs/v1/restart', { hostname: hostName(), version: 'v1.0.101' });
    assert.equal(overLimit.status, 400);
    assert.match(JSON.stringify(overLimit.json), /version-limit \(100\)/);
    const missing = await call(port, 'PUT', '/l3af/configs/v1/restart', { hostname: hostName(), version: 'v9.9.9' });
    assert.equal(missing.status, 400);
    assert.match(JSON.stringify(missing.json), /no build of v9\.9\.9 is installed/);

    let answer: { status: number; json: Record<string, unknown> } | undefined;
    const run = await underTraffic(lab, rootPin, 'restart hand-over to v1.0.1', async () => {
      answer = await call(port, 'PUT', '/l3af/configs/v1/restart', { hostname: hostName(), version: 'v1.0.1' });
    }, [cap], () => [], { count: 600_000, ratePps: 20_000 }); // 30 s of traffic: a hand-over on a busy 2-core machine takes up to ~15 s
    assert.equal(answer?.status, 200, JSON.stringify(answer?.json));
    newPid = Number(answer?.json.pid);
    assert.ok(newPid > 0 && newPid !== oldPid, 'another process');
    assert.deepEqual(await old.exited, { code: 0, signal: null }, 'the old agent left with 0');
    const info = await call(port, 'GET', '/l3af/agent');
    assert.equal(info.json.pid, newPid, 'the API answers from the new process');
    assert.equal(info.json.handedOverFrom, oldPid);
    assert.equal(parseRecord(readFileSync(pidFile, 'utf8'), pidFile)?.pid, newPid, 'the PID file names the new process');
    assert.equal(queryXdp(iface).progId, xdpBefore, 'XDP root not re-attached');
    assert.equal(await progOf(), capBefore, 'count-and-pass adopted, not reloaded');
    assert.equal(BigInt(run.sent), run.root, 'the root saw every datagram sent');
    assert.equal(run.counted['count-and-pass'], run.root, 'count-and-pass counted every packet: 0 lost');
    // API unavailability: from the old listener's close to the new one listening (pino `time`, ms)
    const closed = old.lines.find((l) => l.pid === oldPid && /^hand-over: closing the listener/.test(String(l.msg)));
    const reopened = old.lines.find((l) => l.pid === newPid && l.msg === 'REST API listening');
    assert.ok(closed && reopened, 'both log lines seen (the new build logs to the same stdout)');
    const gapMs = Date.parse(String(reopened.time)) - Date.parse(String(closed.time));
    t.diagnostic(`${formatRun(run)} (op = the restart request, to its 200); REST API not listening for ${gapMs} ms; old pid ${oldPid} -> new pid ${newPid}`);

    // a broken build: 500, the running agent serves again, data plane untouched
    const fail = await call(port, 'PUT', '/l3af/configs/v1/restart', { hostname: hostName(), version: 'v1.0.2' });
    assert.equal(fail.status, 500);
    assert.match(JSON.stringify(fail.json), /exited \(3\) before it was ready.*serves again/);
    assert.equal((await call(port, 'GET', '/l3af/agent')).json.pid, newPid);
    assert.equal(parseRecord(readFileSync(pidFile, 'utf8'), pidFile)?.pid, newPid, 'the PID file is back');
    assert.equal(queryXdp(iface).progId, xdpBefore);
    const after = await call(port, 'POST', '/l3af/configs/v1/delete', [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['count-and-pass'] } }]);
    assert.equal(after.status, 200, 'writes work after the rollback');
    // the metrics made again after the failed hand-over count the audit log on (the delete just recorded)
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /^l3af_audit_entries_total\{route="delete",outcome="ok"\} 1$/m, 'l3af_audit_entries_total after the rollback');

    process.kill(newPid, 'SIGTERM');
    for (let i = 0; i < 200 && alive(newPid); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(alive(newPid), false, 'the new agent stopped on SIGTERM');
  } finally {
    for (const c of counters) c.close();
    // the new build runs detached and shares the old one's stdout: if an assertion failed before its pid
    // was known, find it through the PID file, or the old agent's pipe never closes and this test hangs
    if (newPid === 0 && existsSync(pidFile)) newPid = parseRecord(readFileSync(pidFile, 'utf8'), pidFile)?.pid ?? 0;
    if (newPid > 0 && newPid !== old.child.pid && alive(newPid)) process.kill(newPid, 'SIGKILL');
    await old.kill();
  }
});
