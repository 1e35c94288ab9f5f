/**
 * The engine's shared state and the small helpers every part uses: the desired state per interface, the
 * runtime record per program, the kernel-side managers (chain manager, supervisor, probe managers, user roots),
 * the phase and the observer. Owned by the facade (engine.ts); the other engine modules take it as `c`.
 */
import type { ArtifactRef } from '../artifacts/index.ts';
import type { ChainDirection, ChainManager, RootSpecs } from '../chain/index.ts';
import type { AgentConfig } from '../config/index.ts';
import { messageOf } from '../error-message.ts';
import type { Logger } from '../logger.ts';
import type { NormalizedBpfProgram, NormalizedL3afBpfPrograms } from '../payload/index.ts';
import type { ProbeManager } from '../probes/index.ts';
import { ConfigStore } from '../store/index.ts';
import type { Supervisor } from '../supervisor/index.ts';
import { EngineError, notReady } from './errors.ts';
import { RunningStates } from './health.ts';
import { keyString } from './program-key.ts';
import type { StatusCache } from './status-cache.ts';
import type { EngineObserver, StoreProblem, ProgramRef, RunningProgram } from './types.ts';
import type { UserRoots } from './user-roots.ts';

export interface IfaceState {
  host_name: string;
  ipv4_address: string;
  /** The programs that hold, per chained direction, in seq_id order (disabled ones included). */
  lists: Record<ChainDirection, NormalizedBpfProgram[]>;
}

/** Desired state before an operation (see {@link EngineCore.snapshot}). */
export interface Snapshot {
  state: Map<string, IfaceState>;
  probes: Map<string, { iface: string; p: NormalizedBpfProgram }>;
}

export interface Runtime {
  lastError: string | null;
  restarts: number;
}

export function emptyLists(): Record<ChainDirection, NormalizedBpfProgram[]> {
  return { xdp_ingress: [], tc_ingress: [], tc_egress: [] };
}

export const NOOP_LOGGER: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** What the engine needs to fetch a package: the ArtifactStore or a stand-in. */
export interface PackageSource {
  /** The package's folder; `sha256` (of the archive, checked against the repository's) and `cached` when known. */
  fetch(ref: ArtifactRef): Promise<{ readonly dir: string; readonly sha256?: string; readonly cached?: boolean }>;
  close?(): Promise<void>;
}

/** Injectable parts (tests, the agent's main). */
export interface EngineDeps {
  /** Package source (default: an ArtifactStore from the config and the platform name). */
  readonly artifacts?: PackageSource;
  /** Config store (default: `[l3af-config-store] filename`; null = no persistence). */
  readonly store?: ConfigStore | null;
  /** Builds the chain manager from the root specs (default: pins under `BpfMapDefaultPath`). */
  readonly chainManager?: (roots: RootSpecs) => ChainManager;
  readonly logger?: Logger;
  /**
   * Told about program lifecycle (metrics, map monitors). Key: (iface, direction, name).
   * - programStarted: a program is in its chain (added, enabled again, loaded again, and on start()
   *   every program that runs after adopt + repair);
   * - programStopped: a program left its chain (removed, disabled; on stop only with `unload`);
   * - programUpdated: a running program changed and still runs — map_args, monitor_maps or any
   *   other field, a move or a hitless replacement (then with its new progId, version and
   *   mapPinDir: the observer replaces what it held for that key);
   * - updateFailed: a change of a running program failed (it keeps running as it was);
   * - deployFailed: a program that was not running could not be started.
   * Observer exceptions are logged and never fail an operation.
   */
  readonly observer?: EngineObserver;
  /**
   * Supervisor of user programs (default: one with its state file and logs under
   * `<[l3af] state-dir>/user-programs`; the default also removes a crashed self-linking
   * program's stale pins before it is restarted).
   */
  readonly supervisor?: Supervisor;
  /** Probe manager (default: pins under `BpfMapDefaultPath`, state file under the state dir). */
  readonly probes?: ProbeManager;
  /**
   * Probe manager of the probe programs inside XDP/TC packages (a tracepoint beside the XDP entry):
   * attached with their package from the same loaded object (sharing its maps) and detached with it
   * (default: pins under `<BpfMapDefaultPath>/chain-probes`, state file `chain-probes.json` in the
   * state dir; kept apart from the payloads' global `probes` list).
   */
  readonly objectProbes?: ProbeManager;
  /**
   * Environment of user programs, added to the agent's (default: L3AF_HOME = this checkout when
   * the agent's environment has none; the packaged ratelimiting launcher needs it).
   */
  readonly userProgramEnv?: Readonly<Record<string, string>>;
  /** How long a self-linking user program has to pin its next array and take its slot (default 10000 ms, as l3afd). */
  readonly selfLinkTimeoutMs?: number;
}

/** The state every part of the engine reads and changes (one per engine; operations run one at a time over it). */
export class EngineCore {
  readonly config: AgentConfig;
  readonly deps: EngineDeps;
  readonly log: Logger;
  readonly store: ConfigStore | null;
  readonly state = new Map<string, IfaceState>();
  readonly runtime = new Map<string, Runtime>();
  artifacts: PackageSource | undefined;
  ownArtifacts = false;
  chain: ChainManager | undefined;
  /** Packages fetched ahead of the queue ({@link withPackages}): ref key → the fetch and how many operations wait on it. */
  readonly prefetched = new Map<string, { pkg: ReturnType<PackageSource['fetch']>; users: number }>();
  phase: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  /** Set when the stored desired state could not be read at start: a degraded engine (see {@link Engine.storeProblem}). */
  storeProblem: StoreProblem | null = null;
  supervisor: Supervisor | undefined;
  probeManager: ProbeManager | undefined;
  objectProbes: ProbeManager | undefined;
  /** Last running state told to the observer, and the program id it ran then (health check). */
  readonly lastRunning = new RunningStates();
  userRoots: UserRoots | undefined;
  /** The global probes list: name → the payload entry and the interface it came with. */
  readonly probesWanted = new Map<string, { iface: string; p: NormalizedBpfProgram }>();
  readonly probeErrors = new Map<string, string>();
  health: NodeJS.Timeout | null = null;
  /** GET's answer: recomputed after every operation and on the sampling tick, never per request. */
  status!: StatusCache;

  constructor(config: AgentConfig, deps: EngineDeps) {
    this.config = config;
    this.deps = deps;
    this.log = deps.logger ?? NOOP_LOGGER;
    const file = config.l3afConfigStore.filename;
    this.store = deps.store !== undefined ? deps.store : file !== '' ? new ConfigStore(file) : null;
  }

  /** Throws `degraded` when the engine started over an unreadable store. */
  usable(): void {
    const err = this.degradedError();
    if (err) throw err;
  }

  degradedError(): EngineError | undefined {
    const p = this.storeProblem;
    if (p) return new EngineError(`the agent started degraded: ${p.error}; nothing is served or changed until the file is fixed (or restored) and the agent restarted; the programs in the kernel keep running`, 'degraded');
    return undefined;
  }

  running(): ChainManager {
    this.usable();
    if (this.phase !== 'running' || !this.chain) throw notReady(this.phase);
    return this.chain;
  }

  rt(iface: string, direction: ChainDirection, name: string): Runtime {
    const key = keyString(iface, direction, name);
    let r = this.runtime.get(key);
    if (!r) {
      r = { lastError: null, restarts: 0 };
      this.runtime.set(key, r);
    }
    return r;
  }

  inChain(iface: string, direction: ChainDirection, name: string): boolean {
    return this.chain?.programs(iface, direction).some((p) => p.name === name) ?? false;
  }

  /** `p` as the observer sees it, when it is in its chain (progId read back from the kernel). */
  runningProgram(iface: string, direction: ChainDirection, p: NormalizedBpfProgram, ipv4: string): RunningProgram | undefined {
    const cm = this.chain;
    if (!cm || !this.inChain(iface, direction, p.name)) return undefined;
    let progId = 0;
    try {
      progId = cm.describe(iface, direction).programs.find((el) => el.name === p.name)?.id ?? 0;
    } catch (err) {
      this.log.warn({ iface, direction, name: p.name, err: messageOf(err) }, 'describe failed');
      progId = cm.programs(iface, direction).find((el) => el.name === p.name)?.id ?? 0;
    }
    const el = cm.programs(iface, direction).find((x) => x.name === p.name && x.id === progId);
    const step = el?.counter;
    return {
      iface, direction, name: p.name, version: p.version, ipv4, progId,
      mapPinDir: cm.layout.mapDir(iface, direction, p.name, p.version), monitorMaps: p.monitor_maps ?? [], eventMaps: p.event_maps ?? null, mapArgs: p.map_args ?? [],
      ...(el ? { figures: el.figures } : {}),
      ...(el && step ? { counting: {
        stepId: step.id, countPin: cm.layout.countPath(iface, direction, el.name, el.version, 'count'),
        nextPin: cm.layout.mapPath(iface, direction, el.name, el.version, el.nextMapName) } } : {}) };
  }

  notify(event: Exclude<keyof EngineObserver, 'programRunning'>, arg: RunningProgram | ProgramRef, reason?: string): void {
    const o = this.deps.observer;
    if (!o) return;
    try {
      switch (event) {
        case 'programStarted': o.programStarted?.(arg as RunningProgram); break;
        case 'programStopped': o.programStopped?.(arg as RunningProgram); break;
        case 'programUpdated': o.programUpdated?.(arg as RunningProgram); break;
        case 'updateFailed': o.updateFailed?.(arg, reason ?? ''); break;
        case 'deployFailed': o.deployFailed?.(arg, reason ?? ''); break;
      }
    } catch (err) {
      this.log.error({ event, name: arg.name, err: messageOf(err) }, 'engine observer failed');
    }
  }

  /** Running state as the health check finds it (observer's programRunning; errors logged). */
  notifyRunningState(ref: ProgramRef, running: boolean): void {
    try {
      this.deps.observer?.programRunning?.(ref, running);
    } catch (err) {
      this.log.error({ event: 'programRunning', name: ref.name, err: messageOf(err) }, 'engine observer failed');
    }
  }

  /** Tells the observer that `p` runs (started / updated); nothing when it is not in its chain. */
  notifyRunning(event: 'programStarted' | 'programUpdated', iface: string, direction: ChainDirection, p: NormalizedBpfProgram, ipv4: string): void {
    if (!this.deps.observer) return;
    const rp = this.runningProgram(iface, direction, p, ipv4);
    if (rp) this.notify(event, rp);
  }

  objProbes(): ProbeManager {
    if (!this.objectProbes) throw notReady(this.phase);
    return this.objectProbes;
  }

  sup(): Supervisor {
    if (!this.supervisor) throw notReady(this.phase);
    return this.supervisor;
  }

  roots(): UserRoots {
    if (!this.userRoots) throw notReady(this.phase);
    return this.userRoots;
  }

  ifaceState(iface: string): IfaceState {
    return this.state.get(iface) ?? { host_name: '', ipv4_address: '', lists: emptyLists() };
  }

  /**
   * Records an interface's state. As l3afd (its interface → address table), an interface named by a
   * payload stays known with its `ipv4_address` after its last program is deleted or failed; only an
   * `update` that omits it forgets it ({@link forgetIface} in writes.ts).
   */
  setIface(iface: string, st: IfaceState): void {
    this.state.set(iface, st);
  }

  /** What holds before an operation (to roll it back when it cannot be stored). */
  snapshot(): Snapshot {
    return { state: new Map([...this.state].map(([k, v]) => [k, { ...v, lists: { ...v.lists } }])), probes: new Map(this.probesWanted) };
  }

  elements(): NormalizedL3afBpfPrograms[] {
    return [...this.state].map(([iface, st]) => ({
      host_name: st.host_name,
      iface,
      ipv4_address: st.ipv4_address,
      bpf_programs: {
        xdp_ingress: st.lists.xdp_ingress.length > 0 ? st.lists.xdp_ingress.map((p) => structuredClone(p)) : null,
        tc_ingress: st.lists.tc_ingress.length > 0 ? st.lists.tc_ingress.map((p) => structuredClone(p)) : null,
        tc_egress: st.lists.tc_egress.length > 0 ? st.lists.tc_egress.map((p) => structuredClone(p)) : null,
        probes: this.probesOf(iface) } }));
  }

  /** The probes kept with `iface` (the interface their payload named), or null. */
  probesOf(iface: string): NormalizedBpfProgram[] | null {
    const list = [...this.probesWanted.values()].filter((w) => w.iface === iface).map((w) => structuredClone(w.p));
    return list.length > 0 ? list : null;
  }

  probeMgr(): ProbeManager {
    if (!this.probeManager) throw notReady(this.phase);
    return this.probeManager;
  }
}
