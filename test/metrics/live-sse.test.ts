// Live event streams through the agent (main.ts as a child process): ratelimiting added over REST on a veth
// at 5 connections/s, an SSE client on GET /l3af/events, TCP connection attempts at 6× the rate. The client
// gets the drop events in order (drop numbers consecutive), as many as rl_drop_count_map grew by less what
// the stats frame reports lost or dropped; production stops when it leaves (nothing reaches rl_events after).
// event_maps in the payload switches the same stream to raw records (an update, no reload) and [] removes it.
// Then, in-process: a test object whose record struct is in its BTF is streamed decoded from that BTF, and a
// ring buffer filled faster than it is read reports its losses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get, type IncomingMessage, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { BpfMap, RingBufferReader, u32, u64 } from '../../agent/src/bpf/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import type { BpfProgram } from '../../agent/src/payload/index.ts';
import { EventHub } from '../../agent/src/events/event-hub.ts';
import { eventRoutes } from '../../agent/src/api/events-routes.ts';
import { ratelimitingDrops } from '../../agent/src/events/event-sources.ts';
import { PrivateBpffs, VethLab, connectTcp, listenTcp, skipUnless } from '../harness/index.ts';
import { StateDir, ensurePackages, ratelimiting, xdpBody } from '../engine/helpers.ts';
import { agentConfig, listening, spawnAgent } from '../harness/agent-process.ts';
import { freePort } from '../harness/net.ts';
import { programObject, tcp4 } from '../programs/frames.ts';
import { Loaded, loadRatelimiting, memoryLogger } from './fixtures.ts';
import { parseExposition, valueOf } from './exposition.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

interface Frame { event?: string; id?: string; data?: string; comment?: string }

/** A minimal SSE client: frames parsed as they arrive. */
class SseClient {
  readonly frames: Frame[] = [];
  res?: IncomingMessage;
  #buf = '';
  #req: ClientRequest;

  private constructor(url: string, ready: () => void, fail: (e: Error) => void) {
    this.#req = get(url, (res) => {
      this.res = res;
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        this.#buf += d;
        let i: number;
        while ((i = this.#buf.indexOf('\n\n')) >= 0) {
          const f: Frame = {};
          for (const line of this.#buf.slice(0, i).split('\n')) {
            if (line.startsWith(':')) f.comment = line.slice(1).trim();
            else (f as Record<string, string>)[line.slice(0, line.indexOf(': '))] = line.slice(line.indexOf(': ') + 2);
          }
          this.#buf = this.#buf.slice(i + 2);
          this.frames.push(f);
          if (f.comment?.startsWith('subscribed')) ready();
        }
      });
    });
    this.#req.on('error', fail);
  }

  static open(url: string): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const c: SseClient = new SseClient(url, () => resolve(c), reject);
    });
  }

  events<T = Record<string, unknown>>(type: string): Array<{ seq: number; program: string; iface: string; data: T }> {
    return this.frames.filter((f) => f.event === type).map((f) => JSON.parse(f.data!) as { seq: number; program: string; iface: string; data: T });
  }

  stats(): Array<{ delivered: number; dropped: number; lost: number; pending: number }> {
    return this.frames.filter((f) => f.event === 'stats').map((f) => JSON.parse(f.data!) as { delivered: number; dropped: number; lost: number; pending: number });
  }

  close(): void {
    this.#req.destroy();
  }
}

async function until(what: string, ms: number, cond: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function cell(dir: string, map: string, key: number): bigint {
  using m = BpfMap.openPinned(join(dir, map));
  return m.typed(u32, u64).get(key) ?? -1n;
}

interface Drop { drops: number; rate: number; ifindex: number; sport: number; dport: number; family: number; saddr: string; daddr: string }

test('SSE through the agent: live ratelimiting drop events in order, counts matching the kernel, production off when the client leaves; event_maps switch the format', { skip, timeout: 180_000 }, async (t) => {
  ensurePackages();
  await using bpffs = await PrivateBpffs.create();
  await using lab = await VethLab.create();
  using state = new StateDir();
  const iface = lab.rootIfname;
  const port = await freePort();
  const metricsPort = await freePort();
  const agent = spawnAgent(agentConfig({ stateDir: state.path, pinRoot: bpffs.path, port, metricsPort }));
  t.after(() => agent.kill());
  await listening(agent);
  const api = `http://127.0.0.1:${port}`;
  const listener = await listenTcp(lab);
  t.after(() => listener.close());
  const post = async (op: 'add' | 'update', programs: BpfProgram[]): Promise<unknown> => {
    const res = await fetch(`${api}/l3af/configs/v1/${op}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(xdpBody(hostName(), iface, programs)) });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return JSON.parse(text);
  };
  await post('add', [ratelimiting(1, 5, [listener.port])]);
  const dir = join(bpffs.path, iface, 'ratelimiting', 'latest');
  assert.equal(cell(dir, 'rl_config_map', 2), 0n, 'no listener: no events produced');

  const c = await SseClient.open(`${api}/l3af/events?iface=${iface}&program=ratelimiting`);
  assert.equal(c.res?.headers['content-type'], 'text/event-stream; charset=utf-8');
  await until('production on', 5000, () => cell(dir, 'rl_config_map', 2) === 512n);
  const before = cell(dir, 'rl_drop_count_map', 0);
  const traffic = await connectTcp(lab, { port: listener.port, attempts: 150, ratePerSec: 30, timeoutMs: 900, reset: true });
  const after = cell(dir, 'rl_drop_count_map', 0);
  const kernelDrops = Number(after - before);
  t.diagnostic(`${traffic.attempted} attempts at 30/s over 5/s: ${traffic.connected} connected, ${kernelDrops} drops counted by the kernel`);
  assert.ok(kernelDrops >= 50, `the rate dropped most attempts (${kernelDrops})`);
  // the stats frame (every 5 s) that has seen every event: delivered + dropped + lost account for every drop
  await until('a stats frame covering the run', 15_000, () => c.stats().some((s) => s.delivered + s.dropped + s.lost === kernelDrops && s.pending === 0));
  const stats = c.stats().find((s) => s.delivered + s.dropped + s.lost === kernelDrops)!;
  const ev = c.events<Drop>('ratelimiting.drop');
  t.diagnostic(`SSE: ${ev.length} events, stats ${JSON.stringify(stats)}`);
  assert.equal(ev.length, kernelDrops - stats.lost - stats.dropped, 'events = the kernel counter\'s increase less lost and dropped');
  assert.equal(stats.delivered, ev.length);
  assert.equal(stats.lost + stats.dropped, 0, 'nothing lost at this rate');
  assert.deepEqual(ev.map((e) => e.data.drops), Array.from({ length: ev.length }, (_, i) => Number(before) + 1 + i), 'in order: drop numbers consecutive from the counter at the start');
  assert.deepEqual(ev.map((e) => e.seq), Array.from({ length: ev.length }, (_, i) => i + 1));
  for (const e of ev) {
    assert.deepEqual({ program: e.program, iface: e.iface, rate: e.data.rate, ifindex: e.data.ifindex, dport: e.data.dport, family: e.data.family, saddr: e.data.saddr, daddr: e.data.daddr },
      { program: 'ratelimiting', iface, rate: 5, ifindex: lab.rootIfindex, dport: listener.port, family: 4, saddr: lab.peerAddress, daddr: lab.rootAddress });
  }
  const m = parseExposition(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
  assert.equal(valueOf(m, 'l3af_events_total', { program: 'ratelimiting', interface: iface }), ev.length);
  assert.equal(valueOf(m, 'l3af_event_subscribers', { program: 'ratelimiting', interface: iface }), 1);
  assert.equal(valueOf(m, 'l3af_events_lost_total', { program: 'ratelimiting', interface: iface }), 0);

  // the client leaves: production off, and no record reaches rl_events any more
  c.close();
  await until('production off', 5000, () => cell(dir, 'rl_config_map', 2) === 0n);
  {
    using ring = BpfMap.openPinned(join(dir, 'rl_events'));
    const got: Buffer[] = [];
    using reader = new RingBufferReader(ring, { onBatch: (b) => got.push(...b) });
    const d0 = cell(dir, 'rl_drop_count_map', 0);
    await connectTcp(lab, { port: listener.port, attempts: 30, ratePerSec: 30, timeoutMs: 900, reset: true });
    reader.drain();
    assert.ok(cell(dir, 'rl_drop_count_map', 0) - d0 >= 10n, 'drops went on');
    assert.equal(got.length, 0, 'no events produced without a listener');
  }

  // event_maps: raw records of the same map (an update in place: same kernel program)
  const logMark = agent.lines.length; // this update's log lines follow
  const res = await post('update', [ratelimiting(1, 5, [listener.port], { event_maps: [{ name: 'rl_events', format: 'raw' }] })]) as { results: Array<{ outcome: string; reason?: string }> };
  assert.deepEqual(res.results.map((r) => [r.outcome, r.reason]), [['updated', 'changed: event_maps']]);
  const got = (await (await fetch(`${api}/l3af/configs/v1/${iface}`)).json()) as { bpf_programs: { xdp_ingress: Array<{ event_maps?: unknown }> } };
  assert.deepEqual(got.bpf_programs.xdp_ingress[0]!.event_maps, [{ name: 'rl_events', format: 'raw' }], 'GET echoes event_maps');
  const raw = await SseClient.open(`${api}/l3af/events?program=ratelimiting`);
  await until('production on again', 5000, () => cell(dir, 'rl_config_map', 2) === 512n);
  const r0 = cell(dir, 'rl_drop_count_map', 0);
  await connectTcp(lab, { port: listener.port, attempts: 30, ratePerSec: 30, timeoutMs: 900, reset: true });
  const rawDrops = Number(cell(dir, 'rl_drop_count_map', 0) - r0);
  await until('raw events', 5000, () => raw.events('ratelimiting.drop').length === rawDrops);
  for (const [i, e] of raw.events<{ raw: string; size: number }>('ratelimiting.drop').entries()) {
    assert.equal(e.data.size, 72);
    assert.equal(Buffer.from(e.data.raw, 'hex').readBigUInt64LE(8), r0 + 1n + BigInt(i), 'the raw record carries the drop number at offset 8');
  }
  raw.close();
  await until('production off again', 5000, () => cell(dir, 'rl_config_map', 2) === 0n);
  assert.ok(agent.lines.slice(logMark).some((l) => l.msg === 'event stream on'), 'the agent logged the new stream');

  // event_maps: [] = no stream for this program, so a listener turns nothing on
  await post('update', [ratelimiting(1, 5, [listener.port], { event_maps: [] })]);
  const none = await SseClient.open(`${api}/l3af/events?program=ratelimiting`);
  await sleep(300);
  assert.equal(cell(dir, 'rl_config_map', 2), 0n, 'event_maps [] streams nothing');
  none.close();
});

test('event_maps with a BTF struct: records of a test object decoded field by field from its loaded BTF, over SSE', { skip, timeout: 60_000 }, async (t) => {
  await using bpffs = await PrivateBpffs.create();
  const iface = `bt${process.pid}`;
  using obj = new Loaded(bpffs, programObject('test/obs_events'), 'obs_emit', [iface, 'obs_events', '1']);
  const { logger, lines } = memoryLogger();
  const hub = new EventHub({ logger });
  const app = Fastify();
  await app.register(eventRoutes, { hub, statsMs: 200 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(async () => {
    hub.close();
    await app.close();
  });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/l3af/events`;
  hub.programStarted({ ...obj.running({ iface, name: 'obs_events' }), eventMaps: [{ name: 'obs_events', struct: 'obs_event' }] });
  assert.deepEqual(hub.streams().map((s) => [s.map, s.eventType]), [['obs_events', 'obs_events.obs_events']]);
  const c = await SseClient.open(`${base}?program=obs_events`);
  const frame = Buffer.alloc(133);
  Buffer.from([0x02, 0, 0, 0, 0, 0x0b]).copy(frame);
  obj.prog.testRun({ data: frame, repeat: 3 });
  obj.prog.testRun({ data: frame.subarray(0, 60) });
  await until('4 events', 5000, () => c.events('obs_events.obs_events').length === 4);
  const ev = c.events('obs_events.obs_events').map((e) => e.data);
  assert.deepEqual(ev[0], { seq: 1, len: 133, delta: 33, low3: 5, long_frame: 1, kind: 'OBS_LONG', tag: 'obs', dst: '02000000000b', big: '9223372036854775809' });
  assert.deepEqual(ev.map((e) => e.seq), [1, 2, 3, 4]);
  assert.deepEqual(ev[3], { seq: 4, len: 60, delta: -40, low3: 4, long_frame: 0, kind: 'OBS_SHORT', tag: 'obs', dst: '02000000000b', big: '9223372036854775812' });
  c.close();
  await until('stream closed', 2000, () => !hub.streams()[0]!.active);

  // format btf without a struct: a ring buffer declares no value type, so records go out raw, with the reason
  hub.programUpdated({ ...obj.running({ iface, name: 'obs_events' }), eventMaps: [{ name: 'obs_events', format: 'btf' }] });
  const r = await SseClient.open(`${base}?program=obs_events`);
  obj.prog.testRun({ data: frame });
  await until('a raw event', 5000, () => r.events('obs_events.obs_events').length === 1);
  const rec = r.events<{ raw: string; size: number }>('obs_events.obs_events')[0]!.data;
  assert.equal(rec.size, 48);
  assert.equal(Buffer.from(rec.raw, 'hex').readBigUInt64LE(0), 5n);
  assert.match(hub.streams()[0]!.problem ?? '', /declares no BTF value type.*event_maps\[\]\.struct/);
  assert.ok(lines.some((l) => l.msg === 'event records are sent raw'), 'logged');
  r.close();
});

test('losses: a ring buffer filled faster than it is read — delivered + lost (ratelimiting\'s ring-full counter) = the drops', { skip, timeout: 60_000 }, async (t) => {
  await using bpffs = await PrivateBpffs.create();
  const iface = `ls${process.pid}`;
  using rl = loadRatelimiting(bpffs, iface);
  const cfg = rl.obj.map('rl_config_map').typed(u32, u64);
  rl.obj.map('rl_ports_map').update(Buffer.from([80, 0]), Buffer.from([1]));
  cfg.set(0, 1n);
  cfg.set(1, 3_600_000_000_000n); // one window of an hour: every candidate after the first is dropped
  const hub = new EventHub({ sources: [ratelimitingDrops(1_000_000)] });
  t.after(() => hub.close());
  hub.programStarted(rl.running({ iface, name: 'ratelimiting' }));
  const sub = hub.subscribe({ program: 'ratelimiting' }, { queueLimit: 100_000 });
  // one synchronous run of 4001 SYNs: the event loop reads nothing meanwhile, so the 64 KiB ring fills
  rl.prog.testRun({ data: tcp4(80), repeat: 4001 });
  const drops = Number(rl.obj.map('rl_drop_count_map').typed(u32, u64).get(0));
  assert.equal(drops, 4000);
  await until('every record read', 5000, () => sub.pending + sub.lost === drops);
  const ev = sub.take();
  t.diagnostic(`${drops} drops: ${ev.length} delivered, ${sub.lost} lost (ring full)`);
  assert.ok(sub.lost > 0 && ev.length > 0, 'some fit, the rest were lost');
  assert.equal(ev.length + sub.lost, drops);
  assert.equal(Number(rl.obj.map('rl_window_map').typed(u32, u64).get(3)), sub.lost, 'lost = the program\'s ring-full counter');
  assert.deepEqual(ev.map((e) => (e.data as { drops: number }).drops), Array.from({ length: ev.length }, (_, i) => i + 1), 'the first ones, in order');
  assert.equal(hub.streams()[0]!.lost, sub.lost);
});
