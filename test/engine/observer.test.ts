// The engine tells its observer about program lifecycle, with what the kernel holds: programStarted on add (progId
// = the kernel id describe() reads back, mapPinDir = the pinned maps), programUpdated on map_args (same id), on a
// replacement and on a move (new ids), programStopped on disable / delete / stop({unload}), deployFailed for a
// program that never ran, updateFailed for a running one whose change failed; running() lists what runs; a second
// engine tells programStarted for what it adopted (same ids). A throwing observer does not fail an operation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { createEngine, type EngineObserver, type ProgramRef, type RunningProgram } from '../../agent/src/engine/index.ts';
import type { AgentConfig } from '../../agent/src/config/index.ts';
import { skipUnless, EngineLab } from '../harness/index.ts';
import { countAndPass, countAndPassRepo, ratelimiting, xdpBody } from './helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

type Event =
  | { kind: 'started' | 'stopped' | 'updated'; p: RunningProgram }
  | { kind: 'updateFailed' | 'deployFailed'; p: ProgramRef; reason: string };

class Recorder implements EngineObserver {
  events: Event[] = [];
  programStarted(p: RunningProgram): void { this.events.push({ kind: 'started', p }); }
  programStopped(p: RunningProgram): void { this.events.push({ kind: 'stopped', p }); }
  programUpdated(p: RunningProgram): void { this.events.push({ kind: 'updated', p }); }
  updateFailed(p: ProgramRef, reason: string): void { this.events.push({ kind: 'updateFailed', p, reason }); }
  deployFailed(p: ProgramRef, reason: string): void { this.events.push({ kind: 'deployFailed', p, reason }); }
  /** The events since the last take(), and clears them. */
  take(): Event[] {
    const e = this.events;
    this.events = [];
    return e;
  }
}

function observed(config: AgentConfig, observer: EngineObserver): { engine: ReturnType<typeof createEngine>; chains: () => ChainManager } {
  let cm: ChainManager | undefined;
  const engine = createEngine(config, {
    observer,
    chainManager: (roots) => (cm = new ChainManager({ pinRoot: config.l3afd.bpfMapDefaultPath, roots })),
  });
  return { engine, chains: () => cm as ChainManager };
}

/** progId of a lifecycle event's program (undefined for failures). */
const idOf = (e: Event | undefined): number | undefined => (e && 'progId' in e.p ? e.p.progId : undefined);

const summary = (events: Event[]): string[] => events.map((e) => `${e.kind}:${e.p.name}`);

test('observer: started / updated / stopped / failed with kernel ids and pin dirs; running(); adopt after restart', { skip, timeout: 180_000 }, async () => {
  await using bed = await EngineLab.create();
  const { fs, state, iface, host, config } = bed;
  const repo = countAndPassRepo(state.path, ['cap', 'bad-object']);
  const rec = new Recorder();
  const first = observed(config, rec);
  let second: ReturnType<typeof observed> | undefined;
  const ipv4 = '10.1.2.3';
  const body = (programs: Parameters<typeof xdpBody>[2]) => xdpBody(host, iface, programs).map((e) => ({ ...e, ipv4_address: ipv4 }));
  try {
    await first.engine.start();
    assert.deepEqual(rec.take(), [], 'nothing stored: no events');
    assert.deepEqual(first.engine.running(), []);

    // add: started, with the id the kernel shows and the directory of the pinned maps
    const rl = ratelimiting(1, 2, [8080]);
    const cap = countAndPass('cap', 2, { ebpf_package_repo_url: repo });
    await first.engine.add(body([rl, cap]));
    let d = first.chains().describe(iface, 'xdp_ingress');
    let ev = rec.take();
    assert.deepEqual(summary(ev), ['started:ratelimiting', 'started:cap']);
    const started = ev.map((e) => e.p as RunningProgram);
    assert.deepEqual(started.map((p) => p.progId), d.programs.map((p) => p.id), 'progId is the kernel id');
    const rlStarted = started[0] as RunningProgram;
    assert.deepEqual({ ...rlStarted, mapPinDir: undefined, figures: undefined }, {
      iface, direction: 'xdp_ingress', name: 'ratelimiting', version: 'latest', ipv4, progId: d.programs[0]?.id,
      mapPinDir: undefined, monitorMaps: rl.monitor_maps, eventMaps: null, mapArgs: rl.map_args, figures: undefined,
    });
    assert.ok((rlStarted.figures?.verifiedInstructions ?? 0) > 0 && (rlStarted.figures?.loadMs ?? 0) > 0, 'the verifier figures and the load time come with it');
    assert.equal(rlStarted.mapPinDir, join(fs.path, iface, 'ratelimiting', 'latest'));
    assert.ok(existsSync(join(rlStarted.mapPinDir, 'rl_config_map')), 'mapPinDir holds the pinned maps');
    assert.deepEqual(first.engine.running(), started, 'running() lists what was started');

    // map_args only: updated, same kernel program
    await first.engine.update(body([ratelimiting(1, 5, [8080]), cap]));
    ev = rec.take();
    assert.deepEqual(summary(ev), ['updated:ratelimiting']);
    assert.equal(idOf(ev[0]), d.programs[0]?.id, 'map_args: same program');

    // a replacement that fails (the default repository has no package called cap): updateFailed, cap runs on
    const r = await first.engine.update(body([ratelimiting(1, 5, [8080]), countAndPass('cap', 2)]));
    assert.deepEqual(r.results.map((x) => x.outcome), ['unchanged', 'failed'], 'the default repository has no package called cap');
    ev = rec.take();
    assert.deepEqual(summary(ev), ['updateFailed:cap'], 'a failed change of a running program');
    assert.match((ev[0] as { reason: string }).reason, /cap/);

    // a replacement (version upgrade): updated with the new kernel id, version and pin directory

    const capV = countAndPass('cap', 2, { ebpf_package_repo_url: repo, version: '1.0.0' });
    cpSync(join(state.path, 'extra-repo', 'cap', 'latest'), join(state.path, 'extra-repo', 'cap', '1.0.0'), { recursive: true });
    await first.engine.update(body([ratelimiting(1, 5, [8080]), capV]));
    d = first.chains().describe(iface, 'xdp_ingress');
    ev = rec.take();
    assert.deepEqual(summary(ev), ['updated:cap']);
    const capUpgraded = ev[0]?.p as RunningProgram;
    assert.equal(capUpgraded.version, '1.0.0');
    assert.equal(capUpgraded.progId, d.programs[1]?.id, 'the new program\'s id');
    assert.notEqual(capUpgraded.progId, started[1]?.progId, 'a replacement is a new kernel program');
    assert.equal(capUpgraded.mapPinDir, join(fs.path, iface, 'cap', '1_0_0'));

    // a move (seq_id): updated, with the id of the program now in the chain
    await first.engine.update(body([ratelimiting(3, 5, [8080]), capV]));
    d = first.chains().describe(iface, 'xdp_ingress');
    assert.deepEqual(d.programs.map((p) => p.name), ['cap', 'ratelimiting']);
    ev = rec.take();
    assert.deepEqual(summary(ev), ['updated:ratelimiting']);
    assert.equal(idOf(ev[0]), d.programs[1]?.id);

    // a program that cannot be loaded: deployFailed, nothing started
    await first.engine.add(body([countAndPass('bad-object', 4, { object_file: 'nope.bpf.o', ebpf_package_repo_url: repo })]));
    ev = rec.take();
    assert.deepEqual(summary(ev), ['deployFailed:bad-object']);
    assert.deepEqual({ ...ev[0]?.p }, { iface, direction: 'xdp_ingress', name: 'bad-object', version: 'latest', ipv4 });
    assert.match((ev[0] as { reason: string }).reason, /nope\.bpf\.o/);

    // disabled: stopped (with the id it had); running() no longer lists it
    await first.engine.update(body([ratelimiting(3, 5, [8080]), { ...capV, admin_status: 'disabled' }]));
    ev = rec.take();
    assert.deepEqual(summary(ev), ['stopped:cap']);
    assert.equal(idOf(ev[0]), d.programs[0]?.id);
    assert.deepEqual(first.engine.running().map((p) => p.name), ['ratelimiting']);
    // enabled again: started
    await first.engine.update(body([ratelimiting(3, 5, [8080]), capV]));
    d = first.chains().describe(iface, 'xdp_ingress');
    ev = rec.take();
    assert.deepEqual(summary(ev), ['started:cap']);
    assert.equal(idOf(ev[0]), d.programs[0]?.id);

    // restart: a second engine adopts the chain and tells programStarted with the same ids
    const before = first.engine.running();
    await first.engine.stop();
    assert.deepEqual(rec.take(), [], 'stop() without unload: the programs keep running, no events');
    const rec2 = new Recorder();
    second = observed(config, rec2);
    await second.engine.start();
    ev = rec2.take();
    assert.deepEqual(summary(ev).sort(), ['started:cap', 'started:ratelimiting']);
    // adopted from pins: the same programs and kernel figures, no load time (nothing was loaded)
    const unloaded = (p: RunningProgram): RunningProgram => {
      if (!p.figures) return p;
      const { loadMs: _loadMs, ...figures } = p.figures;
      return { ...p, figures };
    };
    assert.deepEqual(ev.map((e) => e.p).sort((a, b) => a.name.localeCompare(b.name)), [...before].map(unloaded).sort((a, b) => a.name.localeCompare(b.name)));
    assert.deepEqual(second.engine.running(), before.map(unloaded), 'running() after adoption equals running() before the restart');

    // a throwing observer is logged, not fatal
    rec2.programStopped = (p: RunningProgram): void => { rec2.events.push({ kind: 'stopped', p }); throw new Error('observer broke'); };
    const del = await second.engine.delete([{ host_name: host, iface, bpf_programs: { xdp_ingress: ['cap'] } }]);
    assert.deepEqual(del.results.map((x) => x.outcome), ['removed'], 'the operation succeeds although the observer threw');
    assert.deepEqual(summary(rec2.take()), ['stopped:cap']);

    // stop({unload}): stopped for each program
    await second.engine.stop({ unload: true });
    ev = rec2.take();
    assert.deepEqual(summary(ev), ['stopped:ratelimiting']);
    assert.deepEqual(second.engine.running(), []);
  } finally {
    await first.engine.stop({ unload: true }).catch(() => undefined);
    await second?.engine.stop({ unload: true }).catch(() => undefined);
  }
});
