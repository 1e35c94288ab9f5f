// Conformance with l3afd (issue 13): the agent driven through its REST API (in process) with l3afd-shaped payloads
// in the order of l3afd's end-to-end suite — add with chaining, restart, update, add, delete one, delete all, restart
// without chaining, add / update / delete without chaining. After each step GET is compared byte for byte with the
// answer l3afd gives for the same state (built here from l3afd's model: every key, Go zero values, chain order,
// 2-space indent, roots hidden, no status), and every program is checked in the kernel with bpftool (attached ids,
// program ids; TC roots attach by TCX links on this kernel, `[l3af] tc-attach = auto`) and by its counters under traffic.
//
// Holds with or without the HTTP-answer change of point 11 (only the status code of add/update/delete is read).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { BpfMap, u32, u64 } from '../../agent/src/bpf/index.ts';
import { ChainManager, PinLayout } from '../../agent/src/chain/index.ts';
import { createEngine, type Engine } from '../../agent/src/engine/index.ts';
import { chainManagerOptions } from '../../agent/src/engine/chain-options.ts';
import { buildServer } from '../../agent/src/api/server.ts';
import { createLogger } from '../../agent/src/log.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import type { AgentConfig } from '../../agent/src/config/index.ts';
import type { BpfProgram } from '../../agent/src/payload/index.ts';
import { sendUdpReport, skipUnless, EngineLab } from '../harness/index.ts';
import { Counter } from '../chain/helpers.ts';
import { countAndPass, countAndPassRepo, testConfig } from '../engine/helpers.ts';
import { dropinDir, dropinLimit, dropinRepo, tcHookProgId } from '../engine/dropin-fixtures.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

/** l3afd's `BPFProgram` for a payload program: every key in its order, Go zero values for what is absent. */
function l3afdProgram(p: BpfProgram): Record<string, unknown> {
  return {
    id: p.id ?? 0, name: p.name, seq_id: p.seq_id ?? 0, artifact: p.artifact, map_name: p.map_name ?? '',
    cmd_start: p.cmd_start ?? '', cmd_stop: p.cmd_stop ?? '', cmd_status: p.cmd_status ?? '', cmd_config: p.cmd_config ?? '',
    cmd_update: p.cmd_update ?? '', version: p.version, user_program_daemon: p.user_program_daemon ?? false, is_plugin: p.is_plugin ?? false,
    cpu: p.cpu ?? 0, memory: p.memory ?? 0, admin_status: p.admin_status, prog_type: p.prog_type ?? '', rules_file: p.rules_file ?? '',
    rules: p.rules ?? '', config_file_path: p.config_file_path ?? '', cfg_version: p.cfg_version ?? 0,
    start_args: p.start_args ?? null, stop_args: p.stop_args ?? null, status_args: p.status_args ?? null, update_args: p.update_args ?? null,
    map_args: p.map_args ?? null, config_args: p.config_args ?? null, monitor_maps: p.monitor_maps ?? null,
    ebpf_package_repo_url: p.ebpf_package_repo_url ?? '', object_file: p.object_file ?? '', entry_function_name: p.entry_function_name ?? '',
  };
}

type Lists = { xdp_ingress?: BpfProgram[]; tc_ingress?: BpfProgram[]; tc_egress?: BpfProgram[] };

/** l3afd's GET /l3af/configs/v1/<iface> text for that state (lists in chain order, null when empty). */
function l3afdGet(host: string, iface: string, ipv4: string, lists: Lists): string {
  const list = (l?: BpfProgram[]): unknown => (l && l.length > 0 ? [...l].sort((a, b) => (a.seq_id ?? 0) - (b.seq_id ?? 0)).map(l3afdProgram) : null);
  return JSON.stringify({
    host_name: host, iface, ipv4_address: ipv4,
    bpf_programs: { xdp_ingress: list(lists.xdp_ingress), tc_ingress: list(lists.tc_ingress), tc_egress: list(lists.tc_egress), probes: null },
  }, null, 2);
}

/**
 * What the kernel runs at the hooks of `iface`: the XDP program id and the clsact filters' ids as bpftool shows
 * them, plus the program of a pinned TCX link (bpftool 7.1 does not list TCX under `net show`; the link's info is
 * read from the kernel).
 */
function bpftoolNet(pinRoot: string, iface: string): { xdp: number | undefined; ingress: number[]; egress: number[] } {
  const out = JSON.parse(execFileSync('bpftool', ['-j', 'net', 'show', 'dev', iface], { encoding: 'utf8' })) as Array<{
    xdp?: Array<{ id: number }>; tc?: Array<{ kind: string; id: number }>;
  }>;
  const e = out[0] ?? {};
  const tc = (dir: 'ingress' | 'egress'): number[] => {
    const filters = (e.tc ?? []).filter((t) => t.kind.endsWith(dir)).map((t) => t.id);
    const viaLink = filters.length === 0 ? tcHookProgId(pinRoot, iface, dir) : undefined;
    return viaLink === undefined ? filters : [viaLink];
  };
  return { xdp: e.xdp?.[0]?.id, ingress: tc('ingress'), egress: tc('egress') };
}

/** bpftool's view of a program id (undefined when the kernel has no such program). */
function bpftoolProg(id: number): { type: string; name: string } | undefined {
  try {
    return JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'id', String(id)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { type: string; name: string };
  } catch {
    return undefined;
  }
}

async function sendFromRoot(host: string, port: number, count: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  try {
    for (let i = 0; i < count; i++) await new Promise<void>((res, rej) => sock.send(Buffer.alloc(32), port, host, (err) => (err ? rej(err) : res())));
  } finally {
    sock.close();
  }
}

/** An agent in process: engine + REST server over `config` (stop leaves the data plane, like a restart). */
class Agent {
  private constructor(readonly engine: Engine, readonly app: FastifyInstance) {}
  static async start(config: AgentConfig): Promise<Agent> {
    const engine = createEngine(config, {
      chainManager: (roots) => new ChainManager(chainManagerOptions(config, roots)),
    });
    await engine.start();
    const app = await buildServer({ engine, config, logger: createLogger({ level: 'silent', env: {} }) });
    return new Agent(engine, app);
  }
  async post(op: 'add' | 'update' | 'delete', body: unknown): Promise<number> {
    const r = await this.app.inject({ method: 'POST', url: `/l3af/configs/v1/${op}`, payload: body as object });
    return r.statusCode;
  }
  async getText(iface: string): Promise<string> {
    const r = await this.app.inject({ method: 'GET', url: `/l3af/configs/v1/${iface}` });
    assert.equal(r.statusCode, 200);
    return r.body;
  }
  async getAllText(): Promise<string> {
    const r = await this.app.inject({ method: 'GET', url: '/l3af/configs/v1' });
    assert.equal(r.statusCode, 200);
    return r.body;
  }
  async chainIds(iface: string): Promise<Record<string, number[]>> {
    const r = await this.app.inject({ method: 'GET', url: `/l3af/chains/${iface}` });
    const doc = r.json() as { chains: Array<{ direction: string; root: { kernel_prog_id: number }; programs: Array<{ kernel_prog_id: number; linked: boolean }> }> };
    const out: Record<string, number[]> = {};
    for (const c of doc.chains) {
      assert.ok(c.programs.every((p) => p.linked), `${c.direction}: every program linked`);
      out[c.direction] = [c.root.kernel_prog_id, ...c.programs.map((p) => p.kernel_prog_id)];
    }
    return out;
  }
  async stop(unload = false): Promise<void> {
    await this.app.close();
    await this.engine.stop({ unload });
  }
}

function mapValue(path: string): bigint {
  using m = BpfMap.openPinned(path);
  return m.typed(u32, u64).get(0) ?? -1n;
}

test('l3afd end-to-end order: GET byte for byte, programs in the kernel, counters under traffic', { skip, timeout: 300_000 }, async (t) => {
  await using bed = await EngineLab.create();
  const { lab, fs, state } = bed;
  const repo = await dropinRepo(state.path);
  const capRepo = countAndPassRepo(state.path, ['cap-x', 'traffic-mirroring']);
  const iface = lab.rootIfname;
  const host = hostName();
  const ipv4 = lab.rootAddress;
  const config = testConfig(fs.path, state.path);
  const el = (lists: Lists): unknown => [{ host_name: host, iface, ipv4_address: ipv4, bpf_programs: lists }];
  const capX = (seq: number): BpfProgram => countAndPass('cap-x', seq, { ebpf_package_repo_url: capRepo, cfg_version: 1 });
  const mirror = (seq: number): BpfProgram => countAndPass('traffic-mirroring', seq, {
    ebpf_package_repo_url: capRepo, prog_type: 'tc', object_file: 'count_and_pass_tc.bpf.o', entry_function_name: 'tc_count_and_pass', map_name: 'tc_cap_next_prog',
  });
  const L = new PinLayout(fs.path);
  const limitDir = (ver = 'latest'): string => L.mapDir(iface, 'xdp_ingress', 'dropin-limit', ver);
  const dirMaps = join(fs.path, 'tc', 'globals', iface, 'dropin-dir', 'latest');
  let agent = await Agent.start(config);
  const counters: Counter[] = [];
  try {
    // ---- 1. add with chaining: a ratelimiting-shaped XDP program and a counter behind it, an ipfix-shaped pair on TC
    let lists: Lists = {
      xdp_ingress: [dropinLimit(repo, 1, 9100, 5), capX(2)],
      tc_ingress: [dropinDir(repo, 'ingress', 1)],
      tc_egress: [dropinDir(repo, 'egress', 1)],
    };
    assert.equal(await agent.post('add', el(lists)), 200);
    assert.equal(await agent.getText(iface), l3afdGet(host, iface, ipv4, lists), 'step 1: GET as l3afd');
    assert.equal(await agent.getAllText(), JSON.stringify([JSON.parse(l3afdGet(host, iface, ipv4, lists))], null, 2), 'step 1: GET all as l3afd (indented too)');
    const ids1 = await agent.chainIds(iface);
    let net = bpftoolNet(fs.path, iface);
    assert.equal(net.xdp, ids1.xdp_ingress?.[0], 'bpftool: the XDP root is attached');
    assert.deepEqual([net.ingress, net.egress], [[ids1.tc_ingress?.[0]], [ids1.tc_egress?.[0]]], 'bpftool: the TC roots are attached');
    for (const id of Object.values(ids1).flat()) assert.ok(bpftoolProg(id), `bpftool prog show id ${id}`);
    assert.equal(bpftoolProg(ids1.xdp_ingress?.[1] ?? 0)?.name, 'xdp_dropin_limit', 'the kernel name of dropin-limit');
    const capCounter = new Counter('cap-x', L.mapPath(iface, 'xdp_ingress', 'cap-x', 'latest', 'xdp_cap_count'));
    const ing = new Counter('dd-ingress', join(dirMaps, 'dd_ingress_count'));
    const eg = new Counter('dd-egress', join(dirMaps, 'dd_egress_count'));
    counters.push(capCounter, ing, eg);
    let capBefore = capCounter.read();
    await sendUdpReport(lab, { port: 9100, count: 20, ratePps: 2000 });
    assert.equal(mapValue(join(limitDir(), 'dl_recv_count')), 20n);
    assert.equal(mapValue(join(limitDir(), 'dl_drop_count')), 15n, 'limits exactly: monitored keys written at load');
    const passed = capCounter.read() - capBefore;
    assert.ok(passed >= 5n && passed < 20n, `cap-x saw the 5 allowed, not the 15 dropped (${passed})`);
    await sendFromRoot(lab.peerAddress, 9001, 30);
    assert.ok(ing.read() >= 5n && eg.read() >= 30n, `TC pair counts both ways: ingress after XDP (5 passed), egress (${ing.read()}, ${eg.read()})`);

    // ---- 2. restart: a new agent over the same store and pins; GET and kernel ids unchanged
    const get1 = await agent.getText(iface);
    await agent.stop();
    agent = await Agent.start(config);
    assert.equal(await agent.getText(iface), get1, 'step 2: GET after restart');
    assert.deepEqual(await agent.chainIds(iface), ids1, 'step 2: same kernel programs');
    assert.equal(bpftoolNet(fs.path, iface).xdp, ids1.xdp_ingress?.[0]);

    // ---- 3. update: dropin-limit allows 3 (map_args), cap-x moves in front of it (seq_id)
    lists = { ...lists, xdp_ingress: [dropinLimit(repo, 1, 9100, 3), capX(0)] };
    assert.equal(await agent.post('update', el(lists)), 200);
    assert.equal(await agent.getText(iface), l3afdGet(host, iface, ipv4, lists), 'step 3: GET as l3afd (chain order)');
    const ids3 = await agent.chainIds(iface);
    assert.equal(ids3.xdp_ingress?.length, 3, 'root, cap-x, dropin-limit, all linked');
    assert.equal(bpftoolProg(ids3.xdp_ingress?.[2] ?? 0)?.name, 'xdp_dropin_limit', 'dropin-limit is second now (a move rebuilds it hitlessly, maps kept)');
    capBefore = capCounter.read();
    const dropsBefore = mapValue(join(limitDir(), 'dl_drop_count'));
    await sendUdpReport(lab, { port: 9100, count: 10, ratePps: 2000 });
    assert.equal(mapValue(join(limitDir(), 'dl_drop_count')) - dropsBefore, 10n, 'allowed 3 of 30 seen: all 10 dropped');
    assert.ok(capCounter.read() - capBefore >= 10n, 'cap-x (now first) saw every candidate');

    // ---- 4. add traffic-mirroring behind the TC ingress one
    const added = { ...lists, tc_ingress: [...(lists.tc_ingress ?? []), mirror(2)] };
    assert.equal(await agent.post('add', el({ tc_ingress: [mirror(2)] })), 200);
    lists = added;
    assert.equal(await agent.getText(iface), l3afdGet(host, iface, ipv4, lists), 'step 4: GET as l3afd');
    const mirrorCounter = new Counter('mirror', L.mapPath(iface, 'tc_ingress', 'traffic-mirroring', 'latest', 'tc_cap_count'));
    counters.push(mirrorCounter);
    const ingBefore = ing.read();
    await sendUdpReport(lab, { port: 9000, count: 40, ratePps: 4000 });
    assert.ok(ing.read() - ingBefore >= 40n && mirrorCounter.read() >= 40n, 'both TC ingress programs count');

    // ---- 5. delete the ipfix-shaped pair
    assert.equal(await agent.post('delete', [{ host_name: host, iface, bpf_programs: { tc_ingress: ['dropin-dir'], tc_egress: ['dropin-dir'] } }]), 200);
    lists = { xdp_ingress: lists.xdp_ingress ?? [], tc_ingress: [mirror(2)] };
    assert.equal(await agent.getText(iface), l3afdGet(host, iface, ipv4, lists), 'step 5: GET as l3afd');
    net = bpftoolNet(fs.path, iface);
    assert.deepEqual(net.egress, [], 'bpftool: no TC egress filter left');
    const mBefore = mirrorCounter.read();
    await sendUdpReport(lab, { port: 9000, count: 20, ratePps: 4000 });
    assert.ok(mirrorCounter.read() - mBefore >= 20n, 'traffic-mirroring still counts');

    // ---- 6. delete all: the interface stays with its address and null lists (l3afd keeps it)
    const before6 = await agent.chainIds(iface);
    assert.equal(await agent.post('delete', [{ host_name: host, iface, bpf_programs: { xdp_ingress: ['dropin-limit', 'cap-x'], tc_ingress: ['traffic-mirroring'] } }]), 200);
    assert.equal(await agent.getText(iface), l3afdGet(host, iface, ipv4, {}), 'step 6: GET as l3afd');
    assert.equal(await agent.getAllText(), JSON.stringify([JSON.parse(l3afdGet(host, iface, ipv4, {}))], null, 2), 'step 6: GET all lists the interface (l3afd keeps it)');
    assert.deepEqual(bpftoolNet(fs.path, iface), { xdp: undefined, ingress: [], egress: [] }, 'bpftool: nothing attached');
    // (the kernel frees a detached link, and what it held, after an RCU grace period: give it up to 5 s)
    for (const id of Object.values(before6).flat()) {
      const end = Date.now() + 5000;
      while (bpftoolProg(id) !== undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      assert.equal(bpftoolProg(id), undefined, `program ${id} is gone`);
    }

    // ---- 7. restart without chaining
    await agent.stop();
    config.l3afd.bpfChainingEnabled = false;
    agent = await Agent.start(config);
    assert.equal(await agent.getText(iface), l3afdGet(host, iface, ipv4, {}), 'step 7: GET after restart without chaining');

    // ---- 8. add / update / delete without chaining: each program attached directly
    lists = { xdp_ingress: [dropinLimit(repo, 1, 9100, 5)], tc_ingress: [mirror(1)] };
    assert.equal(await agent.post('add', el(lists)), 200);
    assert.equal(await agent.getText(iface), l3afdGet(host, iface, ipv4, lists), 'step 8: GET as l3afd');
    const ids8 = await agent.chainIds(iface);
    net = bpftoolNet(fs.path, iface);
    assert.equal(net.xdp, ids8.xdp_ingress?.[0], 'bpftool: dropin-limit itself is attached to XDP');
    assert.equal(bpftoolProg(net.xdp ?? 0)?.name, 'xdp_dropin_limit');
    assert.deepEqual(net.ingress, [ids8.tc_ingress?.[0]], 'bpftool: traffic-mirroring itself is the TC ingress filter');
    const recv0 = mapValue(join(limitDir(), 'dl_recv_count'));
    const drop0 = mapValue(join(limitDir(), 'dl_drop_count'));
    await sendUdpReport(lab, { port: 9100, count: 20, ratePps: 2000 });
    assert.equal(mapValue(join(limitDir(), 'dl_recv_count')) - recv0, 20n);
    assert.equal(mapValue(join(limitDir(), 'dl_drop_count')) - drop0, 20n - (recv0 >= 5n ? 0n : 5n - recv0), 'limits without chaining');

    lists = { ...lists, xdp_ingress: [dropinLimit(repo, 1, 9100, 100, { version: '1.0.0' })] };
    assert.equal(await agent.post('update', el(lists)), 200);
    assert.equal(await agent.getText(iface), l3afdGet(host, iface, ipv4, lists), 'step 8: GET after update');
    net = bpftoolNet(fs.path, iface);
    assert.notEqual(net.xdp, ids8.xdp_ingress?.[0], 'the new version is attached in place of the old');
    // (an intended difference: l3af carries the maps over to the new version; l3afd's per-version pins start afresh)
    const recvCarried = mapValue(join(limitDir('1.0.0'), 'dl_recv_count'));
    const dropCarried = mapValue(join(limitDir('1.0.0'), 'dl_drop_count'));
    assert.equal(recvCarried, 20n, 'the counters carried over to the new version');
    await sendUdpReport(lab, { port: 9100, count: 20, ratePps: 2000 });
    assert.equal(mapValue(join(limitDir('1.0.0'), 'dl_recv_count')), recvCarried + 20n);
    assert.equal(mapValue(join(limitDir('1.0.0'), 'dl_drop_count')), dropCarried, 'allowed 100: nothing more dropped');

    assert.equal(await agent.post('delete', [{ host_name: host, iface, bpf_programs: { xdp_ingress: ['dropin-limit'], tc_ingress: ['traffic-mirroring'] } }]), 200);
    assert.equal(await agent.getText(iface), l3afdGet(host, iface, ipv4, {}), 'step 8: GET after delete');
    assert.deepEqual(bpftoolNet(fs.path, iface), { xdp: undefined, ingress: [], egress: [] });
    t.diagnostic(`chained ids ${JSON.stringify(ids1)}; direct ids ${JSON.stringify(ids8)}`);
  } finally {
    for (const c of counters) c.close();
    await agent.stop(true).catch(() => undefined);
  }
});
