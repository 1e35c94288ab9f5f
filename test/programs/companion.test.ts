// The ratelimiting companion (programs/companion/ratelimiting.ts) on the real kernel: a chain
// xdp_root → ratelimiting → count_and_pass on a veth, linked once by the companion and once by the kernel
// layer directly, verified with BPF counters and run statistics; the companion unlinks itself and removes
// its pins on SIGTERM; bad arguments exit 2 with a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BpfMap, BpfObject, BpfProgram, ProgArray, attachXdp, detachXdp, enableStats, u16, u32, u64, u8,
} from '../../agent/src/bpf/index.ts';
import { PrivateBpffs, VethLab, connectTcp, listenTcp, sendUdpReport, skipUnless } from '../harness/index.ts';
import { programObject } from './frames.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');
const COMPANION = fileURLToPath(new URL('../../programs/companion/ratelimiting.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const RATE = 10;

function load(name: string): BpfObject {
  const obj = BpfObject.open(programObject(name));
  try {
    obj.load();
  } catch (err) {
    obj.close();
    throw err;
  }
  return obj;
}

function startCompanion(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', COMPANION, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves when the child prints `ready`; rejects with its stderr if it exits first or takes too long. */
function waitReady(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`companion not ready after ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`companion exited with ${code} before ready: ${err}`));
    });
  });
}

function waitExit(child: ChildProcess, timeoutMs = 10_000): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('companion did not exit')), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Runs the companion to completion; resolves with its exit code and stderr. */
async function runCompanion(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = startCompanion(args);
  let stderr = '';
  let stdout = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await waitExit(child, 25_000);
  clearTimeout(timer);
  return { code, stderr, stdout };
}

interface Chain {
  rootProg: BpfProgram;
  rootArray: BpfMap;
  rlRecv: BpfMap;
  rlDrop: BpfMap;
  rlConfig: BpfMap;
  rlPorts: BpfMap;
  capCount: BpfMap;
}

const get0 = (m: BpfMap): bigint => m.typed(u32, u64).get(0) ?? -1n;
const cap0 = (m: BpfMap): bigint => m.typed(u32, u64).sumPerCpu(0) ?? -1n;

/**
 * Sends UDP, then TCP connection attempts above the rate to the listed port, and checks the counters of the
 * chain: every packet reaches the root (run count), every packet the limiter did not drop reaches
 * count_and_pass, every attempt is one candidate SYN, and the drops are exactly the attempts that did not
 * connect.
 */
async function verifyChain(t: { diagnostic(msg: string): void }, lab: VethLab, c: Chain, port: number, listener: Awaited<ReturnType<typeof listenTcp>>): Promise<void> {
  assert.equal(c.rlConfig.typed(u32, u64).get(0), BigInt(RATE), 'rate written');
  assert.deepEqual(c.rlPorts.typed(u16, u8).entries(), [[port, 1]], 'ports written');
  using _stats = enableStats();
  const runs = (): bigint => c.rootProg.info().runCount;

  // UDP: not a candidate, so every datagram passes ratelimiting and is counted by count_and_pass.
  const r0 = runs(), cap0Before = cap0(c.capCount), recv0 = get0(c.rlRecv);
  const udp = await sendUdpReport(lab, { port: 9, count: 500, ratePps: 5_000 });
  assert.equal(udp.failed, 0, `udp sender: ${udp.firstError}`);
  assert.equal(runs() - r0, BigInt(udp.sent), 'root ran once per datagram');
  assert.equal(cap0(c.capCount) - cap0Before, BigInt(udp.sent), 'count_and_pass counted every datagram exactly');
  assert.equal(get0(c.rlRecv) - recv0, 0n, 'UDP is not a candidate');

  // TCP above the rate: 60 attempts in 0.5 s against a rate of 10/s.
  const r1 = runs(), cap1 = cap0(c.capCount), recv1 = get0(c.rlRecv), drop1 = get0(c.rlDrop);
  const tcp = await connectTcp(lab, { port, attempts: 60, ratePerSec: 120, timeoutMs: 500, reset: true });
  assert.equal(tcp.refused + tcp.failed, 0, `tcp client: ${tcp.firstError}`);
  assert.equal(await listener.waitForAccepted(tcp.connected), tcp.connected, 'the listener accepted what the client connected');
  // Let the closing segments (RST/FIN answers) cross before reading counters.
  await new Promise((r) => setTimeout(r, 300));
  const recv = get0(c.rlRecv) - recv1, drop = get0(c.rlDrop) - drop1;
  const root = runs() - r1, cap = cap0(c.capCount) - cap1;
  t.diagnostic(`attempts ${tcp.attempted}, connected ${tcp.connected}, rl recv ${recv}, rl drop ${drop}, root runs ${root}, count_and_pass ${cap}`);
  assert.ok(tcp.connected > 0 && tcp.connected < tcp.attempted, `the limit applied: ${tcp.connected}/${tcp.attempted}`);
  assert.equal(recv, BigInt(tcp.attempted), 'one candidate SYN per attempt (timeout < SYN retransmit)');
  assert.equal(drop, BigInt(tcp.attempted - tcp.connected), 'drops = attempts that did not connect');
  assert.equal(cap, root - drop, 'count_and_pass saw every packet that was not dropped');
  assert.equal(drop + (recv - drop), BigInt(tcp.attempted), 'dropped SYNs + SYNs passed down the chain = attempts');
}

test('companion links ratelimiting after xdp_root, count_and_pass follows it, SIGTERM unlinks and unpins', { skip, timeout: 60_000 }, async (t) => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  await using listener = await listenTcp(lab);
  using root = load('xdp_root');
  using cap = load('count_and_pass');
  const rootPin = fs.join('xdp_root_array');
  root.map('xdp_root_array').pin(rootPin);
  const pinDir = fs.join(lab.rootIfname, 'ratelimiting', 'latest');
  const logDir = mkdtempSync(join(tmpdir(), 'l3af-companion-log-'));
  t.after(() => rmSync(logDir, { recursive: true, force: true }));
  attachXdp({ iface: lab.rootIfname, program: root.program('xdp_root'), mode: 'drv', expectedOld: null });
  let child: ChildProcess | undefined;
  try {
    // Both `--flag=value` and `--flag value` forms, as L3AF's payloads use either.
    // l3afd's contract also passes --log-dir and --rules-file to every user program
    child = startCompanion([`--iface=${lab.rootIfname}`, '--rate', String(RATE), `--ports=${listener.port}`,
      '--map-name', rootPin, '--direction=xdpingress', '--verbose=1', `--pin-dir=${pinDir}`,
      `--log-dir=${logDir}`, `--rules-file=${join(logDir, 'unused.rules')}`]);
    await waitReady(child);
    const pins = readdirSync(pinDir).sort();
    assert.deepEqual(pins, ['rl_config_map', 'rl_drop_count_map', 'rl_events', 'rl_ports_map', 'rl_recv_count_map', 'rl_window_map', 'xdp_rl_ingress_next_prog']);

    const rootArray = new ProgArray(root.map('xdp_root_array'));
    const rlId = rootArray.get(0);
    assert.ok(rlId !== undefined, 'the companion linked a program into the root array');
    using rlProg = BpfProgram.fromId(rlId);
    using rlConfig = BpfMap.openPinned(`${pinDir}/rl_config_map`);
    using rlPorts = BpfMap.openPinned(`${pinDir}/rl_ports_map`);
    using rlRecv = BpfMap.openPinned(`${pinDir}/rl_recv_count_map`);
    using rlDrop = BpfMap.openPinned(`${pinDir}/rl_drop_count_map`);
    using next = BpfMap.openPinned(`${pinDir}/xdp_rl_ingress_next_prog`);
    assert.equal(rlProg.info().type, 'xdp');
    assert.ok('_xdp_ratelimiting'.startsWith(rlProg.info().name), `root slot holds ratelimiting, got ${rlProg.info().name}`);
    for (const m of [rlConfig, rlRecv, rlDrop, next]) assert.ok(rlProg.info().mapIds.includes(m.info().id), `${m.name} pinned is the program's own`);

    new ProgArray(next).set(0, cap.program('xdp_count_and_pass'));
    await verifyChain(t, lab, { rootProg: root.program('xdp_root'), rootArray: root.map('xdp_root_array'), rlRecv, rlDrop, rlConfig, rlPorts, capCount: cap.map('xdp_cap_count') }, listener.port, listener);

    child.kill('SIGTERM');
    assert.equal(await waitExit(child), 0, 'clean exit on SIGTERM');
    const logged = readFileSync(join(logDir, 'ratelimiting.log'), 'utf8');
    assert.match(logged, /linked program \d+ into slot 0/, 'log lines land in --log-dir');
    assert.match(logged, /unlinked from/);
    assert.equal(rootArray.get(0), undefined, 'slot 0 of the root array is empty again');
    assert.equal(existsSync(pinDir) ? readdirSync(pinDir).length : 0, 0, 'its pins are gone');

    // The chain is back to the root alone: traffic passes and no longer reaches count_and_pass.
    const before = cap0(cap.map('xdp_cap_count'));
    const udp = await sendUdpReport(lab, { port: 9, count: 100, ratePps: 5_000 });
    assert.equal(udp.failed, 0);
    assert.equal(cap0(cap.map('xdp_cap_count')), before, 'nothing reaches the unlinked programs');
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await waitExit(child).catch(() => undefined);
    }
    detachXdp({ iface: lab.rootIfname });
  }
});

test('the same chain linked by the kernel layer directly passes the same checks', { skip, timeout: 30_000 }, async (t) => {
  await using lab = await VethLab.create();
  await using listener = await listenTcp(lab);
  using root = load('xdp_root');
  using rl = load('ratelimiting');
  using cap = load('count_and_pass');
  rl.map('rl_config_map').typed(u32, u64).set(0, BigInt(RATE));
  rl.map('rl_ports_map').typed(u16, u8).set(listener.port, 1);
  new ProgArray(rl.map('xdp_rl_ingress_next_prog')).set(0, cap.program('xdp_count_and_pass'));
  new ProgArray(root.map('xdp_root_array')).set(0, rl.program('_xdp_ratelimiting'));
  attachXdp({ iface: lab.rootIfname, program: root.program('xdp_root'), mode: 'drv', expectedOld: null });
  try {
    assert.equal(new ProgArray(root.map('xdp_root_array')).get(0), rl.program('_xdp_ratelimiting').id);
    await verifyChain(t, lab, {
      rootProg: root.program('xdp_root'), rootArray: root.map('xdp_root_array'),
      rlRecv: rl.map('rl_recv_count_map'), rlDrop: rl.map('rl_drop_count_map'), rlConfig: rl.map('rl_config_map'),
      rlPorts: rl.map('rl_ports_map'), capCount: cap.map('xdp_cap_count'),
    }, listener.port, listener);
  } finally {
    detachXdp({ iface: lab.rootIfname });
  }
});

test('companion: bad arguments and missing prerequisites exit 2 with a message, changing nothing', { skip, timeout: 60_000 }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using root = load('xdp_root');
  using cap = load('count_and_pass');
  const rootPin = fs.join('xdp_root_array');
  root.map('xdp_root_array').pin(rootPin);
  const notProgArray = fs.join('xdp_cap_count');
  cap.map('xdp_cap_count').pin(notProgArray);
  const pinDir = fs.join('rl');
  const base = { iface: `--iface=${lab.rootIfname}`, rate: '--rate=5', ports: '--ports=80,8080', map: `--map-name=${rootPin}`, dir: `--pin-dir=${pinDir}` };
  const with_ = (over: Partial<Record<keyof typeof base, string | null>>): string[] =>
    Object.entries({ ...base, ...over }).flatMap(([, v]) => (v === null || v === undefined ? [] : [v]));
  const cases: Array<[string, string[], RegExp]> = [
    ['no --map-name', with_({ map: null }), /--map-name is required.*previous program/s],
    ['missing interface', with_({ iface: '--iface=nosuchif0' }), /no network interface named 'nosuchif0'/],
    ['no --iface', with_({ iface: null }), /--iface is required/],
    ['rate not a number', with_({ rate: '--rate=fast' }), /--rate: 'fast' is not a non-negative integer/],
    ['rate 0', with_({ rate: '--rate=0' }), /--rate: 0 is out of range/],
    ['port out of range', with_({ ports: '--ports=80,70000' }), /--ports: 70000 is out of range/],
    ['empty port', with_({ ports: '--ports=80,,81' }), /--ports: '' is not/],
    ['missing --map-name pin', with_({ map: `--map-name=${fs.join('nothing_here')}` }), /nothing is pinned at/],
    ['--map-name not a prog array', with_({ map: `--map-name=${notProgArray}` }), /not a program array/],
    ['unknown flag', [...with_({}), '--bogus=1'], /Unknown option '--bogus'/],
    ['tc direction', with_({ dir: '--direction=egress' }), /--direction: 'egress' is not supported/],
  ];
  const results = await Promise.all(cases.map(([, args]) => runCompanion(args)));
  cases.forEach(([name, , re], i) => {
    const r = results[i];
    assert.ok(r);
    assert.equal(r.code, 2, `${name}: exit code (stderr: ${r.stderr})`);
    assert.match(r.stderr, re, name);
    assert.equal(r.stdout, '', `${name}: never ready`);
  });
  assert.equal(new ProgArray(root.map('xdp_root_array')).get(0), undefined, 'nothing was linked');
  assert.equal(existsSync(pinDir) ? readdirSync(pinDir).length : 0, 0, 'nothing was pinned');
});
