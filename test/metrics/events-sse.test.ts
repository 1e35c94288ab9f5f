// Live event streams on the real kernel: ratelimiting's drop events through the EventHub and
// GET /l3af/events (SSE); production (rl_config_map[2]) on only while someone listens; bounded
// per-subscriber queues with drop-oldest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { u32, u64, type TypedMap } from '../../agent/src/bpf/index.ts';
import { EventHub, type StreamEvent } from '../../agent/src/events/event-hub.ts';
import { eventRoutes } from '../../agent/src/api/events-routes.ts';
import { decodeRatelimitingDrop, type RatelimitingDrop } from '../../agent/src/events/ratelimiting-events.ts';
import { PrivateBpffs, requireRoot } from '../harness/index.ts';
import { tcp4, tcp6 } from '../programs/frames.ts';
import { loadRatelimiting, type Loaded } from './fixtures.ts';
import { parseExposition, valueOf } from './exposition.ts';

const IFACE = `ev${process.pid}`;

function setup(rl: Loaded): TypedMap<number, bigint> {
  const cfg = rl.obj.map('rl_config_map').typed(u32, u64);
  rl.obj.map('rl_ports_map').update(Buffer.from([80, 0]), Buffer.from([1]));
  cfg.set(0, 5n); // 5 per window
  cfg.set(1, 3_600_000_000_000n); // of an hour: everything after the first 5 drops
  return cfg;
}

async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A minimal SSE client: parsed frames as they arrive. */
class SseClient {
  readonly frames: Array<{ event?: string; id?: string; data?: string; comment?: string }> = [];
  #buf = '';
  res!: IncomingMessage;
  readonly #req;
  constructor(url: string, ready: (c: SseClient) => void) {
    this.#req = get(url, (res) => {
      this.res = res;
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        this.#buf += d;
        let i: number;
        while ((i = this.#buf.indexOf('\n\n')) >= 0) {
          const block = this.#buf.slice(0, i);
          this.#buf = this.#buf.slice(i + 2);
          const f: { event?: string; id?: string; data?: string; comment?: string } = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) f.comment = line.slice(1).trim();
            else {
              const c = line.indexOf(': ');
              (f as Record<string, string>)[line.slice(0, c)] = line.slice(c + 2);
            }
          }
          this.frames.push(f);
          if (f.comment?.startsWith('subscribed')) ready(this);
        }
      });
    });
    this.#req.on('error', () => undefined);
  }
  static open(url: string): Promise<SseClient> {
    return new Promise((resolve) => new SseClient(url, resolve));
  }
  events(type = 'ratelimiting.drop'): Array<StreamEvent & { data: RatelimitingDrop }> {
    return this.frames.filter((f) => f.event === type).map((f) => JSON.parse(f.data!) as StreamEvent & { data: RatelimitingDrop });
  }
  close(): void {
    this.#req.destroy();
  }
}

test('decoder: IPv4 and IPv6 records of the real program', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using rl = loadRatelimiting(bpffs, IFACE);
  const cfg = setup(rl);
  cfg.set(0, 0n);
  cfg.set(0, 1n);
  cfg.set(2, 10n);
  const { RingBufferReader, BpfMap } = await import('../../agent/src/bpf/index.ts');
  using map = BpfMap.openPinned(`${rl.pinDir}/rl_events`);
  const got: Buffer[] = [];
  using reader = new RingBufferReader(map, { onBatch: (b) => got.push(...b) });
  rl.prog.testRun({ data: tcp4(80) }); // accepted
  rl.prog.testRun({ data: tcp4(80, 0x02, [], 41000) }); // dropped
  rl.prog.testRun({ data: tcp6(80) }); // dropped
  reader.drain();
  assert.equal(got.length, 2);
  const [a, b] = got.map(decodeRatelimitingDrop);
  assert.deepEqual({ ...a, ts_ns: undefined, ifindex: undefined }, {
    ts_ns: undefined, ifindex: undefined, drops: 1, window_ns: 3_600_000_000_000, rate: 1, sport: 41000, dport: 80, vlan: 0, family: 4, saddr: '192.0.2.1', daddr: '198.51.100.7',
  });
  assert.equal(b!.family, 6);
  assert.equal(b!.saddr, '2001:db8::1');
  assert.equal(b!.daddr, '2001:db8::2');
  assert.equal(b!.drops, 2);
  assert.ok(BigInt(b!.ts_ns) > BigInt(a!.ts_ns));
  assert.throws(() => decodeRatelimitingDrop(Buffer.alloc(10)), /72/);
});

test('SSE: a client receives the drop events in order as they happen; production only while someone listens', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using rl = loadRatelimiting(bpffs, IFACE);
  const cfg = setup(rl);
  const registry = new Registry();
  const hub = new EventHub({ registry, host: 'h' });
  const app = Fastify();
  await app.register(eventRoutes, { hub, statsMs: 200 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  t.after(async () => {
    hub.close();
    await app.close();
  });
  const p = rl.running({ iface: IFACE, name: 'ratelimiting' });
  hub.programStarted(p);
  assert.equal(cfg.get(2), 0n, 'no listener: no events produced');

  // a client for another program does not turn production on
  const other = await SseClient.open(`${base}/l3af/events?program=other`);
  assert.equal(cfg.get(2), 0n);

  const c = await SseClient.open(`${base}/l3af/events?iface=${IFACE}&program=ratelimiting`);
  assert.equal(c.res.headers['content-type'], 'text/event-stream; charset=utf-8');
  assert.equal(cfg.get(2), 512n, 'a listener turned production on');
  // 5 accepted, then drops, in three bursts while the client is connected
  const frame = tcp4(80);
  rl.prog.testRun({ data: frame, repeat: 25 });
  await until(() => c.events().length === 20, 3000, '20 events');
  rl.prog.testRun({ data: frame, repeat: 30 });
  rl.prog.testRun({ data: tcp4(80, 0x02, [], 50000), repeat: 10 });
  await until(() => c.events().length === 60, 3000, '60 events');
  const ev = c.events();
  const drops = rl.obj.map('rl_drop_count_map').typed(u32, u64).get(0);
  assert.equal(drops, 60n);
  assert.deepEqual(ev.map((e) => e.data.drops), Array.from({ length: 60 }, (_, i) => i + 1), 'in order, counts match the kernel counter');
  assert.deepEqual(ev.map((e) => e.seq), Array.from({ length: 60 }, (_, i) => i + 1));
  assert.ok(ev.every((e) => e.program === 'ratelimiting' && e.iface === IFACE && e.data.dport === 80 && e.data.saddr === '192.0.2.1'));
  assert.deepEqual(ev.slice(50).map((e) => e.data.sport), Array(10).fill(50000));
  await until(() => c.frames.some((f) => f.event === 'stats' && JSON.parse(f.data!).delivered === 60), 2000, 'stats');
  assert.equal(other.events().length, 0);
  const m = parseExposition(await registry.metrics());
  assert.equal(valueOf(m, 'l3af_events_total', { program: 'ratelimiting' }), 60);
  assert.equal(valueOf(m, 'l3af_event_subscribers', { program: 'ratelimiting' }), 1);

  // the last listener leaves: production off
  c.close();
  await until(() => cfg.get(2) === 0n, 2000, 'production off');
  assert.equal(hub.streams()[0]!.active, false);
  rl.prog.testRun({ data: frame, repeat: 10 });
  const { BpfMap } = await import('../../agent/src/bpf/index.ts');
  using ring = BpfMap.openPinned(`${rl.pinDir}/rl_events`);
  assert.equal(ring.type, 'ringbuf');
  // a later subscriber sees only what happens after it came (nothing was produced meanwhile)
  const c2 = await SseClient.open(`${base}/l3af/events?program=ratelimiting`);
  rl.prog.testRun({ data: frame, repeat: 3 });
  await until(() => c2.events().length === 3, 3000, '3 events');
  assert.deepEqual(c2.events().map((e) => e.data.drops), [71, 72, 73]);
  c2.close();
  other.close();
  await until(() => cfg.get(2) === 0n, 2000, 'production off again');

  // bad query
  const bad = await fetch(`${base}/l3af/events?iface=${encodeURIComponent('a b')}`);
  assert.equal(bad.status, 400);
});

test('bounded queue per subscriber: drop-oldest with a counter; program stop and restart', async (t) => {
  if (requireRoot(t)) return;
  await using bpffs = await PrivateBpffs.create();
  using rl = loadRatelimiting(bpffs, IFACE);
  const cfg = setup(rl);
  const hub = new EventHub({ queueLimit: 10 });
  t.after(() => hub.close());
  const slow = hub.subscribe({ program: 'ratelimiting' });
  const p = rl.running({ iface: IFACE, name: 'ratelimiting' });
  hub.programStarted(p); // a subscriber was waiting: production on at start
  assert.equal(cfg.get(2), 512n);
  const fast = hub.subscribe({ iface: IFACE }, { queueLimit: 100 });
  rl.prog.testRun({ data: tcp4(80), repeat: 55 });
  await until(() => fast.pending === 50, 3000, '50 queued');
  assert.equal(slow.pending, 10);
  assert.equal(slow.dropped, 40);
  assert.deepEqual(slow.take().map((e) => (e.data as RatelimitingDrop).drops), [41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);
  assert.equal(slow.delivered, 10);
  assert.equal(fast.dropped, 0);
  slow.close();
  assert.equal(cfg.get(2), 512n, 'one listener left');
  hub.programStopped(p);
  assert.equal(hub.streams().length, 0);
  hub.programStarted(p); // the remaining subscriber follows the program
  assert.equal(hub.streams()[0]!.active, true);
  fast.close();
  assert.equal(cfg.get(2), 0n);
});
