// l3afctl against a real agent (main.ts as a child) over mTLS, writer and reader certificates made with openssl,
// the metrics endpoint on https with client certificates too ([l3af] metrics-tls = mtls). Every command talks to
// the agent itself: add/update/delete/get/status through the REST API; `events` tails the agent's SSE stream while
// SYNs over the rate cross a veth into ratelimiting; `metrics` summarises the agent's own /metrics; `packages`
// lists GET /l3af/packages (and reads the repository directly only where the answer is a real 404). Exit codes:
// 0 ok, 1 refused/failed programs/short stream, 2 usage or bad input, 3 unreachable, 4 TLS or 403.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { queryXdp, BpfMap, u32, u64 } from '../../agent/src/bpf/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, connectTcp, skipUnless } from '../harness/index.ts';
import { ROOT, StateDir, countAndPass, ensurePackages, ratelimiting, xdpBody } from '../engine/helpers.ts';
import { agentConfig, listening, spawnAgent } from '../harness/agent-process.ts';
import { TestPki } from '../harness/pki.ts';
import { freePort } from '../harness/net.ts';

const skip = await skipUnless('root', 'bpffs', 'netns', 'veth');

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs l3afctl as a separate process; `onStderr` sees its stderr as it arrives. */
function ctl(args: string[], onStderr?: (text: string) => void): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'agent', 'src', 'cli', 'l3afctl.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      onStderr?.(stderr);
    });
    c.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const RATE = 5;
const PORT = 9000 + (process.pid % 500);

test('l3afctl: every command against a running agent over mTLS, with exit codes', { skip, timeout: 300_000 }, async (t) => {
  ensurePackages();
  await using bpffs = await PrivateBpffs.create();
  await using lab = await VethLab.create();
  using state = new StateDir();
  const iface = lab.rootIfname;
  const pki = new TestPki(join(state.path, 'pki'));
  pki.ca('ca');
  pki.ca('other');
  pki.leaf('server', 'ca', ['DNS:localhost', 'IP:127.0.0.1'], 'serverAuth', 90);
  pki.leaf('writer', 'ca', ['DNS:writer.l3af.test'], 'clientAuth');
  pki.leaf('reader', 'ca', ['DNS:reader.l3af.test'], 'clientAuth');
  pki.leaf('foreign', 'other', ['DNS:writer.l3af.test'], 'clientAuth');
  const port = await freePort();
  const mport = await freePort();
  const configFile = agentConfig({
    stateDir: state.path, pinRoot: bpffs.path, port, metricsPort: mport,
    mtls: ['mtls:', '  enabled: true', `  cert-dir: ${pki.dir}`, '  server-cert-filename: server.crt', '  san-match-rules: writer.l3af.test'],
    l3af: ['  mtls-reader-san-match-rules: reader.l3af.test', '  metrics-tls: mtls', '  map-sample-interval: 200ms'],
  });
  const agent = spawnAgent(configFile);
  try {
    await listening(agent);
    const creds = (who: string) => ['--ca', pki.path('ca.pem'), '--cert', pki.path(`${who}.crt`), '--key', pki.path(`${who}.key`)];
    const api = `https://127.0.0.1:${port}`;
    const metricsUrl = `https://127.0.0.1:${mport}/metrics`;
    const W = ['--agent', api, '--metrics', metricsUrl, ...creds('writer')];
    const R = ['--agent', api, '--metrics', metricsUrl, ...creds('reader')];

    // ---- status on an empty agent
    const empty = await ctl([...R, 'status']);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout.trim(), 'no programs');

    // ---- add (payload file) → 0
    const addFile = join(state.path, 'add.json');
    writeFileSync(addFile, JSON.stringify(xdpBody(hostName(), iface, [ratelimiting(1, RATE, [PORT])])));
    const add = await ctl([...W, 'add', addFile]);
    assert.equal(add.code, 0, add.stdout + add.stderr);
    assert.match(add.stdout, /^IFACE\s+DIRECTION\s+PROGRAM\s+OUTCOME\s+REASON$/m);
    assert.match(add.stdout, new RegExp(`^${iface}\\s+xdp_ingress\\s+ratelimiting\\s+added$`, 'm'));
    assert.ok(queryXdp(iface).progId > 0, 'the chain root is attached to the interface');

    // ---- update (payload file): ratelimiting kept, count-and-pass chained after it → 0
    const updFile = join(state.path, 'update.json');
    writeFileSync(updFile, JSON.stringify(xdpBody(hostName(), iface, [ratelimiting(1, RATE, [PORT]), countAndPass('count-and-pass', 2)])));
    const upd = await ctl([...W, 'update', updFile]);
    assert.equal(upd.code, 0, upd.stdout + upd.stderr);
    assert.match(upd.stdout, /^\S+\s+xdp_ingress\s+count-and-pass\s+added$/m);
    assert.match(upd.stdout, /^\S+\s+xdp_ingress\s+ratelimiting\s+unchanged$/m);

    // ---- get (reader's certificate) → 0, l3afd's exact GET shape; with --status, the live status too
    const plain = await ctl([...R, 'get', iface]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.ok(!plain.stdout.includes('"status"'), 'get: l3afd\'s shape, no status');
    const get = await ctl([...R, 'get', '--status', iface]);
    assert.equal(get.code, 0, get.stderr);
    type Got = { iface: string; bpf_programs: { xdp_ingress: { name: string; seq_id: number; status: { kernel_prog_id: number; attached: boolean } }[] } };
    const doc = JSON.parse(get.stdout) as Got;
    assert.equal(doc.iface, iface);
    assert.deepEqual(doc.bpf_programs.xdp_ingress.map((p) => [p.name, p.seq_id, p.status.attached]), [['ratelimiting', 1, true], ['count-and-pass', 2, true]]);
    const ids = doc.bpf_programs.xdp_ingress.map((p) => p.status.kernel_prog_id);
    assert.ok(ids.every((id) => id > 0) && ids[0] !== ids[1]);
    const all = await ctl([...R, '--json', 'get']);
    assert.equal(all.code, 0);
    assert.deepEqual((JSON.parse(all.stdout) as Got[]).map((e) => e.iface), [iface]);

    // ---- status table after the add and update
    const status = await ctl([...R, 'status']);
    assert.equal(status.code, 0, status.stderr);
    const lines = status.stdout.trim().split('\n');
    assert.equal(lines.length, 3, status.stdout);
    assert.match(lines[0] ?? '', /^INTERFACE\s+DIRECTION\s+SEQ\s+PROGRAM\s+VERSION\s+STATUS\s+KERNEL ID\s+RESTARTS$/);
    assert.match(lines[1] ?? '', new RegExp(`^${iface}\\s+xdp_ingress\\s+1\\s+ratelimiting\\s+latest\\s+attached\\s+${ids[0]}\\s+0$`));
    assert.match(lines[2] ?? '', new RegExp(`^${iface}\\s+xdp_ingress\\s+2\\s+count-and-pass\\s+latest\\s+attached\\s+${ids[1]}\\s+0$`));
    const sj = await ctl([...R, '--json', 'status']);
    assert.deepEqual((JSON.parse(sj.stdout) as { program: string; kernelId: string }[]).map((r) => [r.program, r.kernelId]), [['ratelimiting', String(ids[0])], ['count-and-pass', String(ids[1])]]);

    // ---- events: l3afctl follows the agent's SSE stream; SYNs at 8x the rate make ratelimiting drop and report
    const pinDir = join(bpffs.path, iface, 'ratelimiting', 'latest');
    const cfgMap = (): bigint => {
      using m = BpfMap.openPinned(join(pinDir, 'rl_config_map'));
      return m.typed(u32, u64).get(2) ?? -1n;
    };
    const dropCount = (): bigint => {
      using m = BpfMap.openPinned(join(pinDir, 'rl_drop_count_map'));
      return m.typed(u32, u64).get(0) ?? -1n;
    };
    assert.equal(cfgMap(), 0n, 'no listener: the program produces no events');
    let following!: () => void;
    const subscribed = new Promise<void>((resolve) => { following = resolve; });
    const evRun = ctl([...R, 'events', '--iface', iface, '--program', 'ratelimiting', '--count', '6', '--for', '60s'], (err) => {
      if (err.includes('l3afctl: following ')) following();
    });
    await subscribed;
    assert.ok(cfgMap() > 0n, 'a listener turned event production on in the kernel');
    const traffic = await connectTcp(lab, { port: PORT, attempts: 80, ratePerSec: 40, timeoutMs: 300, reset: true });
    t.diagnostic(`traffic: ${traffic.attempted} SYNs at 40/s (rate ${RATE}/s): ${traffic.refused} refused, ${traffic.timedOut} timed out`);
    assert.ok(traffic.timedOut > traffic.attempted / 2, 'most SYNs dropped');
    const ev = await evRun;
    assert.equal(ev.code, 0, ev.stderr);
    const evLines = ev.stdout.trim().split('\n').filter((l) => !l.startsWith('stats\t'));
    assert.equal(evLines.length, 6, ev.stdout);
    const drops = evLines.map((l) => {
      const [type, evIface, program, seq, data] = l.split('\t');
      assert.equal(type, 'ratelimiting.drop');
      assert.equal(evIface, iface);
      assert.equal(program, 'ratelimiting');
      assert.match(seq ?? '', /^#\d+$/);
      return JSON.parse(data ?? '{}') as { drops: number; dport: number; saddr: string; daddr: string; rate: number; family: number };
    });
    assert.ok(drops.every((d) => d.dport === PORT && d.rate === RATE && d.family === 4 && d.saddr === lab.peerAddress && d.daddr === lab.rootAddress), JSON.stringify(drops[0]));
    assert.deepEqual(drops.map((d) => d.drops), drops.map((_d, i) => (drops[0]?.drops ?? 0) + i), 'consecutive kernel drop counts');
    const kernelDrops = dropCount();
    assert.ok(kernelDrops >= 6n && BigInt(drops[5]?.drops ?? 0) <= kernelDrops);
    // --json: one object per event, type included
    const evJsonRun = ctl([...R, '--json', 'events', '--iface', iface, '--count', '2', '--for', '60s'], (err) => {
      if (err.includes('l3afctl: following ')) void connectTcp(lab, { port: PORT, attempts: 40, ratePerSec: 40, timeoutMs: 300, reset: true });
    });
    const evJson = await evJsonRun;
    assert.equal(evJson.code, 0, evJson.stderr);
    const objs = evJson.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; iface: string; data: { dport: number } }).filter((o) => o.type !== 'stats');
    assert.equal(objs.length, 2);
    assert.ok(objs.every((o) => o.type === 'ratelimiting.drop' && o.iface === iface && o.data.dport === PORT));
    // bounded without traffic: --for alone ends 0; --count not reached within --for → 1
    const quiet = await ctl([...R, 'events', '--iface', iface, '--for', '700ms']);
    assert.equal(quiet.code, 0, quiet.stderr);
    const short = await ctl([...R, 'events', '--iface', iface, '--count', '1000', '--for', '1s']);
    assert.equal(short.code, 1);
    assert.match(short.stderr, /events: \d+ of 1000 events within --for 1000 ms/);
    const [zero, soon, badName] = await Promise.all([ctl([...R, 'events', '--count', '0']), ctl([...R, 'events', '--for', 'soon']), ctl([...R, 'events', '--iface', 'a b'])]);
    assert.equal(zero?.code, 2);
    assert.match(zero?.stderr ?? '', /--count 0: a positive integer/);
    assert.equal(soon?.code, 2);
    assert.match(soon?.stderr ?? '', /--for soon: a duration/);
    assert.equal(badName?.code, 1);
    assert.match(badName?.stderr ?? '', /answered 400: query iface/);

    // ---- metrics: the agent's own /metrics over https with the reader's certificate
    let m: Run | undefined;
    let mapDrops = -1;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      m = await ctl([...R, '--json', 'metrics']);
      assert.equal(m.code, 0, m.stderr);
      const sum = JSON.parse(m.stdout) as { programs: { program: string; maps: { map: string; aggregator: string; value: number }[] }[] };
      mapDrops = sum.programs.find((p) => p.program === 'ratelimiting')?.maps.find((x) => x.map === 'rl_drop_count_map')?.value ?? -1;
      if (BigInt(mapDrops) === dropCount()) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(BigInt(mapDrops), dropCount(), 'the summary shows the kernel drop counter');
    const mt = await ctl([...R, 'metrics']);
    assert.equal(mt.code, 0, mt.stderr);
    assert.match(mt.stdout, new RegExp(`^${metricsUrl.replace(/[./]/g, '\\$&')}: \\d+ metric families, \\d+ samples \\(\\d+ l3af families\\), 2 programs$`, 'm'));
    assert.match(mt.stdout, /^INTERFACE\s+DIRECTION\s+PROGRAM\s+VERSION\s+RUNNING\s+STARTS\s+STOPS\s+UPDATES\s+FAILURES\s+RUNS$/m);
    assert.match(mt.stdout, new RegExp(`^${iface}\\s+xdp_ingress\\s+ratelimiting\\s+latest\\s+yes\\s+1\\s+0\\s+0\\s+0\\s+\\S+$`, 'm'));
    assert.match(mt.stdout, new RegExp(`^${iface}\\s+xdp_ingress\\s+count-and-pass\\s+latest\\s+yes\\s+1\\s+0\\s+0\\s+0\\s+\\S+$`, 'm'));
    assert.match(mt.stdout, new RegExp(`^${iface}\\s+ratelimiting\\s+rl_drop_count_map\\s+0\\s+scalar\\s+${dropCount()}$`, 'm'));
    assert.match(mt.stdout, new RegExp(`^${iface}\\s+ratelimiting\\s+rl_recv_count_map\\s+0\\s+max-rate\\s+[\\d.]+$`, 'm'));
    const fam = await ctl([...R, 'metrics', '--families']);
    assert.match(fam.stdout, /^l3af_program_starts_total\s+counter\s+2\s+2$/m);
    // the metrics endpoint wants a client certificate too
    const mNoCert = await ctl(['--metrics', metricsUrl, '--ca', pki.path('ca.pem'), 'metrics']);
    assert.equal(mNoCert.code, 4, mNoCert.stderr);

    // ---- packages through GET /l3af/packages
    const pk = await ctl([...R, 'packages']);
    assert.equal(pk.code, 0, pk.stderr);
    assert.match(pk.stdout, /^file:\/\/\S+\/programs\/repo \(through https:\/\/127\.0\.0\.1:\d+\): \d+ packages for platform \S+$/m);
    assert.match(pk.stdout, /^NAME\s+VERSION\s+PLATFORM\s+ARTIFACT\s+SHA256$/m);
    assert.match(pk.stdout, /^ratelimiting\s+latest\s+\S+\s+l3af_ratelimiting\.tar\.gz\s+[0-9a-f]{12}…$/m);
    const pkAll = JSON.parse((await ctl([...R, '--json', 'packages', '--platform', 'all'])).stdout) as { platform: string; packages: { name: string; sha256?: string }[] };
    assert.equal(pkAll.platform, 'all');
    assert.deepEqual([...new Set(pkAll.packages.map((p) => p.name))].sort(), ['count-and-pass', 'ratelimiting', 'tc-root', 'xdp-root']);
    assert.ok(pkAll.packages.every((p) => /^[0-9a-f]{64}$/.test(p.sha256 ?? '')));
    assert.equal((await ctl([...R, 'packages', '--platform', 'no/such'])).code, 1, 'the agent refuses a malformed platform');
    // a real 404 (the agent's metrics listener has no package listing): read the config's repository directly
    const asMetrics = ['--agent', `https://127.0.0.1:${mport}`, ...creds('reader')];
    const noList = await ctl([...asMetrics, 'packages']);
    assert.equal(noList.code, 2);
    assert.match(noList.stderr, /no package listing \(GET \/l3af\/packages: 404\): pass --repo/);
    const direct = JSON.parse((await ctl([...asMetrics, '--json', 'packages', '--config', configFile, '--platform', 'all'])).stdout) as { packages: { name: string }[] };
    assert.deepEqual(direct.packages.map((p) => p.name), pkAll.packages.map((p) => p.name));

    const delFile = join(state.path, 'delete.json');
    writeFileSync(delFile, JSON.stringify([{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['ratelimiting'] } }]));

    // ---- 1: processed but failed, and refused payloads
    const badFile = join(state.path, 'bad.json');
    writeFileSync(badFile, JSON.stringify(xdpBody(hostName(), iface, [ratelimiting(1, RATE, [PORT]), countAndPass('count-and-pass', 2), countAndPass('no-such-package', 3)])));
    const failed = await ctl([...W, 'update', badFile]);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stdout, /no-such-package\s+failed/);
    assert.match(failed.stderr, /some programs failed/);
    writeFileSync(badFile, JSON.stringify([{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: [{ name: 'x' }] } }]));
    const invalid = await ctl([...W, 'add', badFile]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /answered 400: invalid request\n\s+\/0\/bpf_programs\/xdp_ingress\/0/);

    // ---- 2: bad input files and usage
    writeFileSync(badFile, '{ not json');
    const notJson = await ctl([...W, 'add', badFile]);
    assert.equal(notJson.code, 2);
    assert.match(notJson.stderr, /not JSON/);
    const usage = await Promise.all([
      ctl([...W, 'add', join(state.path, 'absent.json')]), ctl([...W, 'delete', '--iface', iface]), ctl([...W, 'delete', delFile, '--iface', iface]),
      ctl([...W, 'frobnicate']), ctl(['--agent', 'not a url', 'status']), ctl(['--agent', api, '--ca', join(state.path, 'absent.pem'), 'status']),
    ]);
    assert.deepEqual(usage.map((u) => u.code), [2, 2, 2, 2, 2, 2], usage.map((u) => u.stderr).join(''));
    assert.match(usage[0]?.stderr ?? '', /absent\.json: cannot read \(ENOENT\)/);
    assert.match(usage[1]?.stderr ?? '', /delete: give a payload file, or --iface and --name/);
    assert.match(usage[5]?.stderr ?? '', /--ca \S+absent\.pem: ENOENT/);

    // ---- 4: a read-only client writing (403), no client certificate, another CA, an untrusted agent
    const [readerAdd, readerDelete, noCert, foreign, untrusted] = await Promise.all([
      ctl([...R, 'add', addFile]),
      ctl([...R, 'delete', '--iface', iface, '--name', 'ratelimiting']),
      ctl(['--agent', api, '--ca', pki.path('ca.pem'), 'get']),
      ctl(['--agent', api, '--ca', pki.path('ca.pem'), '--cert', pki.path('foreign.crt'), '--key', pki.path('foreign.key'), 'get']),
      ctl(['--agent', api, '--ca', pki.path('other.pem'), ...creds('writer').slice(2), 'get']),
    ]);
    assert.equal(readerAdd?.code, 4);
    assert.match(readerAdd?.stderr ?? '', /answered 403: forbidden\n.*read-only/);
    assert.equal(readerDelete?.code, 4);
    assert.match(readerDelete?.stderr ?? '', /delete: the agent answered 403/);
    assert.equal(noCert?.code, 4);
    assert.match(noCert?.stderr ?? '', /TLS with 127\.0\.0\.1:\d+ failed: .*pass --cert and --key/);
    assert.equal(foreign?.code, 4, foreign?.stderr);
    assert.equal(untrusted?.code, 4);
    assert.match(untrusted?.stderr ?? '', /not trusted: pass --ca/);

    // ---- delete: by flags, then by a payload file → 0; the table is empty and XDP detached
    const del = await ctl([...W, 'delete', '--iface', iface, '--direction', 'xdp_ingress', '--name', 'count-and-pass']);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /count-and-pass\s+removed/);
    const del2 = await ctl([...W, 'delete', delFile]);
    assert.equal(del2.code, 0, del2.stderr);
    assert.match(del2.stdout, /ratelimiting\s+removed/);
    assert.equal((await ctl([...R, 'status'])).stdout.trim(), 'no programs');
    assert.equal(queryXdp(iface).progId, 0, 'nothing left attached');

    // ---- 3: the agent stopped
    agent.child.kill('SIGTERM');
    assert.equal((await agent.exited).code, 0);
    const gone = await ctl([...W, 'status']);
    assert.equal(gone.code, 3);
    assert.match(gone.stderr, /cannot reach https:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    assert.equal((await ctl([...R, 'metrics'])).code, 3);
    assert.equal((await ctl([...R, 'events', '--for', '1s'])).code, 3);
  } finally {
    await agent.kill();
  }
});
