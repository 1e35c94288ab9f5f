// Tests of the shared kernel-test harness itself, on the real kernel: labs, bpffs, tracefs, traffic, cleanup.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  BPF_FS_MAGIC, CommandError, PrivateBpffs, TRACEFS_PATH, VethLab, connectTcp, ensureTracefs, kernelFeature,
  linkNames, listenTcp, mountsAt, netnsNames, receiveUdp, requireRoot, run, sendUdp, sendUdpReport, skipUnless,
  undisposedResources, withBpffs, withVethLab,
} from './index.ts';

const CHILD = fileURLToPath(new URL('./fixtures/child.ts', import.meta.url));
const labSkip = await skipUnless('root', 'netns', 'veth');
const bpffsSkip = await skipUnless('root', 'bpffs');

/** Names this process's labs use, to look for leftovers. */
const nsPrefix = `l3af-lab-${process.pid}-`;
const ifPrefix = `lh${process.pid.toString(36)}`;

async function assertNoLabLeftovers(): Promise<void> {
  assert.deepEqual((await netnsNames()).filter((n) => n.startsWith(nsPrefix)), [], 'namespaces left behind');
  assert.deepEqual((await linkNames()).filter((n) => n.startsWith(ifPrefix)), [], 'links left behind');
}

/** Whether `pid` is a running process (a zombie waiting for a slow reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function eventually(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 2_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs fixtures/child.ts through tsx; `prefix` (e.g. setpriv) runs it as another user; `onLine` sees stdout lines. */
function runChild(mode: string, opts: { prefix?: string[]; onLine?: (line: string, kill: (s: NodeJS.Signals) => void) => void } = {}): Promise<ChildRun> {
  const [cmd, ...pre] = opts.prefix ?? [];
  const argv = [process.execPath, '--import', 'tsx', CHILD, mode];
  const child = cmd === undefined ? spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(cmd, [...pre, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (d.includes('\n')) opts.onLine?.(stdout.split('\n')[0]!, (s) => child.kill(s));
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child ${mode} did not finish in 20 s: ${stderr}`));
    }, 20_000);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('skip reasons', () => {
  test('unknown feature is a clear error; answers are cached per process', async () => {
    await assert.rejects(kernelFeature('nope' as 'root'), /unknown kernel feature "nope"/);
    assert.equal(kernelFeature('btf'), kernelFeature('btf'));
  });

  test('as root every feature is detected as present (by trying it)', { skip: requireRoot() }, async () => {
    for (const f of ['root', 'bpffs', 'netns', 'veth', 'tracefs', 'btf'] as const) {
      assert.equal(await kernelFeature(f), undefined, `${f} should be available on this machine`);
    }
    const calls: unknown[] = [];
    assert.equal(requireRoot({ skip: (m) => calls.push(m) }), undefined);
    assert.deepEqual(calls, []);
  });

  test('as an unprivileged user the reasons name what is missing', { skip: requireRoot() }, async () => {
    const res = await runChild('features', { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'] });
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as Record<string, string | undefined>;
    assert.match(out.requireRoot ?? '', /needs root \(running as uid 65534\)/);
    assert.equal(out.skipCalledWith, out.requireRoot, 'requireRoot(t) passes its reason to t.skip');
    for (const f of ['root', 'bpffs', 'netns', 'veth']) assert.match(out[f] ?? '', /needs root/, f);
    assert.equal(out.btf, undefined, 'BTF is readable without root');
  });
});

describe('private bpffs', { skip: bpffsSkip }, () => {
  test('mounts a bpffs of its own and removes it on dispose', async () => {
    const a = await PrivateBpffs.create();
    const b = await PrivateBpffs.create();
    try {
      assert.notEqual(a.path, b.path);
      assert.deepEqual(mountsAt(a.path).map((m) => m.fstype), ['bpf']);
      assert.equal(statfsSync(a.path).type, BPF_FS_MAGIC);
      await mkdir(a.join('dir'));
      assert.ok((await readdir(a.path)).includes('dir'));
      assert.ok(!(await readdir(b.path)).includes('dir'), 'two mounts are separate bpffs instances');
      assert.throws(() => a.join('..', 'escape'), /is not inside/);
    } finally {
      await a.dispose();
      await b.dispose();
    }
    for (const fs of [a, b]) {
      assert.deepEqual(mountsAt(fs.path), []);
      assert.equal(existsSync(fs.path), false);
    }
    await a.dispose(); // idempotent
  });

  test('withBpffs unmounts when the body throws', async () => {
    let path = '';
    await assert.rejects(withBpffs(async (fs) => {
      path = fs.path;
      await mkdir(fs.join('pins'));
      throw new Error('body failed');
    }), /body failed/);
    assert.notEqual(path, '');
    assert.deepEqual(mountsAt(path), []);
    assert.equal(existsSync(path), false);
  });
});

test('tracefs is mounted once and left mounted', { skip: await skipUnless('root', 'tracefs') }, async () => {
  assert.equal(await ensureTracefs(), TRACEFS_PATH);
  const before = mountsAt(TRACEFS_PATH).length;
  assert.equal(await ensureTracefs(), TRACEFS_PATH);
  assert.equal(mountsAt(TRACEFS_PATH).length, before);
  assert.ok(mountsAt(TRACEFS_PATH).some((m) => m.fstype === 'tracefs'));
  assert.ok(existsSync(`${TRACEFS_PATH}/events/syscalls`) || existsSync(`${TRACEFS_PATH}/events/sched`));
});

describe('veth lab', { skip: labSkip }, () => {
  test('comes up with unique names, its own /30, carrier, no IPv6 and static neighbours', async () => {
    await using a = await VethLab.create();
    await using b = await VethLab.create();
    for (const lab of [a, b]) {
      assert.ok(lab.rootIfname.length <= 15 && lab.peerIfname.length <= 15);
      assert.equal(readFileSync(`/sys/class/net/${lab.rootIfname}/ifindex`, 'utf8').trim(), String(lab.ifindex));
      assert.equal(readFileSync(`/sys/class/net/${lab.rootIfname}/operstate`, 'utf8').trim(), 'up');
      const root = lab.rootAddress.split('.').map(Number);
      const peer = lab.peerAddress.split('.').map(Number);
      assert.equal(root[0], 10);
      assert.ok(root[1]! >= 240 && root[1]! <= 255, `${lab.rootAddress} inside 10.240.0.0/12`);
      assert.equal(root[3]! % 4, 1);
      assert.deepEqual(peer.slice(0, 3), root.slice(0, 3));
      assert.equal(peer[3], root[3]! + 1);
      const inside = JSON.parse((await lab.exec('ip', ['-j', 'addr', 'show', 'dev', lab.peerIfname])).stdout) as
        Array<{ ifindex: number; address: string; operstate: string; addr_info: Array<{ family: string; local: string }> }>;
      assert.equal(inside[0]?.ifindex, lab.peerIfindex);
      assert.equal(inside[0]?.address, lab.peerMac);
      assert.equal(readFileSync(`/sys/class/net/${lab.rootIfname}/address`, 'utf8').trim(), lab.rootMac);
      assert.equal(inside[0]?.operstate, 'UP');
      assert.deepEqual(inside[0]?.addr_info.map((x) => `${x.family} ${x.local}`), [`inet ${lab.peerAddress}`]);
      assert.equal(lab.ipv6Disabled, true);
      assert.equal(readFileSync(`/proc/sys/net/ipv6/conf/${lab.rootIfname}/disable_ipv6`, 'utf8').trim(), '1');
      assert.equal((await lab.exec('cat', [`/proc/sys/net/ipv6/conf/${lab.peerIfname}/disable_ipv6`])).stdout.trim(), '1');
      assert.match((await run('ip', ['neigh', 'show', 'dev', lab.rootIfname])).stdout, new RegExp(`${lab.peerAddress} lladdr ${lab.peerMac} PERMANENT`));
    }
    assert.notEqual(a.rootIfname, b.rootIfname);
    assert.notEqual(a.netns, b.netns);
    assert.notEqual(a.rootAddress.split('.').slice(0, 3).join() + (Number(a.rootAddress.split('.')[3]) >> 2),
      b.rootAddress.split('.').slice(0, 3).join() + (Number(b.rootAddress.split('.')[3]) >> 2), 'separate /30s');
  });

  test('UDP from the namespace arrives at a root-side socket; the link carries nothing else', async () => {
    await using lab = await VethLab.create();
    await using rx = await receiveUdp(lab);
    const rxPackets = (): number => Number(readFileSync(`/sys/class/net/${lab.rootIfname}/statistics/rx_packets`, 'utf8'));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rxPackets(), 0, 'an idle lab link carries no ARP/ND noise');
    const sent = await sendUdp(lab, { port: rx.port, count: 1000, size: 100 });
    assert.equal(sent, 1000);
    await eventually('all datagrams counted by the root-side veth', () => rxPackets() >= sent);
    assert.equal(rxPackets(), sent, 'the link saw exactly the datagrams sent, nothing else');
    const got = await rx.waitQuiet(200, 3_000);
    assert.ok(got > 0 && got <= sent, `received ${got} of ${sent}`);
    assert.equal(rx.bytes, got * 100);
  });

  test('UDP sending is paced and bounded by time', async () => {
    await using lab = await VethLab.create();
    await using rx = await receiveUdp(lab);
    const paced = await sendUdpReport(lab, { port: rx.port, count: 50, ratePps: 500 });
    assert.equal(paced.sent, 50);
    assert.ok(paced.elapsedMs >= 95 && paced.elapsedMs < 1_000, `50 at 500/s took ${paced.elapsedMs} ms`);
    const bounded = await sendUdpReport(lab, { port: rx.port, count: 10_000_000, ratePps: 1_000, maxMs: 300 });
    assert.ok(bounded.sent > 200 && bounded.sent <= 301, `sent ${bounded.sent} in a 300 ms bound`);
    assert.ok(bounded.elapsedMs < 1_000);
    await assert.rejects(sendUdp(lab, { port: 0, count: 1 }), /port must be an integer in \[1, 65535\]/);
    await assert.rejects(sendUdp(lab, { port: 9, count: 1, maxMs: 600_000 }), /maxMs/);
  });

  test('TCP connects are counted by the listener and bucketed per second', async () => {
    await using lab = await VethLab.create();
    await using listener = await listenTcp(lab);
    const r = await connectTcp(lab, { port: listener.port, attempts: 25, ratePerSec: 20 });
    assert.equal(r.attempted, 25);
    assert.equal(r.connected, 25);
    assert.equal(r.refused + r.timedOut + r.failed, 0);
    assert.equal(await listener.waitForAccepted(25), 25);
    assert.equal(r.perSecond.reduce((s, x) => s + x, 0), 25);
    assert.equal(r.perSecond.length, 2, `perSecond ${JSON.stringify(r.perSecond)}`);
    // Attempt i starts at i * 50 ms: 20 fall in second 0, 5 in second 1 (allow one for scheduling jitter).
    assert.ok(Math.abs(r.perSecond[0]! - 20) <= 1, `perSecond ${JSON.stringify(r.perSecond)}`);
    assert.deepEqual(r.attemptedPerSecond.reduce((s, x) => s + x, 0), 25);
    assert.equal(r.connectMs.length, 25);
  });

  test('TCP refused and timed-out attempts are told apart', async () => {
    await using lab = await VethLab.create();
    const l = await listenTcp(lab);
    const closedPort = l.port; // a port nobody listens on once the listener is closed
    await l.close();
    const refused = await connectTcp(lab, { port: closedPort, attempts: 10, ratePerSec: 1_000 });
    assert.deepEqual([refused.connected, refused.refused, refused.timedOut], [0, 10, 0]);
    // With the receiving end down, SYNs vanish: every attempt times out.
    await run('ip', ['link', 'set', 'dev', lab.rootIfname, 'down']);
    const lost = await connectTcp(lab, { port: closedPort, attempts: 5, ratePerSec: 1_000, timeoutMs: 300 });
    assert.deepEqual([lost.connected, lost.refused, lost.timedOut], [0, 0, 5]);
  });

  test('dispose removes namespace, veth and processes; a failing body still cleans up', async () => {
    const lab = await VethLab.create();
    const sleeper = lab.spawn('sleep', ['30'], { stdio: 'ignore' });
    await eventually('sleeper started', () => sleeper.pid !== undefined && alive(sleeper.pid));
    const exited = new Promise((r) => sleeper.once('exit', (_c, s) => r(s)));
    assert.ok((await netnsNames()).includes(lab.netns));
    await lab.dispose();
    assert.equal(await exited, 'SIGKILL');
    assert.ok(!(await netnsNames()).includes(lab.netns));
    assert.ok(!(await linkNames()).includes(lab.rootIfname));
    assert.equal(existsSync(`/run/netns/${lab.netns}`), false);
    assert.throws(() => lab.spawn('true'), /has been disposed/);
    await lab.dispose(); // idempotent

    let seen = '';
    await assert.rejects(withVethLab(async (l) => {
      seen = l.netns;
      await sendUdp(l, { port: 9, count: 10 });
      throw new Error('test body failed');
    }), /test body failed/);
    assert.ok(!(await netnsNames()).includes(seen));
    await assertNoLabLeftovers();
    assert.deepEqual(undisposedResources(), []);
  });

  test('a failure half-way through creation removes what was created', async () => {
    // MTU 1 passes validation but the kernel refuses it when the veth is created, after the namespace exists.
    await assert.rejects(VethLab.create({ mtu: 1 }),
      (err: unknown) => err instanceof CommandError && /Invalid argument \(in "ip link add .* mtu 1 /.test(err.message));
    await assertNoLabLeftovers();
    await assert.rejects(VethLab.create({ mtu: 1.5 }), /mtu must be a positive integer/);
    assert.deepEqual(undisposedResources(), []);
  });
});

describe('exit-time cleanup of resources never disposed', { skip: labSkip ?? bpffsSkip, concurrency: true }, () => {
  for (const mode of ['leak-exit', 'leak-throw', 'leak-signal'] as const) {
    test(mode, async () => {
      const res = await runChild(mode, { onLine: (_line, kill) => { if (mode === 'leak-signal') kill('SIGTERM'); } });
      const first = res.stdout.split('\n')[0] ?? '';
      assert.ok(first.startsWith('{'), `child printed nothing: ${res.stderr}`);
      const left = JSON.parse(first) as { netns: string; ifname: string; bpffs: string; sleeperPid: number };
      if (mode === 'leak-exit') assert.equal(res.code, 0, res.stderr);
      if (mode === 'leak-throw') assert.match(res.stderr, /deliberate uncaught error/);
      if (mode === 'leak-signal') assert.equal(res.signal, 'SIGTERM', 'the default action of the signal is kept');
      assert.ok(!(await netnsNames()).includes(left.netns), `${left.netns} left behind`);
      assert.ok(!(await linkNames()).includes(left.ifname), `${left.ifname} left behind`);
      assert.deepEqual(mountsAt(left.bpffs), []);
      assert.equal(existsSync(left.bpffs), false);
      await eventually('sleeper in the namespace killed', () => !alive(left.sleeperPid));
    });
  }
});
