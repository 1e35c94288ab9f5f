/**
 * Start (store read, degraded start, managers built, adoption and repair, stored user programs and probes)
 * and stop (everything unloaded only with `unload`).
 */
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ArtifactStore, artifactStoreOptions } from '../artifacts/index.ts';
import { libbpfUnavailable } from '../bpf/index.ts';
import { CHAIN_DIRECTIONS, ChainManager, versionSegment, type AdoptedRef, type ChainDirection, type ProgramSpec, type RootSpecs } from '../chain/index.ts';
import { messageOf } from '../error-message.ts';
import type { NormalizedBpfProgram, NormalizedL3afBpfPrograms } from '../payload/index.ts';
import { platformName } from '../platform/platform-name.ts';
import { ProbeManager } from '../probes/index.ts';
import { StoreError } from '../store/index.ts';
import { Supervisor } from '../supervisor/index.ts';
import { chainManagerOptions } from './chain-options.ts';
import { moveInChain, programSpec, removeFromChain, writeMapArgs, insert, replaceSpanned } from './chain-steps.ts';
import { emptyLists, type PackageSource, type EngineCore } from './core.ts';
import { dropObjectProbes, pruneObjectProbes } from './object-probes.ts';
import { objectIn } from './packages.ts';
import { startProbes } from './probe-programs.ts';
import { bySeq, nativeProblem } from './program-diff.ts';
import { keyString, parseKey } from './program-key.ts';
import { adoptAtStart, reconcileChain } from './reconcile.ts';
import type { RunningProgram } from './types.ts';
import { removeSelfLinkPins, selfLinkProgram, checkRunning, userDir, beforeSpawn, startHealth, startStoredUserPrograms } from './user-program-runner.ts';
import { isSelfLinking, userKey } from './user-programs.ts';
import { UserRoots } from './user-roots.ts';

export function seg(version: string): string {
  return versionSegment(version);
}

export async function rootSpecs(c: EngineCore): Promise<RootSpecs> {
  const a = c.artifacts as PackageSource;
  const x = c.config.xdpRoot;
  const t = c.config.tcRoot;
  const [xp, tp] = await Promise.all([
    a.fetch({ name: x.packageName, version: x.version, artifact: x.artifact }),
    a.fetch({ name: t.packageName, version: t.version, artifact: t.artifact }),
  ]);
  return {
    xdp_ingress: { name: x.packageName, version: x.version, objectPath: objectIn(xp.dir, x.objectFile), entry: x.entryFunctionName, nextMap: x.ingressMapName },
    tc_ingress: { name: t.packageName, version: t.version, objectPath: objectIn(tp.dir, t.ingressObjectFile), entry: t.ingressEntryFunctionName, nextMap: t.ingressMapName },
    tc_egress: { name: t.packageName, version: t.version, objectPath: objectIn(tp.dir, t.egressObjectFile), entry: t.egressEntryFunctionName, nextMap: t.egressMapName } };
}

/** Roots that name the configured objects without fetching them (only when no libbpf API exists: never loaded). */
export function unusableRoots(c: EngineCore): RootSpecs {
  const x = c.config.xdpRoot;
  const t = c.config.tcRoot;
  return {
    xdp_ingress: { name: x.packageName, version: x.version, objectPath: x.objectFile, entry: x.entryFunctionName, nextMap: x.ingressMapName },
    tc_ingress: { name: t.packageName, version: t.version, objectPath: t.ingressObjectFile, entry: t.ingressEntryFunctionName, nextMap: t.ingressMapName },
    tc_egress: { name: t.packageName, version: t.version, objectPath: t.egressObjectFile, entry: t.egressEntryFunctionName, nextMap: t.egressMapName } };
}

export async function startEngine(c: EngineCore): Promise<void> {
  let stored: NormalizedL3afBpfPrograms[] = [];
  try {
    stored = c.store ? await c.store.read() : [];
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    // Degraded start: the agent answers (503 naming the file) but adopts, repairs and removes
    // nothing: what the kernel runs stays exactly as the previous agent left it.
    c.storeProblem = { file: err.path, error: err.message };
    c.log.error({ file: err.path, err: err.message }, 'DEGRADED START: the stored desired state cannot be read; serving 503 and changing nothing in the kernel until the file is fixed and the agent restarted');
    return;
  }
  if (c.deps.artifacts) {
    c.artifacts = c.deps.artifacts;
  } else {
    const platform = c.config.l3af.platform !== '' ? c.config.l3af.platform : platformName();
    c.artifacts = new ArtifactStore(artifactStoreOptions(c.config, platform, c.log));
    c.ownArtifacts = true;
  }
  const roots = await rootSpecs(c).catch((err: unknown) => {
    // without a libbpf API (Windows without eBPF-for-Windows) nothing can be chained anyway: the
    // engine still runs user programs; every kernel step fails naming the missing library
    const missing = libbpfUnavailable();
    if (missing === null) throw err;
    c.log.warn({ err: messageOf(err), libbpf: missing }, 'root packages unavailable; kernel programs cannot run here');
    return unusableRoots(c);
  });
  const cm = c.deps.chainManager ? c.deps.chainManager(roots) : new ChainManager(chainManagerOptions(c.config, roots));
  c.chain = cm;
  const dir = userDir(c);
  c.supervisor = c.deps.supervisor ?? new Supervisor({
    stateFile: join(dir, 'supervisor.json'), logDir: join(dir, 'logs'), logger: c.log,
    restart: { maxRestarts: c.config.l3afd.maxEbpfRestartCount }, // [l3afd] max-ebpf-restart-count
    beforeSpawn: (spec) => beforeSpawn(c, spec),
    // a user program that ended, gave up or came back: the observer hears it without waiting for the poll
    onEvent: (e) => {
      if (e.type === 'exited' || e.type === 'gave-up' || e.type === 'started') setImmediate(() => { checkRunning(c); c.status.refresh(); });
    } });
  c.probeManager = c.deps.probes ?? new ProbeManager({ pinRoot: c.config.l3afd.bpfMapDefaultPath, stateFile: join(c.config.l3af.stateDir, 'probes.json') });
  c.objectProbes = c.deps.objectProbes ?? new ProbeManager({
    pinRoot: join(c.config.l3afd.bpfMapDefaultPath, 'chain-probes'), stateFile: join(c.config.l3af.stateDir, 'chain-probes.json') });
  try {
    c.objectProbes.adopt(); // the sets a previous agent attached, before any replace compares with them
  } catch (err) {
    c.log.warn({ err: messageOf(err) }, 'adopting the pinned probes of chained objects failed');
  }
  c.userRoots = new UserRoots(c.config.l3afd.bpfMapDefaultPath, roots);
  for (const e of stored) {
    const lists = emptyLists();
    for (const d of CHAIN_DIRECTIONS) lists[d] = bySeq((e.bpf_programs[d] ?? []).filter((p) => p.admin_status === 'enabled'));
    for (const p of e.bpf_programs.probes ?? []) c.probesWanted.set(p.name, { iface: e.iface, p });
    c.setIface(e.iface, { host_name: e.host_name, ipv4_address: e.ipv4_address, lists });
  }
  // user programs a previous agent left: adopted when the stored state still wants them as they are
  const recovery = await c.supervisor.recover((spec) => {
    const k = parseKey(spec.key);
    const p = k && c.state.get(k.iface)?.lists[k.direction]?.find((x) => x.name === k.name);
    return p && p.admin_status === 'enabled' && isDeepStrictEqual(spec.program, p) ? 'adopt' : 'stop';
  });
  if (recovery.adopted.length + recovery.stopped.length > 0) c.log.info({ adopted: recovery.adopted, stopped: recovery.stopped }, 'user programs recovered');
  c.userRoots.adopt();

  // object files of the stored programs, so adopted ones can be rebuilt (moves, replace with maps)
  const objects = new Map<string, string>();
  const specs = new Map<string, ProgramSpec>();
  const chaining = c.config.l3afd.bpfChainingEnabled;
  for (const [iface, st] of c.state) {
    for (const d of CHAIN_DIRECTIONS) {
      for (const p of st.lists[d]) {
        if (p.admin_status !== 'enabled') continue;
        const problem = nativeProblem(p, chaining);
        if (problem) {
          c.rt(iface, d, p.name).lastError = problem;
          continue;
        }
        try {
          const spec = await programSpec(c, p, { iface, direction: d });
          specs.set(keyString(iface, d, p.name), spec);
          objects.set(`${keyString(iface, d, p.name)}/${seg(p.version)}/${p.entry_function_name}`, spec.objectPath);
        } catch (err) {
          c.rt(iface, d, p.name).lastError = `fetching the package failed: ${messageOf(err)}`;
        }
      }
    }
  }
  const objectPathFor = (r: AdoptedRef): string | undefined => objects.get(`${keyString(r.iface, r.direction, r.name)}/${r.versionSegment}/${r.entry}`);
  c.phase = 'running'; // the helpers below need a running engine
  await adoptAtStart({
    adopt: () => cm.adopt({ objectPathFor }),
    removeOrphan: (o) => cm.removeOrphan(o),
    chains: () => cm.chains(),
    programs: (iface, direction) => cm.programs(iface, direction),
    remove: (iface, direction, name) => removeFromChain(c, iface, direction, name),
    wanted: (iface, direction) => c.state.get(iface)?.lists[direction].length ?? 0,
    selfLinked: (iface, name) => CHAIN_DIRECTIONS.some((d) => c.state.get(iface)?.lists[d].some((p) => p.name === name && isSelfLinking(p))),
    log: c.log,
  });
  for (const [iface, st] of c.state) {
    for (const d of CHAIN_DIRECTIONS) {
      if (st.lists[d].length > 0) await reconcileStored(c, iface, d, st.lists[d], specs);
    }
  }
  pruneObjectProbes(c);
  await startStoredUserPrograms(c);
  await startProbes(c);
  startHealth(c);
  // the observer learns what runs after adopt + repair, and what could not be started
  for (const [iface, st] of c.state) {
    for (const d of CHAIN_DIRECTIONS) {
      for (const p of st.lists[d]) {
        if (p.admin_status !== 'enabled') continue;
        const self = isSelfLinking(p) && c.sup().snapshot(userKey(iface, d, p.name)) ? selfLinkProgram(c, iface, d, p, st.ipv4_address) : undefined;
        if (self) {
          c.notify('programStarted', self);
        } else if (c.inChain(iface, d, p.name)) {
          c.notifyRunning('programStarted', iface, d, p, st.ipv4_address);
        } else {
          const reason = c.runtime.get(keyString(iface, d, p.name))?.lastError ?? 'not running after start';
          c.notify('deployFailed', { iface, direction: d, name: p.name, version: p.version, ipv4: st.ipv4_address }, reason);
        }
      }
    }
  }
}

/** Makes the adopted chain match the stored list (see {@link reconcileChain}). */
export async function reconcileStored(c: EngineCore, iface: string, d: ChainDirection, desired: readonly NormalizedBpfProgram[], specs: Map<string, ProgramSpec>): Promise<void> {
  const cm = c.running();
  await reconcileChain({
    iface, direction: d, desired, chaining: c.config.l3afd.bpfChainingEnabled,
    specOf: (name) => specs.get(keyString(iface, d, name)),
    chain: () => cm.programs(iface, d),
    unlink: (name) => removeFromChain(c, iface, d, name),
    replace: (name, spec) => replaceSpanned(c, iface, d, name, spec, false),
    move: (name, position) => moveInChain(c, iface, d, name, position),
    writeMapArgs: (p) => writeMapArgs(c, iface, d, p),
    insert: (p, position) => insert(c, iface, d, p, position),
    runtime: (name) => c.rt(iface, d, name),
    log: c.log });
}

/** Stops the engine: user programs, probes and chains unloaded only with `unload` (default `[l3af] unload-on-stop`); every manager closed. */
export async function stopEngine(c: EngineCore, opts: { unload?: boolean }): Promise<void> {
  c.status.close();
  const unload = opts.unload ?? c.config.l3af.unloadOnStop;
  if (c.health) clearInterval(c.health);
  c.health = null;
  const cm = c.chain;
  let first: unknown;
  if (unload) {
    // user programs first (self-linking ones unlink themselves), then probes, then the chains
    const selfLinked: RunningProgram[] = [];
    for (const [iface, st] of c.state) {
      for (const d of CHAIN_DIRECTIONS) {
        for (const p of st.lists[d]) {
          const rp = isSelfLinking(p) && c.supervisor?.snapshot(userKey(iface, d, p.name)) ? selfLinkProgram(c, iface, d, p, st.ipv4_address) : undefined;
          if (rp) selfLinked.push(rp);
        }
      }
    }
    await c.supervisor?.stopAll().catch((err: unknown) => {
      first ??= err;
      c.log.error({ err: messageOf(err) }, 'stopping user programs failed');
    });
    for (const rp of selfLinked) c.notify('programStopped', rp);
    for (const [iface, st] of c.state) {
      for (const d of CHAIN_DIRECTIONS) for (const p of st.lists[d]) if (isSelfLinking(p) && c.chain) removeSelfLinkPins(c, iface, d, p);
    }
    for (const { iface, direction } of c.userRoots?.chains() ?? []) {
      try {
        c.userRoots?.release(iface, direction);
      } catch (err) {
        first ??= err;
      }
    }
    for (const name of c.probesWanted.keys()) c.probeManager?.remove(name);
  }
  c.phase = 'stopped';
  if (cm && unload) {
    for (const { iface, direction } of cm.chains()) {
      for (const el of [...cm.programs(iface, direction)].reverse()) {
        const st = c.state.get(iface);
        const p = st?.lists[direction].find((x) => x.name === el.name);
        const rp = p && st ? c.runningProgram(iface, direction, p, st.ipv4_address) : undefined;
        try {
          await cm.remove(iface, direction, el.name);
          dropObjectProbes(c, iface, direction, el.name);
          if (rp) c.notify('programStopped', rp);
        } catch (err) {
          first ??= err;
          c.log.error({ iface, direction, name: el.name, err: messageOf(err) }, 'unloading a program failed');
        }
      }
    }
  }
  await closeManagers(c);
  if (first !== undefined) throw first;
}

/** Closes what start built (chain manager, supervisor, user roots, probe managers, an artifact store of its own). */
export async function closeManagers(c: EngineCore): Promise<void> {
  c.chain?.close();
  c.supervisor?.close();
  c.userRoots?.close();
  c.probeManager?.close();
  c.objectProbes?.close();
  if (c.ownArtifacts) await c.artifacts?.close?.();
}
