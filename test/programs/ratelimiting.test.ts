// ratelimiting.bpf.o on the real kernel through BPF_PROG_TEST_RUN: verdicts for every kind of frame, exact
// counters (also with two CPUs at once), every truncated length 0..80, the sliding window over time, drop events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { BpfObject, BpfError, RingBufferReader, u8, u16, u32, u64, type BpfProgram, type TypedMap } from '../../agent/src/bpf/index.ts';
import { requireRoot } from '../harness/index.ts';
import {
  programObject, tcp4, tcp6, ethernet, ipv4, ipv6, udp, arp, tcp, optionsExt, fragmentExt, ETH_P_IP, ETH_P_IPV6, ETH_P_ARP,
  ETH_P_8021Q, ETH_P_8021AD, TCP_SYN, TCP_ACK, IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_ROUTING, SRC4, DST4, SRC6, DST6,
} from './frames.ts';
import { startTsWorker, workerMessage } from './workers.ts';

const XDP_DROP = 1;
const XDP_PASS = 2;
const CFG_RATE = 0;
const CFG_WINDOW_NS = 1;
const CFG_EVENTS_PER_WINDOW = 2;
const WIN_EVENT_BUDGET = 2;
const WIN_EVENTS_LOST = 3;
const WEIGHT_SHIFT = 16n;
const MS = 1_000_000n;
const EVENT_SIZE = 72;

/** ratelimiting.bpf.o loaded, with typed views of its maps. */
class Limiter implements Disposable {
  readonly obj: BpfObject;
  readonly prog: BpfProgram;
  readonly config: TypedMap<number, bigint>;
  readonly ports: TypedMap<number, number>;
  readonly window: TypedMap<number, bigint>;
  readonly recvMap: TypedMap<number, bigint>;
  readonly dropMap: TypedMap<number, bigint>;

  constructor() {
    this.obj = BpfObject.open(programObject('ratelimiting'));
    try {
      this.obj.load();
      this.prog = this.obj.program('_xdp_ratelimiting');
      this.config = this.obj.map('rl_config_map').typed(u32, u64);
      this.ports = this.obj.map('rl_ports_map').typed(u16, u8);
      this.window = this.obj.map('rl_window_map').typed(u32, u64);
      this.recvMap = this.obj.map('rl_recv_count_map').typed(u32, u64);
      this.dropMap = this.obj.map('rl_drop_count_map').typed(u32, u64);
    } catch (err) {
      this.obj.close();
      throw err;
    }
  }

  configure(o: { rate?: bigint; windowNs?: bigint; events?: bigint; ports?: number[] }): void {
    if (o.rate !== undefined) this.config.set(CFG_RATE, o.rate);
    if (o.windowNs !== undefined) this.config.set(CFG_WINDOW_NS, o.windowNs);
    if (o.events !== undefined) this.config.set(CFG_EVENTS_PER_WINDOW, o.events);
    for (const p of o.ports ?? []) this.ports.set(p, 1);
  }

  run(frame: Buffer): number {
    return this.prog.testRun({ data: frame }).retval;
  }

  get counters(): { recv: bigint; drop: bigint } {
    return { recv: this.recvMap.get(0) ?? -1n, drop: this.dropMap.get(0) ?? -1n };
  }

  /** The packed (window id mod 2^32, count) cell of window `wid`. */
  cell(wid: bigint): { tag: bigint; count: bigint } {
    const v = this.window.get(Number(wid & 1n)) ?? 0n;
    return { tag: v >> 32n, count: v & 0xffffffffn };
  }

  [Symbol.dispose](): void {
    this.obj.close();
  }
}

/** CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns() reads. */
const mono = (): bigint => process.hrtime.bigint();

/** A window length of about an hour whose current window has at least `minLeftNs` to run. */
function stableWindow(minLeftNs = 120_000n * MS): bigint {
  const now = mono();
  for (let w = 3600_000n * MS; ; w -= 60_000n * MS) if (w - (now % w) > minLeftNs) return w;
}

/** Waits until the clock is in window phase [lo, hi) (fractions of `w`), in a window later than `after`. */
async function waitForPhase(w: bigint, lo: number, hi: number, after = -1n): Promise<bigint> {
  for (;;) {
    const now = mono();
    const wid = now / w;
    const phase = Number(now % w) / Number(w);
    if (wid > after && phase >= lo && phase < hi) return wid;
    const target = wid > after && phase < lo ? wid * w + BigInt(Math.ceil(lo * Number(w))) : (wid + 1n) * w + BigInt(Math.ceil(lo * Number(w)));
    const left = target - now;
    if (left > 3n * MS) await sleep(Number(left - 2n * MS) / 1e6);
  }
}

/** Connections the program accepts in a window after `prevCount` last window, at `now` (its own formula). */
function allowance(rate: bigint, w: bigint, prevCount: bigint, now: bigint): bigint {
  const elapsed = now % w;
  const weight = ((w - elapsed) << WEIGHT_SHIFT) / w;
  const budget = (rate << WEIGHT_SHIFT) - prevCount * weight;
  // a candidate is accepted while carried + accepted·2^16 < rate·2^16: ceil(budget / 2^16) of them
  return budget <= 0n ? 0n : (budget + (1n << WEIGHT_SHIFT) - 1n) >> WEIGHT_SHIFT;
}

/** Every kind of candidate SYN to port 80 the program must recognise. */
const CANDIDATES: Record<string, Buffer> = {
  'IPv4 SYN': tcp4(80),
  'IPv4 SYN with 40 bytes of options (ihl 15)': ethernet(ETH_P_IP, ipv4(tcp(40000, 80, TCP_SYN), { options: Buffer.alloc(40, 1) })),
  'IPv4 first fragment (MF set) SYN': ethernet(ETH_P_IP, ipv4(tcp(40000, 80, TCP_SYN), { moreFragments: true })),
  '802.1Q SYN': tcp4(80, TCP_SYN, [{ tpid: ETH_P_8021Q, vid: 100 }]),
  '802.1ad QinQ SYN': tcp4(80, TCP_SYN, [{ tpid: ETH_P_8021AD, vid: 200 }, { tpid: ETH_P_8021Q, vid: 100 }]),
  'double 802.1Q SYN': tcp4(80, TCP_SYN, [{ tpid: ETH_P_8021Q, vid: 7 }, { tpid: ETH_P_8021Q, vid: 8 }]),
  'IPv6 SYN': tcp6(80),
  'IPv6 SYN after hop-by-hop, dst-options, routing, fragment (offset 0)': tcp6(80, TCP_SYN, [
    optionsExt(IPPROTO_HOPOPTS), optionsExt(IPPROTO_DSTOPTS, 2), optionsExt(IPPROTO_ROUTING, 3), fragmentExt(0),
  ]),
  'VLAN-tagged IPv6 SYN': ethernet(ETH_P_8021Q, Buffer.concat([Buffer.from([0, 5]), Buffer.from([0x86, 0xdd]), ipv6(tcp(40000, 80, TCP_SYN))])),
};

/** Frames the program must pass without counting (port 80 is listed, 81 is not). */
const NON_CANDIDATES: Record<string, Buffer> = {
  'IPv4 SYN-ACK': tcp4(80, TCP_SYN | TCP_ACK),
  'IPv4 ACK': tcp4(80, TCP_ACK),
  'IPv4 SYN to an unlisted port': tcp4(81),
  'IPv4 UDP to port 80': ethernet(ETH_P_IP, ipv4(udp(40000, 80), { proto: 17 })),
  ARP: ethernet(ETH_P_ARP, arp()),
  'IPv4 non-first fragment starting like a SYN': ethernet(ETH_P_IP, ipv4(tcp(40000, 80, TCP_SYN), { fragOffset: 185 })),
  'IPv6 SYN-ACK': tcp6(80, TCP_SYN | TCP_ACK),
  'IPv6 UDP to port 80': ethernet(ETH_P_IPV6, ipv6(udp(40000, 80), 17)),
  'IPv6 non-first fragment starting like a SYN': tcp6(80, TCP_SYN, [fragmentExt(100)]),
  'IPv6 SYN behind 7 extension headers (more than the 6 walked)': tcp6(80, TCP_SYN, Array.from({ length: 7 }, () => optionsExt(IPPROTO_DSTOPTS))),
  'SYN behind 3 VLAN tags (more than the 2 walked)': tcp4(80, TCP_SYN, [
    { tpid: ETH_P_8021AD, vid: 1 }, { tpid: ETH_P_8021Q, vid: 2 }, { tpid: ETH_P_8021Q, vid: 3 },
  ]),
  'IPv4 with ihl 4 (malformed)': (() => {
    const f = tcp4(80);
    f[14] = 0x44;
    return f;
  })(),
  'IPv4 TCP with data offset 4 (malformed)': (() => {
    const f = tcp4(80);
    f[14 + 20 + 12] = 4 << 4;
    return f;
  })(),
};

test('ratelimiting: SYNs to a listed port pass up to the rate, then drop, with exact counters', (t) => {
  if (requireRoot(t)) return;
  using rl = new Limiter();
  const w = stableWindow();
  rl.configure({ rate: 3n, windowNs: w, ports: [80, 8080] });
  const wid = mono() / w;
  for (let i = 1n; i <= 3n; i++) {
    assert.equal(rl.run(tcp4(80)), XDP_PASS, `SYN ${i} is within the rate`);
    assert.deepEqual(rl.counters, { recv: i, drop: 0n });
  }
  assert.equal(rl.run(tcp4(80)), XDP_DROP, 'the 4th SYN in the window is over the rate');
  assert.equal(rl.run(tcp4(8080)), XDP_DROP, 'the limit is shared by all listed ports');
  assert.deepEqual(rl.counters, { recv: 5n, drop: 2n });
  assert.deepEqual(rl.cell(wid), { tag: wid & 0xffffffffn, count: 3n }, 'the window counts accepted connections only');

  for (const [name, frame] of Object.entries(NON_CANDIDATES)) {
    assert.equal(rl.run(frame), XDP_PASS, `${name}: passes`);
    assert.deepEqual(rl.counters, { recv: 5n, drop: 2n }, `${name}: not counted`);
  }
  let n = 5n;
  let d = 2n;
  for (const [name, frame] of Object.entries(CANDIDATES)) {
    assert.equal(rl.run(frame), XDP_DROP, `${name}: recognised and over the rate`);
    n++;
    d++;
    assert.deepEqual(rl.counters, { recv: n, drop: d }, `${name}: counted`);
  }
  assert.deepEqual(rl.cell(wid), { tag: wid & 0xffffffffn, count: 3n });
});

test('ratelimiting: below the rate every kind of candidate passes and is counted', (t) => {
  if (requireRoot(t)) return;
  using rl = new Limiter();
  const w = stableWindow();
  rl.configure({ rate: 1000n, windowNs: w, ports: [80] });
  const wid = mono() / w;
  let n = 0n;
  for (const [name, frame] of Object.entries(CANDIDATES)) {
    assert.equal(rl.run(frame), XDP_PASS, name);
    n++;
    assert.deepEqual(rl.counters, { recv: n, drop: 0n }, name);
    assert.equal(rl.cell(wid).count, n, `${name}: accepted into the window`);
  }
});

test('ratelimiting: rate 0 (the default) passes everything and still counts candidates', (t) => {
  if (requireRoot(t)) return;
  using rl = new Limiter();
  assert.equal(rl.config.get(CFG_RATE), 0n, 'nothing configured: no user-space initialisation is needed');
  assert.equal(rl.run(tcp4(80)), XDP_PASS, 'no listed port: not a candidate');
  assert.deepEqual(rl.counters, { recv: 0n, drop: 0n });
  rl.configure({ ports: [80] });
  for (let i = 0; i < 5; i++) assert.equal(rl.run(tcp4(80)), XDP_PASS);
  assert.deepEqual(rl.counters, { recv: 5n, drop: 0n });
  assert.deepEqual(rl.window.entries().map(([, v]) => v), [0n, 0n, 0n, 0n], 'no window state is touched without a rate');
});

test('ratelimiting: every length 0..80 of every candidate gives the documented verdict', (t) => {
  if (requireRoot(t)) return;
  using rl = new Limiter();
  rl.configure({ rate: 1n, windowNs: stableWindow(), ports: [80] });
  assert.equal(rl.run(tcp4(80)), XDP_PASS, 'the one place in the window is taken');
  let expectDrops = 0n;
  let runs = 0;
  for (const [name, frame] of Object.entries(CANDIDATES)) {
    for (let len = 0; len <= 80; len++) {
      const data = len <= frame.length ? frame.subarray(0, len) : Buffer.concat([frame, Buffer.alloc(len - frame.length)]);
      if (len < 14) {
        // The kernel never runs an XDP program on less than an Ethernet header (test_run and
        // bpf_xdp_adjust_head/tail refuse it); the verifier has proved the program safe anyway.
        assert.throws(() => rl.run(data), (e: unknown) => e instanceof BpfError && e.code === 'EINVAL', `${name} len ${len}`);
        continue;
      }
      const want = len < frame.length ? XDP_PASS : XDP_DROP;
      assert.equal(rl.run(data), want, `${name} truncated/padded to ${len} of ${frame.length} bytes`);
      runs++;
      if (want === XDP_DROP) expectDrops++;
    }
  }
  assert.ok(runs > 500, `ran ${runs} frames`);
  assert.ok(expectDrops > 0n, 'the sweep includes complete candidates');
  assert.deepEqual(rl.counters, { recv: 1n + expectDrops, drop: expectDrops }, 'truncated frames are never counted');
});

test('ratelimiting: the window slides (previous window weighted by the time left)', async (t) => {
  if (requireRoot(t)) return;
  using rl = new Limiter();
  const w = 250n * MS; // long enough that a busy 2-core machine does not oversleep a whole window
  const rate = 10n;
  rl.configure({ rate, windowNs: w, ports: [80] });

  // A full window: `rate` accepted, the next refused.
  const w0 = await waitForPhase(w, 0.02, 0.3);
  const verdicts = Array.from({ length: 12 }, () => rl.run(tcp4(80)));
  assert.equal(mono() / w, w0, 'the burst stayed inside one window');
  assert.deepEqual(verdicts, [...Array(10).fill(XDP_PASS), XDP_DROP, XDP_DROP]);
  assert.deepEqual(rl.cell(w0), { tag: w0 & 0xffffffffn, count: 10n });

  // Halfway through the next window about half of the previous window still counts.
  const w1 = await waitForPhase(w, 0.45, 0.55, w0);
  assert.equal(w1, w0 + 1n);
  const before = mono();
  let accepted = 0n;
  while (rl.run(tcp4(80)) === XDP_PASS) accepted++;
  const after = mono();
  assert.equal(after / w, w1, 'measured inside the second window');
  const most = allowance(rate, w, 10n, before);
  const least = allowance(rate, w, 10n, after);
  assert.ok(accepted >= least && accepted <= most, `accepted ${accepted}, formula allows ${least}..${most}`);
  assert.ok(accepted >= 4n && accepted <= 6n, `about rate/2 accepted halfway through (got ${accepted})`);
  assert.deepEqual(rl.cell(w0), { tag: w0 & 0xffffffffn, count: 10n }, 'the previous window is kept');

  // One idle window later the past no longer counts: the full rate is available again. Right at the start
  // of the window after such a full one, the previous window counts almost fully: room for one connection only.
  // (A busy machine may wake us too late in the window for the second check: then it is tried again.)
  let after3 = w1;
  for (let attempt = 1; ; attempt++) {
    const w3 = await waitForPhase(w, 0.02, 0.3, after3 + 1n);
    const fresh = Array.from({ length: 11 }, () => rl.run(tcp4(80)));
    assert.equal(mono() / w, w3);
    assert.deepEqual(fresh, [...Array(10).fill(XDP_PASS), XDP_DROP], 'an idle previous window does not count');
    assert.deepEqual(rl.cell(w3), { tag: w3 & 0xffffffffn, count: 10n });

    const w4 = await waitForPhase(w, 0, 0.05, w3);
    assert.equal(w4, w3 + 1n);
    const t0 = mono();
    const r = [rl.run(tcp4(80)), rl.run(tcp4(80))];
    const t1 = mono();
    assert.equal(t1 / w, w4);
    const [atStart, atEnd] = [allowance(rate, w, 10n, t0), allowance(rate, w, 10n, t1)];
    if (atStart === 1n && atEnd === 1n) {
      assert.deepEqual(r, [XDP_PASS, XDP_DROP], 'a full previous window leaves room for one connection at the start of the next');
      assert.deepEqual(rl.cell(w4), { tag: w4 & 0xffffffffn, count: 1n });
      break;
    }
    assert.ok(attempt < 3, `woken too late in the window ${attempt} times (phase ${Number(t0 % w) / Number(w)})`);
    after3 = w4;
  }
});

test('ratelimiting: counters stay exact with two CPUs racing for the last places', async (t) => {
  if (requireRoot(t)) return;
  using rl = new Limiter();
  const w = stableWindow();
  const rate = 150_000n;
  rl.configure({ rate, windowNs: w, ports: [80] });
  const wid = mono() / w;
  const gate = new SharedArrayBuffer(4);
  const calls = 20;
  const repeat = 10_000;
  const job = { progId: rl.prog.info().id, frame: new Uint8Array(tcp4(80)), calls, repeat, gate };
  const workers = [0, 1].map(() => startTsWorker(new URL('./testrun-worker.ts', import.meta.url), job));
  try {
    type Reply = { ready?: boolean; ok?: boolean; error?: string };
    await Promise.all(workers.map((wk) => workerMessage<Reply>(wk, (m) => m.ready === true || m.ok === false)));
    const done = workers.map((wk) => workerMessage<Reply>(wk, (m) => m.ok !== undefined));
    const flag = new Int32Array(gate);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    for (const reply of await Promise.all(done)) assert.equal(reply.ok, true, reply.error);
  } finally {
    await Promise.all(workers.map((wk) => wk.terminate()));
  }
  const total = BigInt(2 * calls * repeat);
  assert.equal(mono() / w, wid, 'all in one window');
  assert.deepEqual(rl.counters, { recv: total, drop: total - rate });
  assert.deepEqual(rl.cell(wid), { tag: wid & 0xffffffffn, count: rate }, 'exactly `rate` accepted, not one more');
});

test('ratelimiting: drop events are sampled (at most N per window) and off by default', (t) => {
  if (requireRoot(t)) return;
  using rl = new Limiter();
  const w = stableWindow();
  rl.configure({ rate: 1n, windowNs: w, ports: [80, 443] });
  const events: Buffer[] = [];
  using reader = new RingBufferReader(rl.obj.map('rl_events'), { onBatch: (b) => events.push(...b) });

  assert.equal(rl.run(tcp4(80)), XDP_PASS);
  assert.equal(rl.run(tcp4(80)), XDP_DROP);
  reader.drain();
  assert.equal(events.length, 0, 'no events while config[2] is 0');
  assert.equal(rl.window.get(WIN_EVENT_BUDGET), 0n, 'nothing touched for events while they are off');

  rl.configure({ events: 2n });
  const before = mono();
  assert.equal(rl.run(tcp4(80, TCP_SYN, [{ tpid: ETH_P_8021Q, vid: 42 }], 1111)), XDP_DROP);
  assert.equal(rl.run(tcp6(443, TCP_SYN, [], 2222)), XDP_DROP);
  for (let i = 0; i < 3; i++) assert.equal(rl.run(tcp4(80)), XDP_DROP);
  const after = mono();
  reader.drain();
  assert.deepEqual(rl.counters, { recv: 7n, drop: 6n });
  assert.equal(events.length, 2, 'at most 2 events in this window');
  assert.ok(events.every((e) => e.length === EVENT_SIZE));

  const [e4, e6] = events as [Buffer, Buffer];
  const ts = e4.readBigUInt64LE(0);
  assert.ok(ts >= before && ts <= after, 'event time is bpf_ktime_get_ns (CLOCK_MONOTONIC)');
  assert.equal(e4.readBigUInt64LE(8), 2n, 'drops including this one');
  assert.equal(e4.readBigUInt64LE(16), w, 'window length');
  assert.equal(e4.readUInt32LE(24), 1, 'rate');
  assert.equal(e4.readUInt32LE(28), 1, 'ingress ifindex (test_run runs on the namespace\'s loopback)');
  assert.deepEqual([e4.readUInt16LE(32), e4.readUInt16LE(34), e4.readUInt16LE(36), e4[38]], [1111, 80, 42, 4]);
  assert.deepEqual([...e4.subarray(40, 56)], [...SRC4, ...Array(12).fill(0)]);
  assert.deepEqual([...e4.subarray(56, 72)], [...DST4, ...Array(12).fill(0)]);
  assert.equal(e6.readBigUInt64LE(8), 3n);
  assert.deepEqual([e6.readUInt16LE(32), e6.readUInt16LE(34), e6.readUInt16LE(36), e6[38]], [2222, 443, 0, 6]);
  assert.ok(e6.subarray(40, 56).equals(SRC6) && e6.subarray(56, 72).equals(DST6));

  const wid = mono() / w;
  assert.equal(rl.window.get(WIN_EVENT_BUDGET), ((wid & 0xffffffffn) << 32n) | 2n, 'budget cell: this window, 2 used');
  assert.equal(rl.window.get(WIN_EVENTS_LOST), 0n);

  rl.configure({ events: 0n });
  assert.equal(rl.run(tcp4(80)), XDP_DROP);
  reader.drain();
  assert.equal(events.length, 2, 'switched off again: no more events');
});
