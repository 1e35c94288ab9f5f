// Restarting the agent under traffic loses nothing: the agent runs as a child process (main.ts, YAML config, pins
// in a private bpffs, state in a temp dir, REST on 127.0.0.1); ratelimiting (an unlisted-port-only config, so UDP
// passes) and count-and-pass are POSTed for a veth; bounded UDP flows at a steady rate and, while it flows, the
// agent gets SIGTERM and a new one starts on the same config. Afterwards count-and-pass counted every datagram the
// root ran on and every datagram sent (0 lost, 0 skipped), the XDP program attached to the hook never changed (no
// re-attach), every program id is the same, and the new agent's GETs equal the old one's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { enableStats, queryXdp } from '../../agent/src/bpf/index.ts';
import { PinLayout } from '../../agent/src/chain/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, sendUdpReport, skipUnless } from '../harness/index.ts';
import { Counter, rootRuns } from '../chain/helpers.ts';
import { ROOT, StateDir, countAndPass, ensurePackages, ratelimiting, xdpBody } from '../engine/helpers.ts';
import { freePort } from '../harness/net.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

const PACKETS = 1_200_000; // 30 s at RATE_PPS: the new agent (4-7 s from SIGTERM to listening when idle, up to ~15 s on a busy 2-core machine) starts well inside it
const RATE_PPS = 40_000;

/** A TCP port that was free a moment ago on 127.0.0.1. */

/** The agent as a child process: its JSON log lines, its exit, and a wait for a line. */
class Agent {
  readonly lines: Record<string, unknown>[] = [];
  readonly stderr: string[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #buf = '';

  constructor(configFile: string) {
    this.child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'agent', 'src', 'main.ts'), '--config', configFile], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, L3AF_LOG_LEVEL: '' },
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.#buf += chunk;
      let nl: number;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const text = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        try { this.lines.push(JSON.parse(text) as Record<string, unknown>); } catch { this.lines.push({ msg: text }); }
      }
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.stderr.push(chunk));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Resolves when a log line has `msg`; rejects on exit or after `ms`. */
  async waitFor(msg: string, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    let exited = false;
    void this.exited.then(() => { exited = true; });
    while (!this.lines.some((l) => l.msg === msg)) {
      if (exited || Date.now() > deadline) {
        throw new Error(`${exited ? 'agent exited' : 'timed out'} waiting for '${msg}'; stderr: ${this.stderr.join('')}; log: ${JSON.stringify(this.lines.slice(-8))}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

test('restart under traffic: SIGTERM + a new agent while UDP flows, 0 lost, 0 skipped, same ids, same GET', { skip, timeout: 300_000 }, async (t) => {
  ensurePackages();
  await using bpffs = await PrivateBpffs.create();
  await using lab = await VethLab.create();
  using state = new StateDir();
  using _stats = enableStats();
  const iface = lab.rootIfname;
  const port = await freePort();
  const metricsPort = await freePort();
  const configFile = join(state.path, 'agent.yaml');
  writeFileSync(configFile, [
    'l3afd:',
    `  pid-file: ${join(state.path, 'l3afd.pid')}`,
    `  bpf-dir: ${join(state.path, 'packages')}`,
    '  datacenter: test',
    '  bpf-chaining-enabled: true',
    `  BpfMapDefaultPath: ${bpffs.path}`,
    '  environment: DEV',
    'ebpf-repo:',
    `  url: ${pathToFileURL(join(ROOT, 'programs', 'repo')).href}`,
    'l3af-configs:',
    `  restapi-addr: 127.0.0.1:${port}`,
    'web:',
    `  metrics-addr: 127.0.0.1:${metricsPort}`,
    'l3af-config-store:',
    `  filename: ${join(state.path, 'l3af-config.json')}`,
    'mtls:',
    '  enabled: false',
    'l3af:',
    `  state-dir: ${state.path}`,
    '',
  ].join('\n'));
  const base = `http://127.0.0.1:${port}`;
  const getJson = async (path: string): Promise<unknown> => {
    const r = await fetch(`${base}${path}`);
    assert.equal(r.status, 200, `GET ${path}`);
    return r.json();
  };

  const agents: Agent[] = [];
  const counters: Counter[] = [];
  try {
    const first = new Agent(configFile);
    agents.push(first);
    await first.waitFor('REST API listening', 60_000);

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
    let second: Agent | undefined;
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
      second = new Agent(configFile);
      agents.push(second);
      await second.waitFor('REST API listening', 60_000);
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
