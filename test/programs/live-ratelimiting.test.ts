// ratelimiting with live traffic: xdp_root → ratelimiting (XDP drv) on a veth, a client in the lab's namespace
// attempting TCP connections to a listed port at 6× the rate for 7 s while another client does the same to an
// unlisted port. Accepted connections per full second average within ±10 % of the rate, the unlisted port is
// unaffected, and the kernel counters equal what the clients saw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BpfObject, ProgArray, attachXdp, detachXdp, u16, u32, u64, u8 } from '../../agent/src/bpf/index.ts';
import { VethLab, connectTcp, listenTcp, skipUnless } from '../harness/index.ts';
import { programObject } from './frames.ts';

const skip = await skipUnless('root', 'netns', 'veth');
const RATE = 20;
const ATTEMPT_RATE = 120; // 6 × RATE
const SECONDS = 7;
/** Under the kernel's initial SYN retransmission timeout (1 s): a dropped SYN is never retried. */
const TIMEOUT_MS = 500;

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

test(`live: ${ATTEMPT_RATE} connection attempts/s against rate ${RATE}/s for ${SECONDS} s`, { skip, timeout: 30_000 }, async (t) => {
  await using lab = await VethLab.create();
  await using listed = await listenTcp(lab);
  await using unlisted = await listenTcp(lab);
  using root = load('xdp_root');
  using rl = load('ratelimiting');
  rl.map('rl_config_map').typed(u32, u64).set(0, BigInt(RATE)); // window: slot 1 left 0 = 1 s
  rl.map('rl_ports_map').typed(u16, u8).set(listed.port, 1);
  new ProgArray(root.map('xdp_root_array')).set(0, rl.program('_xdp_ratelimiting'));
  attachXdp({ iface: lab.rootIfname, program: root.program('xdp_root'), mode: 'drv', expectedOld: null });
  try {
    const attempts = ATTEMPT_RATE * SECONDS;
    const opts = { attempts, ratePerSec: ATTEMPT_RATE, timeoutMs: TIMEOUT_MS, reset: true };
    const [a, b] = await Promise.all([
      connectTcp(lab, { ...opts, port: listed.port }),
      connectTcp(lab, { ...opts, port: unlisted.port }),
    ]);

    // Listed port: the limiter's view and the client's agree exactly.
    assert.equal(a.attempted, attempts);
    assert.equal(a.refused + a.failed, 0, `listed client: ${a.firstError}`);
    assert.equal(a.connected + a.timedOut, a.attempted);
    assert.equal(await listed.waitForAccepted(a.connected), a.connected, 'listener accepted = client connected');
    const recv = rl.map('rl_recv_count_map').typed(u32, u64).get(0);
    const drop = rl.map('rl_drop_count_map').typed(u32, u64).get(0);
    // Every attempt sends exactly one SYN: a passed SYN is answered at once, a dropped one is abandoned at
    // 500 ms, before the kernel's first SYN retransmission (1 s). So candidates = attempts, and every drop
    // is an attempt that timed out.
    assert.equal(recv, BigInt(a.attempted), 'rl_recv_count_map = SYN attempts');
    assert.equal(drop, BigInt(a.attempted - a.connected), 'rl_drop_count_map = attempts that did not connect');
    assert.equal(drop, BigInt(a.timedOut));

    // Unlisted port at the same rate, at the same time: untouched and not even a candidate.
    assert.equal(b.connected, b.attempted, `unlisted port: ${b.timedOut} timed out, ${b.refused} refused, ${b.failed} failed`);
    assert.equal(await unlisted.waitForAccepted(b.connected), b.connected);

    // Accepted connections per full second: drop the first (the window starts empty) and the last (partial).
    const full = a.perSecond.slice(1, SECONDS);
    assert.equal(full.length, SECONDS - 1);
    const mean = full.reduce((s, x) => s + x, 0) / full.length;
    const dev = (mean - RATE) / RATE;
    const worst = Math.max(...full.map((x) => Math.abs(x - RATE) / RATE));
    t.diagnostic(`per second (all buckets): ${a.perSecond.join(' ')}; attempted per second: ${a.attemptedPerSecond.join(' ')}`);
    t.diagnostic(`full seconds 1..${SECONDS - 1}: ${full.join(' ')}; mean ${mean.toFixed(2)}/s vs rate ${RATE}/s: ${(dev * 100).toFixed(1)} %, worst second ${(worst * 100).toFixed(1)} %`);
    t.diagnostic(`listed: attempted ${a.attempted}, connected ${a.connected}, rl recv ${recv}, rl drop ${drop}; unlisted: ${b.connected}/${b.attempted} connected`);
    assert.ok(Math.abs(dev) <= 0.10, `mean accepted per second ${mean.toFixed(2)} is not within ±10 % of ${RATE}`);
  } finally {
    detachXdp({ iface: lab.rootIfname });
  }
});
