// What is answered is what is true:
// - the config store on a full file system (a small tmpfs this test mounts and fills): add and update answer 500
//   naming the store's path and ENOSPC, and GET, the store and the kernel chain (bpftool) are exactly as before;
//   after space is freed the same add succeeds;
// - a store write that fails after the kernel changed (its commit) rolls the kernel change back;
// - an interface field (ipv4_address "10.78.0.1" → "") on an add or update whose programs are unchanged is
//   applied, as l3afd records it on add and update, and reported under `interfaces`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer } from '../../agent/src/api/server.ts';
import { createLogger } from '../../agent/src/log.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { createEngine } from '../../agent/src/engine/index.ts';
import { ConfigStore, StoreError, type Reservation } from '../../agent/src/store/index.ts';
import type { AddUpdateBody } from '../../agent/src/payload/index.ts';
import { skipUnless, EngineLab } from '../harness/index.ts';
import { countAndPass, engineWithChains, ratelimiting, testConfig, withoutStatus, xdpBody } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

/** A tmpfs of `size` mounted on a fresh folder; unmounted and removed by dispose. */
class SmallTmpfs {
  readonly path = mkdtempSync(join(tmpdir(), `l3af-full-${process.pid}-`));
  constructor(size: string) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', this.path]);
  }
  /** Fills the file system with one file until ENOSPC; returns its path. */
  fill(): string {
    const f = join(this.path, 'filler');
    const chunk = Buffer.alloc(1024, 0x41);
    let data = Buffer.alloc(0);
    for (;;) {
      try {
        writeFileSync(f, Buffer.concat([data, chunk]));
        data = Buffer.concat([data, chunk]);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        writeFileSync(f, data);
        // the last partial page too
        for (let n = 512; n >= 1; n = Math.floor(n / 2)) {
          try { writeFileSync(f, Buffer.concat([data, Buffer.alloc(n, 0x41)])); data = Buffer.concat([data, Buffer.alloc(n, 0x41)]); } catch { /* full */ }
        }
        return f;
      }
    }
  }
  [Symbol.dispose](): void {
    try { execFileSync('umount', [this.path]); } finally { rmSync(this.path, { recursive: true, force: true }); }
  }
}

/** Program ids of the XDP chain as bpftool sees it: the program attached to the hook, then each slot's holder. */
function bpftoolChain(iface: string, rootArrayPin: string): { attached: number[]; slot0: number | undefined } {
  const net = JSON.parse(execFileSync('bpftool', ['-j', 'net', 'show', 'dev', iface], { encoding: 'utf8' })) as Array<{ xdp?: Array<{ id: number }> }>;
  const attached = net.flatMap((n) => n.xdp ?? []).map((x) => x.id);
  const dump = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', rootArrayPin], { encoding: 'utf8' })) as Array<{ value?: number; formatted?: { value?: number } }>;
  const v = dump[0];
  return { attached, slot0: v?.formatted?.value ?? v?.value };
}

test('store on a full file system: 500 naming the path and ENOSPC, GET / store / kernel chain unchanged; fine again after space is freed', { skip, timeout: 120_000 }, async () => {
  await using bed = await EngineLab.create();
  const { lab, fs, state } = bed;
  using small = new SmallTmpfs('32k');
  const iface = lab.rootIfname;
  const host = hostName();
  const config = testConfig(fs.path, state.path);
  config.l3afConfigStore.filename = join(small.path, 'l3af-config.json');
  const store = new ConfigStore(config.l3afConfigStore.filename);
  const { engine, chains } = engineWithChains(config);
  const app = await buildServer({ engine, config, logger: createLogger({ level: 'silent', env: {} }) });
  try {
    await engine.start();
    const post = async (op: string, b: unknown) => {
      const r = await app.inject({ method: 'POST', url: `/l3af/configs/v1/${op}`, payload: b as object });
      return { status: r.statusCode, body: r.json() as { error?: string; problems?: Array<{ path: string; message: string }>; results?: Array<{ outcome: string }> } };
    };
    const seed = [{ ...xdpBody(host, iface, [ratelimiting(1, 2, [8080])])[0], ipv4_address: '10.78.0.1' }];
    assert.equal((await post('add', seed)).status, 200);
    const rootPin = chains().layout.mapPath(iface, 'xdp_ingress', 'xdp-root', 'latest', 'xdp_root_array');
    const before = {
      get: withoutStatus(engine.get()), store: await store.read(), ids: chains().describe(iface, 'xdp_ingress').programs.map((p) => p.id),
      bpftool: bpftoolChain(iface, rootPin),
    };
    assert.equal(before.bpftool.slot0, before.ids[0], 'bpftool: the root array holds ratelimiting');
    const unchanged = async (what: string): Promise<void> => {
      assert.deepEqual(withoutStatus(engine.get()), before.get, `${what}: GET`);
      assert.deepEqual(await store.read(), before.store, `${what}: store`);
      assert.deepEqual(chains().describe(iface, 'xdp_ingress').programs.map((p) => p.id), before.ids, `${what}: chain`);
      assert.deepEqual(bpftoolChain(iface, rootPin), before.bpftool, `${what}: bpftool`);
    };

    const filler = small.fill();
    const add = await post('add', xdpBody(host, iface, [countAndPass('count-and-pass', 2)]));
    assert.equal(add.status, 500, JSON.stringify(add.body));
    assert.deepEqual(Object.keys(add.body).sort(), ['error', 'problems']);
    const msg = add.body.problems?.[0]?.message ?? '';
    assert.ok(msg.includes(config.l3afConfigStore.filename), msg);
    assert.match(msg, /ENOSPC/);
    await unchanged('add on a full file system');

    const upd = await post('update', [{ ...seed[0], ipv4_address: '', bpf_programs: { xdp_ingress: [ratelimiting(1, 9, [8080, 9090]), countAndPass('count-and-pass', 2)] } }]);
    assert.equal(upd.status, 500, JSON.stringify(upd.body));
    await unchanged('update on a full file system');
    const del = await post('delete', [{ host_name: host, iface, bpf_programs: { xdp_ingress: ['ratelimiting'] } }]);
    assert.equal(del.status, 500, JSON.stringify(del.body));
    await unchanged('delete on a full file system');

    rmSync(filler);
    const again = await post('add', xdpBody(host, iface, [countAndPass('count-and-pass', 2)]));
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(withoutStatus(engine.get()), await store.read(), 'stored once space is back');
    assert.equal(chains().describe(iface, 'xdp_ingress').programs.length, 2);
  } finally {
    await app.close();
    await engine.stop({ unload: true });
  }
});

/** A store whose commits fail (after the reservation succeeded) while `failing` is set. */
class FailingCommitStore extends ConfigStore {
  failing = false;
  override async reserve(bytes: number): Promise<Reservation> {
    const r = await super.reserve(bytes);
    if (!this.failing) return r;
    return Object.assign(r, {
      commit: async () => {
        await r.release();
        throw new StoreError(this.path, 'cannot be written: ENOSPC: no space left on device, rename (test)');
      },
    });
  }
}

test('a store write that fails after the kernel changed rolls the change back: add, update and delete', { skip, timeout: 120_000 }, async () => {
  await using bed = await EngineLab.create();
  const { iface, host, config } = bed;
  const store = new FailingCommitStore(config.l3afConfigStore.filename);
  let cm: ChainManager | undefined;
  const engine = createEngine(config, { store, chainManager: (roots) => (cm = new ChainManager({ pinRoot: config.l3afd.bpfMapDefaultPath, roots })) });
  try {
    await engine.start();
    await engine.add(xdpBody(host, iface, [ratelimiting(1, 2, [8080])]));
    const ids = (): number[] => cm?.describe(iface, 'xdp_ingress').programs.map((p) => p.id) ?? [];
    const before = { get: withoutStatus(engine.get()), stored: await store.read(), ids: ids() };
    store.failing = true;
    await assert.rejects(engine.add(xdpBody(host, iface, [countAndPass('count-and-pass', 2)])), /ENOSPC.*rolled back, nothing was changed/);
    assert.deepEqual(withoutStatus(engine.get()), before.get);
    assert.deepEqual(ids(), before.ids, 'count-and-pass left the chain again');
    await assert.rejects(engine.update(xdpBody(host, iface, [ratelimiting(1, 5, [9090])])), /rolled back/);
    assert.deepEqual(withoutStatus(engine.get()), before.get, 'update rolled back');
    assert.equal(cm?.describe(iface, 'xdp_ingress').programs.length, 1);
    await assert.rejects(engine.delete([{ host_name: host, iface, bpf_programs: { xdp_ingress: ['ratelimiting'] } }]), /rolled back/);
    assert.deepEqual(withoutStatus(engine.get()), before.get, 'delete rolled back');
    assert.equal(cm?.describe(iface, 'xdp_ingress').programs.length, 1, 'ratelimiting is back in the chain');
    assert.deepEqual(await store.read(), before.stored);
    store.failing = false;
    const r = await engine.add(xdpBody(host, iface, [countAndPass('count-and-pass', 2)]));
    assert.deepEqual(r.results.map((x) => x.outcome), ['added']);
  } finally {
    await engine.stop({ unload: true });
  }
});

test('an interface field changed beside unchanged programs is applied and reported (add and update), as l3afd records it', { skip, timeout: 120_000 }, async () => {
  await using bed = await EngineLab.create();
  const { iface, host, config } = bed;
  const store = new ConfigStore(config.l3afConfigStore.filename);
  const { engine } = engineWithChains(config);
  const el = (ipv4?: string): AddUpdateBody[number] => ({
    host_name: host, iface, bpf_programs: { xdp_ingress: [ratelimiting(1, 2, [8080])] }, ...(ipv4 === undefined ? {} : { ipv4_address: ipv4 }),
  });
  try {
    await engine.start();
    await engine.add([el('10.78.0.1')]);
    let r = await engine.add([el('')]);
    assert.deepEqual(r.results.map((x) => x.outcome), ['unchanged']);
    assert.deepEqual(r.interfaces, [{ iface, outcome: 'updated', reason: 'changed: ipv4_address ("10.78.0.1" → "")' }]);
    assert.equal(engine.get()[0]?.ipv4_address, '', 'GET holds what the answer says');
    assert.equal((await store.read())[0]?.ipv4_address, '', 'the store too');
    r = await engine.add([el('')]);
    assert.equal(r.interfaces, undefined, 'nothing changed, nothing reported');
    r = await engine.update([el('10.78.0.2')]);
    assert.deepEqual(r.results.map((x) => x.outcome), ['unchanged']);
    assert.deepEqual(r.interfaces, [{ iface, outcome: 'updated', reason: 'changed: ipv4_address ("" → "10.78.0.2")' }]);
    assert.equal((await store.read())[0]?.ipv4_address, '10.78.0.2');
    r = await engine.update([el()]);
    assert.equal(r.interfaces, undefined, 'an absent ipv4_address keeps the stored one');
    assert.equal(engine.get()[0]?.ipv4_address, '10.78.0.2');
  } finally {
    await engine.stop({ unload: true });
  }
});
