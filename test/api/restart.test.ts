// Restarting the agent under traffic loses nothing: the agent runs as a child process (main.ts, YAML config, pins
// in a private bpffs, state in a temp dir, REST on 127.0.0.1); ratelimiting (an unlisted-port-only config, so UDP
// passes) and count-and-pass are POSTed for a veth; bounded UDP flows at a steady rate and, while it flows, the
// agent gets SIGTERM and a new one starts on the same config. Afterwards count-and-pass counted every datagram the
// root ran on and every datagram sent (0 lost, 0 skipped), the XDP program attached to the hook never changed (no
// re-attach), every program id is the same, and the new agent's GETs equal the old one's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { enableStats, queryXdp } from '../../agent/src/bpf/index.ts';
import { PinLayout } from '../../agent/src/chain/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, sendUdpReport, skipUnless } from '../harness/index.ts';
import { Counter, rootRuns } from '../chain/helpers.ts';
import { StateDir, countAndPass, ensurePackages, ratelimiting, xdpBody } from '../engine/helpers.ts';
import { freePort } from '../harness/net.ts';
import { agentConfig, listening, spawnAgent, type AgentProcess } from '../harness/agent-process.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

const PACKETS = 1_200_000; // 30 s at RATE_PPS: the new agent (4-7 s from SIGTERM to listening when idle, up to ~15 s on a busy 2-core machine) starts well inside it
const RATE_PPS = 40_000;

test('restart under traffic: SIGTERM + a new agent while UDP flows, 0 lost, 0 skipped, same ids, same GET', { skip, timeout: 300_000 }, async (t) => {
  ensurePackages();
  await using bpffs = await PrivateBpffs.create();
  await using lab = await VethLab.create();
  using state = new StateDir();
  using _stats = enableStats();
  const iface = lab.rootIfname;
  const port = await freePort();
  const metricsPort = await freePort();
  const configFile = agentConfig({ stateDir: state.path, pinRoot: bpffs.path, port, metricsPort, logLevel: null });
  const base = `http://127.0.0.1:${port}`;
  const getJson = async (path: string): Promise<unknown> => {
    const r = await fetch(`${base}${path}`);
    assert.equal(r.status, 200, `GET ${path}`);
    return r.json();
  };

  const agents: AgentProcess[] = [];
  const counters: Counter[] = [];
  try {
    const first = spawnAgent(configFile);
    agents.push(first);
    await listening(first);

    // root → ratelimiting (limits TCP SYNs to port 8080 only) → count-and-pass
    const post = async (programs: Parameters<typeof xdpBody>[2]): Promise<void> => {
      const res = await fetch(`${base}/l3af/configs/v1/add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(xdpBody(hostName(), iface, programs)) });
      assert.equal(res.status, 200, await res.text());
    };
    await post([ratelimiting(1, 2, [8080])]);
    await post([countAndPass('count-and-pass', 2)]);

    const layout = new PinLayout(bpffs.path);
    const rootPin = layout.programPath(iface, 'xdp_ingress', 'xdp-root', 'latest', 'xdp_root');
    const cap = new Counter('count-and-pass', layout.mapPath(iface, 'xdp_ingress', 'count-and-pass', 'latest', 'xdp_cap_count'));
    counters.push(cap);
    const xdpId = queryXdp(iface).progId;
    assert.ok(xdpId > 0, 'the XDP root is attached');
    const chainsBefore = await getJson(`/l3af/chains/${iface}`);
    const getBefore = await getJson('/l3af/configs/v1');
    const ifaceBefore = await getJson(`/l3af/configs/v1/${iface}`);

    // steady UDP; the hook is watched throughout
    const root0 = rootRuns(rootPin);
    const cap0 = cap.read();
    const hookIds = new Set<number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        hookIds.add(queryXdp(iface).progId);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const sender = sendUdpReport(lab, { port: 9000, count: PACKETS, ratePps: RATE_PPS, maxMs: Math.ceil((PACKETS / RATE_PPS) * 1000) + 30_000 });
    let atTerm = 0n, atReady = 0n, restartMs = 0, stopMs = 0;
    let second: AgentProcess | undefined;
    try {
      const deadline = Date.now() + 15_000;
      while (rootRuns(rootPin) - root0 < BigInt(PACKETS / 10)) {
        if (Date.now() > deadline) throw new Error('traffic did not start');
        await new Promise((r) => setTimeout(r, 5));
      }
      atTerm = rootRuns(rootPin) - root0;
      const t0 = performance.now();
      first.child.kill('SIGTERM');
      const exit = await first.exited;
      stopMs = performance.now() - t0;
      assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${first.stderr.join('')}`);
      second = spawnAgent(configFile);
      agents.push(second);
      await listening(second);
      restartMs = performance.now() - t0;
      atReady = rootRuns(rootPin) - root0;
    } finally {
      const report = await sender;
      watching = false;
      await watcher;
      assert.equal(report.failed, 0, `sender errors: ${report.firstError}`);
      await new Promise((r) => setTimeout(r, 200));
      const root = rootRuns(rootPin) - root0;
      const counted = cap.read() - cap0;
      t.diagnostic(`restart under traffic: sent=${report.sent} root=${root} counted=${counted} lost=${report.sent - Number(counted)} `
        + `SIGTERM at ${atTerm} packets, new agent listening at ${atReady} packets; stop ${stopMs.toFixed(0)} ms, SIGTERM→new agent listening ${restartMs.toFixed(0)} ms; `
        + `sender ${report.elapsedMs} ms; xdp prog id ${xdpId} → ${[...hookIds].join(',')}`);
      assert.equal(report.sent, PACKETS, 'every datagram was sent');
      assert.equal(root, BigInt(report.sent), 'the root ran on every datagram sent');
      assert.equal(counted, root, 'count-and-pass counted every datagram the root saw: 0 skipped, 0 lost');
    }
    assert.ok(atTerm > 0n && atReady < BigInt(PACKETS), `the restart happened while traffic flowed (SIGTERM at ${atTerm}, ready at ${atReady} of ${PACKETS})`);
    assert.deepEqual([...hookIds], [xdpId], 'the XDP hook ran the same root throughout: never detached or re-attached');
    assert.equal(queryXdp(iface).progId, xdpId);

    // the new agent adopted the same kernel programs and answers as the old one did
    const chainsAfter = await getJson(`/l3af/chains/${iface}`);
    const ids = (doc: unknown): string => {
      const c = (doc as { chains: { root: { name: string; kernel_prog_id: number }; programs: { name: string; kernel_prog_id: number }[] }[] }).chains[0];
      return c ? [c.root, ...c.programs].map((e) => `${e.name}#${e.kernel_prog_id}`).join(' → ') : '(none)';
    };
    t.diagnostic(`program ids before: ${ids(chainsBefore)}; after: ${ids(chainsAfter)}`);
    assert.deepEqual(chainsAfter, chainsBefore, 'same chain: every kernel program id and link the same');
    assert.deepEqual(await getJson('/l3af/configs/v1'), getBefore, 'GET from the new agent equals GET from the old one');
    assert.deepEqual(await getJson(`/l3af/configs/v1/${iface}`), ifaceBefore);
    assert.ok(second?.lines.some((l) => l.msg === 'chain adopted'), 'the new agent adopted the chain');

    second?.child.kill('SIGTERM');
    assert.deepEqual(await second?.exited, { code: 0, signal: null });
  } finally {
    for (const c of counters) c.close();
    for (const a of agents) await a.kill();
  }
});
