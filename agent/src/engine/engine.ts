/**
 * The desired-state engine: per interface and direction a list of programs ordered by `seq_id`,
 * kept in the kernel by the ChainManager (hitless insert / remove / move / replace) and in the
 * config store (atomic writes). Operations run one at a time (one global queue).
 *
 * - add: additive (a program already present by name is left as it is; a disabled one is skipped);
 * - update: the host's whole desired state, as l3afd: interfaces it does not name are stopped and
 *   forgotten; on the interfaces it names, programs it omits are removed (l3afd's own pruning no
 *   longer finds them) and `admin_status: disabled` stops a program and drops it from the list;
 * - delete: by name. An interface stays known (GET shows its ipv4_address) after its last program
 *   is deleted or failed, as in l3afd.
 *
 * Every field change takes effect: version / artifact / object / entry / next map / repository →
 * hitless replace (maps carried over when the new object accepts them); seq_id → hitless move;
 * map_args → maps rewritten with each map's own widths; anything else is stored. Programs of one
 * interface are applied in the payload's order and, as in l3afd, the first that fails ends that
 * interface's payload (the rest are reported failed, not applied); a failed change is rolled back
 * (the program keeps running as it was). The store holds what actually holds.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { BpfProgram as KernelProgram, libbpfUnavailable, unpin, type BpfObject } from '../bpf/index.ts';
import { Supervisor, userDirection, type UserProgramSpec } from '../supervisor/index.ts';
import { ProbeManager, type ProbeSetStatus } from '../probes/index.ts';
import { withSpan } from '../telemetry/tracing.ts';
import {
  CHAIN_DIRECTIONS, ChainError, ChainManager, versionSegment,
  type AdoptedRef, type ChainDescription, type ChainDirection, type ProgramSpec, type RootSpecs } from '../chain/index.ts';
import { pinsIn } from '../chain/pin-layout.ts';
import { ArtifactError, ArtifactStore, artifactStoreOptions, type ArtifactRef } from '../artifacts/index.ts';
import { platformName } from '../platform/platform-name.ts';
import {
  checkAddUpdateSemantics, checkDeleteSemantics, normalizeL3afBpfPrograms, normalizeProgram,
  type AddUpdateBody, type BpfProgram, type DeleteBody, type DryRunResult, type NormalizedBpfProgram, type NormalizedL3afBpfPrograms,
  type PlanItem, type VerifierVerdict } from '../payload/index.ts';
import type { AgentConfig } from '../config/index.ts';
import { ConfigStore, StoreError, type Reservation } from '../store/index.ts';
import { applyMapArgs, mapsInDir, type MapArgsTarget } from './map-args.ts';
import { initMonitorMaps } from './monitor-init.ts';
import { chainManagerOptions } from './chain-options.ts';
import { PROBES_REASON, bySeq, changedFields, nativeProblem } from './program-diff.ts';
import {
  clearSlotIf, hasUserProgram, isSelfLinking, selfLinkBpfProblem, slotId, userKey, waitForSelfLink } from './user-programs.ts';
import { UserRoots, hookProgramId } from './user-roots.ts';
import { LoadLinkSpans, programAttributes } from './step-spans.ts';
import { StatusCache } from './status-cache.ts';
import { DISABLED_REMOVED, omittedBy, planChain, planTail, targetFor } from './plan.ts';
import { applyChainPlan, applyTailPlan, type ChainOps, type TailOps } from './apply.ts';
import { adoptAtStart, reconcileChain } from './reconcile.ts';
import { etagOf, ifMatchMatches } from './etag.ts';
import { planChange, type ChangePlan, type ChangeState } from './change-plan.ts';
import { verifyObject } from './verify.ts';
import { RunningStates } from './health.ts';
import { probeStatus, withUserStatus } from './status-view.ts';
import type {
  Engine, EngineObserver, InterfaceResult, StoreProblem, WriteOptions, OperationResult, PayloadDirection, ProgramRef, ProgramResult, ProgramStatus, RepositoryErrorCode, RunningProgram } from './types.ts';
import { messageOf } from '../error-message.ts';
import { EngineError, notReady } from './errors.ts';
import { keyString, parseKey } from './program-key.ts';
import type { Logger } from '../logger.ts';

export { EngineError } from './errors.ts';

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

/** The checkout this module runs from (agent/src/engine → three levels up). */
const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url));

/** What {@link createEngine} returns: the engine, and its chains as the kernel sees them. */
export interface ChainInspector {
  /** Every chain on `iface`, read back from the kernel (none when it has no chain). */
  describeChains(iface: string): ChainDescription[];
}

/** A program in GET: l3afd's fields plus what is live. */
export type ProgramWithStatus = NormalizedBpfProgram & { status: ProgramStatus };


const NOOP_LOGGER: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

interface IfaceState {
  host_name: string;
  ipv4_address: string;
  /** The programs that hold, per chained direction, in seq_id order (disabled ones included). */
  lists: Record<ChainDirection, NormalizedBpfProgram[]>;
}

/** Desired state before an operation (see #snapshot). */
interface Snapshot {
  state: Map<string, IfaceState>;
  probes: Map<string, { iface: string; p: NormalizedBpfProgram }>;
}

interface Runtime {
  lastError: string | null;
  restarts: number;
}


/** The repository failure behind `err` (a package that could not be fetched), if that is what it is. */
export function repositoryErrorCode(err: unknown): RepositoryErrorCode | undefined {
  if (!(err instanceof ArtifactError)) return undefined;
  if (err.code === 'TIMEOUT') return 'REPOSITORY_TIMEOUT';
  if (err.code === 'UNREACHABLE') return 'REPOSITORY_UNREACHABLE';
  return undefined;
}

function seg(version: string): string {
  return versionSegment(version);
}

function emptyLists(): Record<ChainDirection, NormalizedBpfProgram[]> {
  return { xdp_ingress: [], tc_ingress: [], tc_egress: [] };
}

/** Owner of the probe set of a chained program's object: one per interface, direction and program. */
export function objectProbeOwner(iface: string, direction: ChainDirection, name: string): string {
  return `${iface}_${direction}_${name}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** True when every program of the set uses only maps of `obj` (so it counts into the object's maps). */
function usesMapsOf(set: ProbeSetStatus, obj: BpfObject): boolean {
  const ids = new Set(obj.maps().map((m) => m.id));
  return set.links.every((l) => {
    try {
      using prog = KernelProgram.fromId(l.progId);
      return prog.info().mapIds.every((id) => ids.has(id));
    } catch {
      return false;
    }
  });
}

/** `spec` whose `loaded` hook also ends the load span and opens the link span. */
function withLoadSpans(spec: ProgramSpec, spans: LoadLinkSpans): ProgramSpec {
  return {
    ...spec,
    loaded: (obj) => {
      spec.loaded?.(obj);
      spans.loaded();
    } };
}

/** The object file of a package, refused when it would leave the package folder. */
function objectIn(dir: string, file: string): string {
  const p = resolve(dir, file);
  if (!p.startsWith(resolve(dir) + sep)) throw new EngineError(`object file '${file}' is outside the package folder`, 'invalid');
  return p;
}

/** Identity of a package reference (the prefetch cache key). */
function packageKey(r: ArtifactRef): string {
  return JSON.stringify([r.repoUrl ?? '', r.name, r.version, r.artifact]);
}

/** The package references of the enabled programs an add/update body names (chains and probes), with where. */
function packageRefs(body: AddUpdateBody): { iface: string; direction: string; ref: ArtifactRef }[] {
  const out: { iface: string; direction: string; ref: ArtifactRef }[] = [];
  for (const e of Array.isArray(body) ? body : []) {
    for (const [direction, list] of Object.entries(e?.bpf_programs ?? {})) {
      for (const raw of Array.isArray(list) ? (list as unknown[]) : []) {
        const p = raw as { name?: unknown; version?: unknown; artifact?: unknown; admin_status?: unknown; ebpf_package_repo_url?: unknown };
        if (typeof p?.name !== 'string' || typeof p.version !== 'string' || typeof p.artifact !== 'string' || p.admin_status === 'disabled') continue;
        const repo = typeof p.ebpf_package_repo_url === 'string' ? p.ebpf_package_repo_url : '';
        out.push({ iface: String(e.iface), direction, ref: { name: p.name, version: p.version, artifact: p.artifact, ...(repo !== '' ? { repoUrl: repo } : {}) } });
      }
    }
  }
  return out;
}

/** Per-program result collector that keeps the payload's order. */
class Results {
  readonly #out = new Map<string, ProgramResult>();
  constructor(readonly iface: string, readonly direction: PayloadDirection) {}
  set(name: string, outcome: ProgramResult['outcome'], reason?: string, cause?: unknown): void {
    const code = outcome === 'failed' ? repositoryErrorCode(cause) : undefined;
    this.#out.set(name, {
      iface: this.iface, direction: this.direction, name, outcome, ...(reason === undefined ? {} : { reason }), ...(code === undefined ? {} : { error_code: code }) });
  }
  get(name: string): ProgramResult | undefined {
    return this.#out.get(name);
  }
  /** The results of `names` in that order, then any others. */
  ordered(names: readonly string[]): ProgramResult[] {
    const first = names.flatMap((n) => this.#out.get(n) ?? []);
    return [...first, ...[...this.#out.values()].filter((r) => !first.includes(r))];
  }
}

/**
 * l3afd's partial apply: within one interface of a payload, the first program that fails ends the
 * interface's payload (the programs after it are not applied and reported failed, with why); the
 * other interfaces go on.
 */
class PayloadHalt {
  reason: string | undefined;
  /** The repository failure that stopped the payload, if that is what stopped it: what is not applied after it fails for the same cause. */
  #code: ProgramResult['error_code'];
  constructor(readonly iface: string) {}
  /** True (and a result pushed) when the interface's payload stopped before `name`. */
  skip(out: ProgramResult[], direction: PayloadDirection, name: string): boolean {
    if (this.reason === undefined) return false;
    out.push({ iface: this.iface, direction, name, outcome: 'failed', reason: `not applied: ${this.reason}`, ...(this.#code === undefined ? {} : { error_code: this.#code }) });
    return true;
  }
  record(out: ProgramResult[], r: ProgramResult): void {
    out.push(r);
    if (r.outcome !== 'failed' || this.reason !== undefined) return;
    this.reason = `'${r.name}' (${r.direction}) failed before it, and l3afd stops an interface's payload at its first failure`;
    this.#code = r.error_code;
  }
}

class DesiredStateEngine implements Engine, ChainInspector {
  readonly #config: AgentConfig;
  readonly #deps: EngineDeps;
  readonly #log: Logger;
  readonly #store: ConfigStore | null;
  readonly #state = new Map<string, IfaceState>();
  readonly #runtime = new Map<string, Runtime>();
  #artifacts: PackageSource | undefined;
  #ownArtifacts = false;
  #chain: ChainManager | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** Packages fetched ahead of the queue ({@link #withPackages}): ref key → the fetch and how many operations wait on it. */
  readonly #prefetched = new Map<string, { pkg: ReturnType<PackageSource['fetch']>; users: number }>();
  #phase: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  /** Set when the stored desired state could not be read at start: a degraded engine (see {@link Engine.storeProblem}). */
  #storeProblem: StoreProblem | null = null;
  #supervisor: Supervisor | undefined;
  #probeManager: ProbeManager | undefined;
  #objectProbes: ProbeManager | undefined;
  /** Last running state told to the observer, and the program id it ran then (health check). */
  readonly #lastRunning = new RunningStates();
  #userRoots: UserRoots | undefined;
  /** The global probes list: name → the payload entry and the interface it came with. */
  readonly #probesWanted = new Map<string, { iface: string; p: NormalizedBpfProgram }>();
  readonly #probeErrors = new Map<string, string>();
  #health: NodeJS.Timeout | null = null;
  /** GET's answer: recomputed after every operation and on the sampling tick, never per request. */
  readonly #status: StatusCache;

  constructor(config: AgentConfig, deps: EngineDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#log = deps.logger ?? NOOP_LOGGER;
    this.#status = new StatusCache({
      compute: () => this.#computeStatus(), refreshMs: config.l3af.mapSampleIntervalMs,
      onError: (err) => this.#log.warn({ err: messageOf(err) }, 'status refresh failed') });
    const file = config.l3afConfigStore.filename;
    this.#store = deps.store !== undefined ? deps.store : file !== '' ? new ConfigStore(file) : null;
  }

  // ---------------------------------------------------------------- plumbing

  /**
   * Fetches (downloads, verifies, extracts) the packages `body` names BEFORE `run` takes the queue,
   * so a slow or hostile repository delays only the operation that needs it, never a change to
   * another interface; inside the queue, {@link #fetchPackage} takes the fetched result (or its
   * error) from here instead of fetching again.
   */
  async #withPackages<T>(body: AddUpdateBody, run: () => Promise<T>): Promise<T> {
    const keys: string[] = [];
    if (this.#artifacts && this.#phase === 'running') {
      const source = this.#artifacts;
      for (const { iface, direction, ref } of packageRefs(body)) {
        const key = packageKey(ref);
        // a program that already runs from this very package is reloaded (and fetched) only when it must be
        const held = direction === 'probes' ? [this.#probesWanted.get(ref.name)?.p] : this.#state.get(iface)?.lists[direction as ChainDirection] ?? [];
        if (held.some((h) => h && h.name === ref.name && h.version === ref.version && h.artifact === ref.artifact && h.ebpf_package_repo_url === (ref.repoUrl ?? ''))) continue;
        keys.push(key);
        const have = this.#prefetched.get(key);
        if (have) {
          have.users += 1;
          continue;
        }
        const pkg = source.fetch(ref);
        pkg.catch(() => undefined); // reported inside the operation
        this.#prefetched.set(key, { pkg, users: 1 });
      }
    }
    try {
      await Promise.allSettled(keys.map((k) => this.#prefetched.get(k)?.pkg));
      return await run();
    } finally {
      for (const k of keys) {
        const e = this.#prefetched.get(k);
        if (e && --e.users === 0) this.#prefetched.delete(k);
      }
    }
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task).finally(() => this.#status.refresh());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Throws `degraded` when the engine started over an unreadable store. */
  #usable(): void {
    const err = this.#degradedError();
    if (err) throw err;
  }

  #degradedError(): EngineError | undefined {
    const p = this.#storeProblem;
    if (p) return new EngineError(`the agent started degraded: ${p.error}; nothing is served or changed until the file is fixed (or restored) and the agent restarted; the programs in the kernel keep running`, 'degraded');
    return undefined;
  }

  storeProblem(): StoreProblem | null {
    return this.#storeProblem;
  }

  #running(): ChainManager {
    this.#usable();
    if (this.#phase !== 'running' || !this.#chain) throw notReady(this.#phase);
    return this.#chain;
  }

  #rt(iface: string, direction: ChainDirection, name: string): Runtime {
    const key = keyString(iface, direction, name);
    let r = this.#runtime.get(key);
    if (!r) {
      r = { lastError: null, restarts: 0 };
      this.#runtime.set(key, r);
    }
    return r;
  }

  #inChain(iface: string, direction: ChainDirection, name: string): boolean {
    return this.#chain?.programs(iface, direction).some((p) => p.name === name) ?? false;
  }

  // ---------------------------------------------------------------- observer

  /** `p` as the observer sees it, when it is in its chain (progId read back from the kernel). */
  #runningProgram(iface: string, direction: ChainDirection, p: NormalizedBpfProgram, ipv4: string): RunningProgram | undefined {
    const cm = this.#chain;
    if (!cm || !this.#inChain(iface, direction, p.name)) return undefined;
    let progId = 0;
    try {
      progId = cm.describe(iface, direction).programs.find((el) => el.name === p.name)?.id ?? 0;
    } catch (err) {
      this.#log.warn({ iface, direction, name: p.name, err: messageOf(err) }, 'describe failed');
      progId = cm.programs(iface, direction).find((el) => el.name === p.name)?.id ?? 0;
    }
    return {
      iface, direction, name: p.name, version: p.version, ipv4, progId,
      mapPinDir: cm.layout.mapDir(iface, direction, p.name, p.version), monitorMaps: p.monitor_maps ?? [], eventMaps: p.event_maps ?? null };
  }

  #notify(event: Exclude<keyof EngineObserver, 'programRunning'>, arg: RunningProgram | ProgramRef, reason?: string): void {
    const o = this.#deps.observer;
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
      this.#log.error({ event, name: arg.name, err: messageOf(err) }, 'engine observer failed');
    }
  }

  /**
   * A self-linking user program as the observer sees it, while its predecessor's slot holds a
   * program: that program's id, and the maps it pinned at the agent's map path.
   */
  #selfLinkProgram(iface: string, direction: ChainDirection, p: NormalizedBpfProgram, ipv4: string): RunningProgram | undefined {
    if (!this.#chain || this.#phase !== 'running') return undefined;
    const prevPin = this.#tailPrevPin(iface, direction);
    const progId = prevPin === undefined ? undefined : slotId(prevPin);
    if (progId === undefined) return undefined;
    return {
      iface, direction, name: p.name, version: p.version, ipv4, progId,
      mapPinDir: this.#selfLinkDir(iface, direction, p), monitorMaps: p.monitor_maps ?? [], eventMaps: p.event_maps ?? null };
  }

  /** Running state as the health check finds it (observer's programRunning; errors logged). */
  #notifyRunningState(ref: ProgramRef, running: boolean): void {
    try {
      this.#deps.observer?.programRunning?.(ref, running);
    } catch (err) {
      this.#log.error({ event: 'programRunning', name: ref.name, err: messageOf(err) }, 'engine observer failed');
    }
  }

  /** Health check of programs with a user program (see {@link RunningStates}). */
  #checkRunning(): void {
    const sup = this.#supervisor;
    if (!this.#deps.observer || this.#phase !== 'running' || !sup) return;
    const state = this.#state;
    this.#lastRunning.check({
      *watched() {
        for (const [iface, st] of state) {
          for (const d of CHAIN_DIRECTIONS) {
            for (const p of st.lists[d]) {
              if (p.admin_status === 'enabled' && hasUserProgram(p)) yield { key: userKey(iface, d, p.name), iface, direction: d, ipv4: st.ipv4_address, program: p };
            }
          }
        }
      },
      snapshot: (key) => sup.snapshot(key),
      runningProgram: (w) => (isSelfLinking(w.program) ? this.#selfLinkProgram(w.iface, w.direction, w.program, w.ipv4) : this.#runningProgram(w.iface, w.direction, w.program, w.ipv4)),
      updated: (rp) => this.#notify('programUpdated', rp),
      runningState: (ref, running) => this.#notifyRunningState(ref, running),
      warn: (obj, msg) => this.#log.warn(obj, msg) });
  }

  /** Tells the observer that `p` runs (started / updated); nothing when it is not in its chain. */
  #notifyRunning(event: 'programStarted' | 'programUpdated', iface: string, direction: ChainDirection, p: NormalizedBpfProgram, ipv4: string): void {
    if (!this.#deps.observer) return;
    const rp = this.#runningProgram(iface, direction, p, ipv4);
    if (rp) this.#notify(event, rp);
  }

  /**
   * Fetches `p`'s package (span `fetch`; the artifact store checks the archive's sha256 there) and
   * checks its object file (span `verify`, with the sha256). With `place`, the spec's `loaded` hook
   * attaches the probe programs of the object beside the entry (see {@link #attachObjectProbes}).
   */
  async #spec(p: NormalizedBpfProgram, place?: { iface: string; direction: ChainDirection }): Promise<ProgramSpec> {
    const attrs = programAttributes(p, place?.iface, place?.direction);
    const pkg = await this.#fetchPackage(p, attrs);
    const objectPath = await withSpan('verify', (span) => {
      if (pkg.sha256 !== undefined) span.setAttribute('l3af.artifact.sha256', pkg.sha256);
      const path = objectIn(pkg.dir, p.object_file);
      if (!existsSync(path)) throw new EngineError(`program '${p.name}': the package has no object file '${p.object_file}'`, 'invalid');
      return path;
    }, attrs);
    return {
      name: p.name, version: p.version, objectPath, entry: p.entry_function_name, nextMap: p.map_name,
      // configuration lands before the program is linked in: it never sees traffic unconfigured
      prepare: (maps) => {
        applyMapArgs(maps, p.map_args, `program '${p.name}'`);
        this.#initMonitored(maps, p); // as l3afd: monitored keys exist before the first packet
      },
      ...(place ? { loaded: (obj: BpfObject) => this.#attachObjectProbes(place.iface, place.direction, p, obj) } : {}) };
  }

  /** Fetches a package inside a `fetch` span (sha256 and cache hit as attributes). */
  #fetchPackage(p: NormalizedBpfProgram, attrs = programAttributes(p)): Promise<{ readonly dir: string; readonly sha256?: string; readonly cached?: boolean }> {
    return withSpan('fetch', async (span) => {
      const ref = { name: p.name, version: p.version, artifact: p.artifact, ...(p.ebpf_package_repo_url !== '' ? { repoUrl: p.ebpf_package_repo_url } : {}) };
      const pkg = await (this.#prefetched.get(packageKey(ref))?.pkg ?? (this.#artifacts as PackageSource).fetch(ref));
      if (pkg.sha256 !== undefined) span.setAttribute('l3af.artifact.sha256', pkg.sha256);
      if (pkg.cached !== undefined) span.setAttribute('l3af.artifact.cached', pkg.cached);
      return pkg;
    }, { ...attrs, 'l3af.artifact': p.artifact });
  }

  #objProbes(): ProbeManager {
    if (!this.#objectProbes) throw notReady(this.#phase);
    return this.#objectProbes;
  }

  /**
   * Attaches the probe programs of a chained program's freshly loaded object (sharing its maps),
   * replacing the set its previous instance attached; a set that counts into other maps (a load
   * with fresh maps) or an object without probe programs drops the previous set. Throws (and the
   * load is undone) when a probe cannot attach.
   */
  #attachObjectProbes(iface: string, direction: ChainDirection, p: NormalizedBpfProgram, obj: BpfObject): void {
    const pm = this.#objProbes();
    const owner = objectProbeOwner(iface, direction, p.name);
    const current = pm.status(owner);
    if (current && !usesMapsOf(current, obj)) pm.remove(owner);
    const r = pm.attachObjectProbes(owner, p.version, obj);
    if (r.status === undefined && pm.status(owner)) pm.remove(owner);
    if (r.status) this.#log.info({ iface, direction, name: p.name, outcome: r.outcome, probes: r.status.links.map((l) => l.target) }, 'probes of the object attached');
  }

  /** Detaches the probes of a chained program's object (after it left its chain). */
  #dropObjectProbes(iface: string, direction: ChainDirection, name: string): void {
    const pm = this.#objectProbes;
    const owner = objectProbeOwner(iface, direction, name);
    if (!pm?.status(owner)) return;
    try {
      pm.remove(owner);
    } catch (err) {
      this.#log.warn({ iface, direction, name, err: messageOf(err) }, 'detaching the probes of the object failed');
    }
  }

  /** cm.remove, then the object's probes go too. */
  async #removeFromChain(iface: string, direction: ChainDirection, name: string): Promise<void> {
    await this.#running().remove(iface, direction, name);
    this.#dropObjectProbes(iface, direction, name);
  }

  /** Zero-initialises `p`'s monitored keys that have no value (l3afd's InitialiseMetricMaps). */
  #initMonitored(maps: MapArgsTarget, p: NormalizedBpfProgram): void {
    const r = initMonitorMaps(maps, p.monitor_maps, `program '${p.name}'`);
    if (r.written.length > 0 || r.missing.length > 0) this.#log.info({ name: p.name, written: r.written, missing: r.missing }, 'monitored maps initialised');
  }

  #writeMapArgs(iface: string, direction: ChainDirection, p: NormalizedBpfProgram): void {
    const cm = this.#running();
    const dir = cm.layout.mapDir(iface, direction, p.name, p.version);
    applyMapArgs(mapsInDir(dir, pinsIn), p.map_args, `program '${p.name}' on ${iface} ${direction}`);
  }

  /**
   * Why traffic will not get through `name` in its chain, said with its result (l3afd chains it without a word):
   * its code never tail-calls through map_name, or a program before it does not.
   */
  #reachNote(iface: string, direction: ChainDirection, name: string): string | undefined {
    let d: ChainDescription;
    try {
      d = this.#running().describe(iface, direction);
    } catch {
      return undefined;
    }
    const i = d.programs.findIndex((p) => p.name === name);
    const el = d.programs[i];
    if (!el) return undefined;
    const blocker = d.programs.slice(0, i).find((p) => !p.continues);
    if (blocker) return `it never runs: '${blocker.name}' before it does not tail-call through its map_name`;
    if (!el.continues && i < d.programs.length - 1) return `its code does not tail-call through map_name: the ${d.programs.length - 1 - i} program(s) after it never run`;
    return undefined;
  }

  /** Loads `p` into the chain at `position` and writes its map_args; on failure nothing stays. */
  async #insert(iface: string, direction: ChainDirection, p: NormalizedBpfProgram, position: number): Promise<void> {
    const cm = this.#running();
    const spec = await this.#spec(p, { iface, direction }); // its prepare writes map_args before the switch
    const spans = new LoadLinkSpans(programAttributes(p, iface, direction));
    try {
      await cm.insert(iface, direction, withLoadSpans(spec, spans), position);
      spans.end();
    } catch (err) {
      spans.end(err);
      if (!this.#inChain(iface, direction, p.name)) this.#dropObjectProbes(iface, direction, p.name);
      throw err;
    }
  }

  /** cm.replace inside load / link spans. */
  async #replaceSpanned(iface: string, direction: ChainDirection, name: string, spec: ProgramSpec, keepMaps: boolean): Promise<void> {
    const spans = new LoadLinkSpans({ ...programAttributes(spec, iface, direction), 'l3af.keep_maps': keepMaps });
    try {
      await this.#running().replace(iface, direction, name, withLoadSpans(spec, spans), { keepMaps });
      spans.end();
    } catch (err) {
      spans.end(err);
      throw err;
    }
  }

  /**
   * Replaces the chain element of `from` by `to` (hitless), carrying maps over when the new object
   * accepts them; `to`'s map_args are written before the switch. Returns the undo (replace back to `from`).
   */
  async #replace(iface: string, direction: ChainDirection, from: NormalizedBpfProgram, to: NormalizedBpfProgram): Promise<() => Promise<void>> {
    const place = { iface, direction };
    const spec = await this.#spec(to, place);
    try {
      await this.#replaceSpanned(iface, direction, from.name, spec, true);
    } catch (err) {
      if (!(err instanceof ChainError && err.code === 'kernel')) throw err;
      this.#log.info({ iface, direction, name: to.name, err: err.message }, 'replace with the old maps refused; loading with fresh maps');
      await this.#replaceSpanned(iface, direction, from.name, spec, false);
    }
    // each spec's prepare writes its map_args before the switch
    return async (): Promise<void> => {
      const back = await this.#spec(from, place);
      await this.#replaceSpanned(iface, direction, to.name, back, true)
        .catch(() => this.#replaceSpanned(iface, direction, to.name, back, false));
    };
  }

  // ---------------------------------------------------------------- user programs

  #sup(): Supervisor {
    if (!this.#supervisor) throw notReady(this.#phase);
    return this.#supervisor;
  }

  #roots(): UserRoots {
    if (!this.#userRoots) throw notReady(this.#phase);
    return this.#userRoots;
  }

  #userDir(): string {
    return join(this.#config.l3af.stateDir, 'user-programs');
  }

  /** `[l3afd] bpf-log-dir`, passed as --log-dir only when set (l3afd's contract); undefined = not passed. */
  #userLogDir(): string | undefined {
    return this.#config.l3afd.bpfLogDir.length > 1 ? this.#config.l3afd.bpfLogDir : undefined;
  }

  #userEnv(): Record<string, string> {
    if (this.#deps.userProgramEnv) return { ...this.#deps.userProgramEnv };
    return process.env.L3AF_HOME ? {} : { L3AF_HOME: CHECKOUT };
  }

  async #packageDir(p: NormalizedBpfProgram): Promise<string> {
    return (await this.#fetchPackage(p)).dir;
  }

  #userSpec(iface: string, d: ChainDirection, p: NormalizedBpfProgram, packageDir: string, prevMapPin?: string): UserProgramSpec {
    return {
      key: userKey(iface, d, p.name),
      program: p,
      context: {
        iface, direction: userDirection(d), packageDir, ...(this.#userLogDir() === undefined ? {} : { logDir: this.#userLogDir() }),
        ...(prevMapPin === undefined ? {} : { prevMapPin }) },
      // environment, not arguments (l3afd's argv stays exact): where the agent expects the program's
      // pins (a non-default BpfMapDefaultPath included) and the Node a bundled companion runs on
      env: { L3AF_PIN_DIR: this.#selfLinkDir(iface, d, p), L3AF_NODE: process.execPath, ...this.#userEnv() } };
  }

  /**
   * The predecessor array of a chain's self-linking tail: the next array of the chain's last
   * agent-loaded program, or of the agent-held root; undefined when neither exists.
   */
  #tailPrevPin(iface: string, d: ChainDirection): string | undefined {
    const cm = this.#running();
    const last = cm.programs(iface, d).at(-1);
    if (last) return cm.layout.mapPath(iface, d, last.name, last.version, last.nextMapName);
    return this.#userRoots?.get(iface, d) ? this.#userRoots.nextMapPin(iface, d) : undefined;
  }

  /** Where a self-linking program pins its maps (l3afd's map path: `<pin root>/<iface>/<name>/<version>`). */
  #selfLinkDir(iface: string, d: ChainDirection, p: { name: string; version: string }): string {
    return this.#running().layout.mapDir(iface, d, p.name, p.version);
  }

  /** Starts the user program of a native program (already linked in). */
  async #startUser(iface: string, d: ChainDirection, p: NormalizedBpfProgram): Promise<void> {
    const spec = this.#userSpec(iface, d, p, await this.#packageDir(p));
    await this.#sup().start(spec);
  }

  /**
   * Starts a self-linking user program as the tail of its chain: after the chain's last program,
   * or after an agent-held root when the chain has none; waits until it pinned its next array
   * and took the predecessor's slot. On failure it is stopped and nothing of it stays.
   */
  async #startSelfLinking(iface: string, d: ChainDirection, p: NormalizedBpfProgram, notify = true): Promise<string | undefined> {
    const cm = this.#running();
    const sup = this.#sup();
    const key = userKey(iface, d, p.name);
    const dir = await this.#packageDir(p);
    // no libbpf API (Windows without eBPF-for-Windows): l3afd's Windows path, the user program alone (no root, no link check)
    const noBpf = selfLinkBpfProblem();
    if (noBpf !== undefined) {
      await sup.start(this.#userSpec(iface, d, p, dir));
      return noBpf;
    }
    const heldRootBefore = this.#roots().get(iface, d) !== undefined;
    if (cm.programs(iface, d).length === 0) this.#roots().ensure(iface, d);
    const prevPin = this.#tailPrevPin(iface, d) as string;
    const before = slotId(prevPin);
    try {
      await sup.start(this.#userSpec(iface, d, p, dir, prevPin));
      await withSpan('link', () => waitForSelfLink({
        prevPin, before, timeoutMs: this.#deps.selfLinkTimeoutMs ?? 10_000,
        ownNextPin: p.map_name !== '' ? join(this.#selfLinkDir(iface, d, p), p.map_name) : undefined,
        alive: () => sup.snapshot(key)?.running ?? false }), { ...programAttributes(p, iface, d), 'l3af.self_linking': true });
    } catch (err) {
      await this.#stopUser(iface, d, p).catch(() => undefined);
      if (!heldRootBefore && cm.programs(iface, d).length === 0) this.#roots().release(iface, d);
      throw err;
    }
    const rp = this.#selfLinkProgram(iface, d, p, this.#ifaceState(iface).ipv4_address);
    if (rp) {
      this.#lastRunning.started(key, rp.progId);
      if (notify) this.#notify('programStarted', rp); // at start(), the observer learns everything at the end
    }
    return undefined;
  }

  /**
   * Stops a program's user program. For a self-linking one, also empties the predecessor slot
   * when it still holds a program (a crashed instance does not unlink itself) and removes the
   * pins it left.
   */
  async #stopUser(iface: string, d: ChainDirection, p: NormalizedBpfProgram): Promise<void> {
    const key = userKey(iface, d, p.name);
    const prevPin = isSelfLinking(p) ? this.#tailPrevPin(iface, d) : undefined;
    const rp = isSelfLinking(p) && this.#sup().snapshot(key) ? this.#selfLinkProgram(iface, d, p, this.#ifaceState(iface).ipv4_address) : undefined;
    await this.#sup().stop(key);
    this.#lastRunning.forget(key);
    if (rp) this.#notify('programStopped', rp);
    if (!isSelfLinking(p)) return;
    if (prevPin !== undefined) {
      const id = slotId(prevPin);
      const cmIds = new Set(this.#running().programs(iface, d).map((el) => el.id));
      if (id !== undefined && !cmIds.has(id)) clearSlotIf(prevPin, id);
    }
    this.#removeSelfLinkPins(iface, d, p);
  }

  #removeSelfLinkPins(iface: string, d: ChainDirection, p: { name: string; version: string }): void {
    const dir = this.#selfLinkDir(iface, d, p);
    let files: string[] = [];
    try {
      files = readdirSync(dir);
    } catch {
      return;
    }
    for (const f of files) {
      try {
        unpin(join(dir, f));
      } catch (err) {
        this.#log.warn({ iface, direction: d, name: p.name, pin: join(dir, f), err: messageOf(err) }, 'removing a stale pin failed');
      }
    }
  }

  /** Supervisor hook: a self-linking program's stale pins (a crashed instance's) go before it starts. */
  #beforeSpawn(spec: UserProgramSpec): void {
    const k = parseKey(spec.key);
    if (!k || spec.program.object_file !== '' || !this.#chain) return;
    this.#removeSelfLinkPins(k.iface, k.direction, { name: k.name, version: spec.program.version });
  }

  // ---------------------------------------------------------------- one chain

  /**
   * Brings one chain from `current` towards `target` (see {@link #applyNative}), with its
   * self-linking user program (cmd_start without object_file, l3afd's v1 path). That program links
   * itself after its predecessor, so it must be the chain's tail (highest seq_id of the enabled
   * programs; one per chain): the agent cannot link a program after one it did not load. When the
   * programs before it change, it is stopped first (it unlinks itself) and started again after
   * the new last program (or after an agent-held root when the chain has no other program).
   */
  async #applyChain(iface: string, direction: ChainDirection, current: readonly NormalizedBpfProgram[], target: readonly NormalizedBpfProgram[], results: Results, ipv4: string): Promise<NormalizedBpfProgram[]> {
    const curSelf = current.filter(isSelfLinking);
    const tgtSelf = target.filter(isSelfLinking);
    if (curSelf.length === 0 && tgtSelf.length === 0) return this.#applyNative(iface, direction, current, target, results, ipv4);
    const sup = this.#sup();
    const chaining = this.#config.l3afd.bpfChainingEnabled;
    const keyOf = (name: string): string => userKey(iface, direction, name);
    const supervised = (name: string): boolean => sup.snapshot(keyOf(name)) !== undefined;
    const tail = planTail({
      iface, direction, current, target, chaining,
      supervised: new Set(curSelf.filter((p) => supervised(p.name)).map((p) => p.name)),
      live: new Set(this.#running().programs(iface, direction).map((el) => el.name)) });
    const ops: TailOps = {
      iface, direction, chaining, supervised,
      userRunning: (name) => sup.snapshot(keyOf(name))?.running ?? false,
      stopUser: (p) => this.#stopUser(iface, direction, p),
      updateUser: async (p) => { await sup.update(keyOf(p.name), p); },
      startSelfLinking: (p) => this.#startSelfLinking(iface, direction, p),
      rootHeld: () => this.#userRoots?.get(iface, direction) !== undefined,
      releaseRoot: () => this.#userRoots?.release(iface, direction),
      chainLength: () => this.#running().programs(iface, direction).length,
      setLastError: (name, reason) => { this.#rt(iface, direction, name).lastError = reason; },
      dropRuntime: (name) => { this.#runtime.delete(keyString(iface, direction, name)); },
      warn: (obj, msg) => this.#log.warn(obj, msg),
      error: (obj, msg) => this.#log.error(obj, msg) };
    return applyTailPlan(tail, current, target, ops, results, (cur, tgt) => this.#applyNative(iface, direction, cur, tgt, results, ipv4));
  }

  /**
   * Brings one chain from `current` (what holds) towards `target`; returns what holds afterwards
   * and a result per program that was touched or named.
   */
  async #applyNative(iface: string, direction: ChainDirection, current: readonly NormalizedBpfProgram[], target: readonly NormalizedBpfProgram[], results: Results, ipv4: string): Promise<NormalizedBpfProgram[]> {
    const cm = this.#running();
    const live = new Set(cm.programs(iface, direction).map((el) => el.name));
    // without a libbpf API (Windows without eBPF-for-Windows) each program fails on its own, before any step
    const plan = planChain({
      current, target, live, chaining: this.#config.l3afd.bpfChainingEnabled,
      loadProblem: libbpfUnavailable(),
      ipv4Changed: this.#ifaceState(iface).ipv4_address !== ipv4 });
    return applyChainPlan(plan, current, target, this.#chainOps(iface, direction, ipv4), results);
  }

  /** The chain and user program operations of one chain, as the applier uses them. */
  #chainOps(iface: string, direction: ChainDirection, ipv4: string): ChainOps {
    const cm = this.#running();
    return {
      iface, direction, ipv4,
      chainNames: () => cm.programs(iface, direction).map((el) => el.name),
      inChain: (name) => this.#inChain(iface, direction, name),
      runningProgram: (p) => this.#runningProgram(iface, direction, p, ipv4),
      insert: (p, position) => this.#insert(iface, direction, p, position),
      replace: (from, to) => this.#replace(iface, direction, from, to),
      unlink: (name) => this.#removeFromChain(iface, direction, name),
      move: (name, position) => cm.move(iface, direction, name, position),
      writeMapArgs: (p) => this.#writeMapArgs(iface, direction, p),
      initMonitored: (p) => this.#initMonitored(mapsInDir(cm.layout.mapDir(iface, direction, p.name, p.version), pinsIn), p),
      stopUser: (p) => this.#stopUser(iface, direction, p),
      startUser: (p) => this.#startUser(iface, direction, p),
      updateUser: async (p) => { await this.#sup().update(userKey(iface, direction, p.name), p); },
      reachNote: (name) => this.#reachNote(iface, direction, name),
      notify: (event, arg, reason) => this.#notify(event, arg, reason),
      setLastError: (name, reason) => { this.#rt(iface, direction, name).lastError = reason; },
      dropRuntime: (name) => { this.#runtime.delete(keyString(iface, direction, name)); },
      warn: (obj, msg) => this.#log.warn(obj, msg),
      error: (obj, msg) => this.#log.error(obj, msg) };
  }

  // ---------------------------------------------------------------- operations

  #ifaceState(iface: string): IfaceState {
    return this.#state.get(iface) ?? { host_name: '', ipv4_address: '', lists: emptyLists() };
  }

  /**
   * Records an interface's state. As l3afd (its interface → address table), an interface named by a
   * payload stays known with its `ipv4_address` after its last program is deleted or failed; only an
   * `update` that omits it forgets it ({@link #forgetIface}).
   */
  #setIface(iface: string, st: IfaceState): void {
    this.#state.set(iface, st);
  }

  /**
   * Before an operation changes anything: holds the store space its result needs at most (the
   * current state plus `incoming`, the elements it may add), so a full file system refuses the
   * operation while nothing has changed yet. Undefined without a store.
   */
  async #reserve(incoming: readonly NormalizedL3afBpfPrograms[]): Promise<Reservation | undefined> {
    if (!this.#store) return undefined;
    const bytes = Buffer.byteLength(ConfigStore.text(this.#elements())) + Buffer.byteLength(ConfigStore.text(incoming)) + 4096;
    try {
      return await this.#store.reserve(bytes);
    } catch (err) {
      this.#log.error({ err: messageOf(err) }, 'the desired state cannot be written; the operation was refused, nothing was changed');
      throw err;
    }
  }

  /** What holds before an operation (to roll it back when it cannot be stored). */
  #snapshot(): Snapshot {
    return { state: new Map([...this.#state].map(([k, v]) => [k, { ...v, lists: { ...v.lists } }])), probes: new Map(this.#probesWanted) };
  }

  /**
   * Writes the desired state into the space reserved before the operation. When even that fails,
   * the operation is rolled back (kernel, probes and desired state as in `before`), so the error
   * the client gets means nothing changed.
   */
  async #persist(reservation: Reservation | undefined, before: Snapshot): Promise<void> {
    if (!reservation) return;
    try {
      await reservation.commit(this.#elements());
    } catch (err) {
      this.#log.error({ err: messageOf(err) }, 'the desired state could not be written; rolling the operation back');
      const left = await this.#rollback(before);
      throw new StoreError(reservation.path, `${messageOf(err).replace(/^config store \S+: /, '')}; ${left.length === 0 ? 'the operation was rolled back, nothing was changed' : `rolling the operation back failed for ${left.join(', ')}`}`, { cause: err });
    }
  }

  /** Brings kernel and desired state back to `before`; returns what could not be brought back. */
  async #rollback(before: Snapshot): Promise<string[]> {
    const left: string[] = [];
    for (const iface of new Set([...before.state.keys(), ...this.#state.keys()])) {
      const was = before.state.get(iface);
      const now = this.#ifaceState(iface);
      const lists = emptyLists();
      for (const d of CHAIN_DIRECTIONS) {
        const target = was?.lists[d] ?? [];
        lists[d] = now.lists[d];
        if (isDeepStrictEqual(now.lists[d], target)) continue;
        const results = new Results(iface, d);
        lists[d] = await this.#applyChain(iface, d, now.lists[d], target, results, was?.ipv4_address ?? now.ipv4_address)
          .catch((err: unknown) => { this.#log.error({ iface, direction: d, err: messageOf(err) }, 'rollback failed'); return now.lists[d]; });
        if (!isDeepStrictEqual(lists[d], target)) left.push(`${iface} ${d}`);
      }
      this.#state.set(iface, { host_name: was?.host_name ?? now.host_name, ipv4_address: was?.ipv4_address ?? now.ipv4_address, lists });
    }
    const probesNow = new Map(this.#probesWanted);
    this.#probesWanted.clear();
    for (const [name, w] of before.probes) this.#probesWanted.set(name, w);
    for (const [name, w] of probesNow) {
      const prev = before.probes.get(name);
      if (prev && isDeepStrictEqual(prev, w)) continue;
      try {
        if (!prev) this.#probeMgr().remove(name);
        else if ((await this.#applyProbe(prev.p, prev.iface)).outcome === 'failed') left.push(`probe ${name}`);
      } catch (err) {
        left.push(`probe ${name}`);
        this.#log.error({ name, err: messageOf(err) }, 'rollback failed');
      }
    }
    for (const [iface, st] of [...this.#state]) this.#setIface(iface, st);
    return left;
  }

  /** An interface field the operation changed (programs unchanged or not): reported beside the program results. */
  #interfaceChange(iface: string, before: IfaceState | undefined, out: InterfaceResult[]): void {
    const now = this.#state.get(iface);
    if (!before || !now || before.ipv4_address === now.ipv4_address) return;
    out.push({ iface, outcome: 'updated', reason: `changed: ipv4_address (${JSON.stringify(before.ipv4_address)} → ${JSON.stringify(now.ipv4_address)})` });
  }

  #elements(): NormalizedL3afBpfPrograms[] {
    return [...this.#state].map(([iface, st]) => ({
      host_name: st.host_name,
      iface,
      ipv4_address: st.ipv4_address,
      bpf_programs: {
        xdp_ingress: st.lists.xdp_ingress.length > 0 ? st.lists.xdp_ingress.map((p) => structuredClone(p)) : null,
        tc_ingress: st.lists.tc_ingress.length > 0 ? st.lists.tc_ingress.map((p) => structuredClone(p)) : null,
        tc_egress: st.lists.tc_egress.length > 0 ? st.lists.tc_egress.map((p) => structuredClone(p)) : null,
        probes: this.#probesOf(iface) } }));
  }

  /** The probes kept with `iface` (the interface their payload named), or null. */
  #probesOf(iface: string): NormalizedBpfProgram[] | null {
    const list = [...this.#probesWanted.values()].filter((w) => w.iface === iface).map((w) => structuredClone(w.p));
    return list.length > 0 ? list : null;
  }

  #probeMgr(): ProbeManager {
    if (!this.#probeManager) throw notReady(this.#phase);
    return this.#probeManager;
  }

  /** Fetches a probe's package and attaches (or keeps) its set; the result for the payload. */
  async #applyProbe(p: NormalizedBpfProgram, iface: string): Promise<ProgramResult> {
    const result = (outcome: ProgramResult['outcome'], reason?: string): ProgramResult => ({ iface, direction: 'probes', name: p.name, outcome, ...(reason === undefined ? {} : { reason }) });
    const had = this.#probesWanted.get(p.name);
    try {
      if (p.admin_status !== 'enabled') {
        this.#probeMgr().remove(p.name);
        this.#probesWanted.set(p.name, { iface, p });
        this.#probeErrors.delete(p.name);
        return had ? result(isDeepStrictEqual(had.p, p) ? 'unchanged' : 'updated', 'admin_status disabled: detached, kept in the desired state') : result('added', 'admin_status disabled: stored, not attached');
      }
      if (p.object_file === '') throw new EngineError(PROBES_REASON, 'invalid');
      const dir = await this.#packageDir(p);
      const r = this.#probeMgr().apply({ name: p.name, version: p.version, objectPath: objectIn(dir, p.object_file) });
      if (r.outcome === 'failed') throw new EngineError(r.reason ?? 'attaching the probes failed', 'kernel');
      this.#probesWanted.set(p.name, { iface: had?.iface ?? iface, p });
      this.#probeErrors.delete(p.name);
      if (r.outcome === 'unchanged' && had && !isDeepStrictEqual(had.p, p)) return result('updated', `changed: ${changedFields(had.p, p).join(', ')} (the attached probes stay as they are)`);
      return result(r.outcome === 'removed' ? 'updated' : r.outcome, r.reason);
    } catch (err) {
      if (had) this.#probeErrors.set(p.name, messageOf(err));
      this.#log.warn({ name: p.name, err: messageOf(err) }, 'probe change failed');
      const code = repositoryErrorCode(err);
      return { ...result('failed', messageOf(err)), ...(code === undefined ? {} : { error_code: code }) };
    }
  }

  /**
   * The payload's probes: global, not per interface (kept with the interface their payload named).
   * `add` leaves a probe already present as it is; `update` re-applies it (unchanged when the same
   * object and targets are attached). Probes an update omits stay (they are removed by delete).
   */
  async #probes(list: readonly BpfProgram[] | null | undefined, iface: string, out: ProgramResult[], mode: 'add' | 'update'): Promise<void> {
    for (const raw of list ?? []) {
      const p = normalizeProgram(raw);
      if (mode === 'add' && this.#probesWanted.has(p.name)) {
        out.push({ iface, direction: 'probes', name: p.name, outcome: 'unchanged', reason: 'already present (add does not change programs; use update)' });
        continue;
      }
      out.push(await this.#applyProbe(p, iface));
    }
  }

  /** At start: adopts the probe links a previous agent pinned, attaches stored probes that are missing, drops unwanted sets. */
  async #startProbes(): Promise<void> {
    const pm = this.#probeMgr();
    try {
      pm.adopt();
    } catch (err) {
      this.#log.warn({ err: messageOf(err) }, 'adopting pinned probes failed');
    }
    for (const s of pm.list()) {
      if (!this.#probesWanted.has(s.name)) {
        pm.remove(s.name);
        this.#log.info({ name: s.name }, 'removed pinned probes the desired state does not hold');
      }
    }
    for (const { iface, p } of [...this.#probesWanted.values()]) {
      const r = await this.#applyProbe(p, iface);
      if (r.outcome === 'failed') this.#probeErrors.set(p.name, r.reason ?? 'failed');
    }
  }

  add(body: AddUpdateBody, opts?: WriteOptions): Promise<OperationResult> {
    const degraded = this.#degradedError();
    if (degraded) return Promise.reject(degraded);
    return this.#withPackages(body, () => this.#serial(() => this.#write('add', body, opts, () => this.#addOrUpdate('add', body, opts))));
  }

  update(body: AddUpdateBody, opts?: WriteOptions): Promise<OperationResult> {
    const degraded = this.#degradedError();
    if (degraded) return Promise.reject(degraded);
    return this.#withPackages(body, () => this.#serial(() => this.#write('update', body, opts, () => this.#addOrUpdate('update', body, opts))));
  }

  // ---------------------------------------------------------------- versioned writes, dry run

  etag(): string {
    this.#usable();
    return etagOf(this.#elements());
  }

  /** What a change is planned against: the desired state and the kernel chains now. */
  #changeState(): ChangeState {
    return {
      ifaces: [...this.#state.keys()],
      list: (iface, d) => this.#state.get(iface)?.lists[d] ?? [],
      live: (iface, d) => new Set(this.#chain?.programs(iface, d).map((el) => el.name) ?? []),
      probes: this.#probesWanted,
      chaining: this.#config.l3afd.bpfChainingEnabled };
  }

  /**
   * A write in its turn of the queue: If-Match checked against the ETag of the state it finds
   * (so of two writers that read the same state, the second gets `conflict` and changes nothing),
   * then `run`; `opts.record` hears the plan, the ETags around the write and what it did.
   */
  async #write(mode: 'add' | 'update' | 'delete', body: AddUpdateBody | DeleteBody, opts: WriteOptions | undefined, run: () => Promise<OperationResult>): Promise<OperationResult> {
    this.#running();
    const etagBefore = this.etag();
    if (opts?.ifMatch !== undefined && !ifMatchMatches(opts.ifMatch, etagBefore)) throw new EngineError('precondition failed: desired state changed', 'conflict');
    const record = opts?.record;
    if (!record) return run();
    let plan: ChangePlan = { programs: [], chains: [], ifaces: [...new Set((body as { iface: string }[]).map((e) => e.iface))] };
    try {
      plan = planChange(mode, body, this.#changeState());
    } catch (err) {
      this.#log.warn({ err: messageOf(err) }, 'planning the change for the audit log failed');
    }
    const before = this.#elements().filter((e) => plan.ifaces.includes(e.iface));
    const told = (r: { result?: OperationResult; error?: unknown }): void => {
      try {
        record({ plan: plan.programs.map((p) => p.item), etagBefore, etagAfter: this.etag(), ifaces: plan.ifaces, before, ...r });
      } catch (err) {
        this.#log.error({ err: messageOf(err) }, 'recording the change failed');
      }
    };
    try {
      const result = await run();
      told({ result });
      return result;
    } catch (err) {
      told({ error: err });
      throw err;
    }
  }

  dryRun(mode: 'add' | 'update' | 'delete', body: AddUpdateBody | DeleteBody): Promise<DryRunResult> {
    const degraded = this.#degradedError();
    if (degraded) return Promise.reject(degraded);
    // packages are fetched before the queue's turn, as for a write (a slow repository delays only this dry run)
    if (mode !== 'delete') return this.#withPackages(body as AddUpdateBody, () => this.#dryRun(mode, body));
    return this.#dryRun(mode, body);
  }

  #dryRun(mode: 'add' | 'update' | 'delete', body: AddUpdateBody | DeleteBody): Promise<DryRunResult> {
    return this.#serial(async () => {
      this.#running();
      const problems = mode === 'delete' ? checkDeleteSemantics(body as DeleteBody) : checkAddUpdateSemantics(body as AddUpdateBody);
      if (problems.length > 0) throw new EngineError(`invalid ${mode} body: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, 'invalid');
      const plan = planChange(mode, body, this.#changeState());
      const items: PlanItem[] = [];
      for (const { item, program: p, direction } of plan.programs) {
        if ((item.action !== 'load' && item.action !== 'replace') || item.verifier) {
          items.push(item);
          continue;
        }
        let verdict: VerifierVerdict;
        let sha256: string | undefined;
        try {
          const pkg = await this.#fetchPackage(p);
          sha256 = pkg.sha256;
          if (direction === 'probes' || isSelfLinking(p)) {
            verdict = p.object_file === '' || existsSync(objectIn(pkg.dir, p.object_file)) ? { ok: true } : { ok: false, error: `the package has no object file '${p.object_file}'` };
          } else {
            const path = objectIn(pkg.dir, p.object_file);
            verdict = existsSync(path) ? verifyObject(path, p.entry_function_name, p.map_name, direction) : { ok: false, error: `the package has no object file '${p.object_file}'` };
          }
        } catch (err) {
          verdict = { ok: false, error: `fetching the package failed: ${messageOf(err)}` };
        }
        items.push({ ...item, ...(sha256 === undefined ? {} : { sha256 }), verifier: verdict });
      }
      return { dry_run: true, ok: items.every((i) => i.verifier?.ok !== false), etag: this.etag(), plan: items, chains: plan.chains };
    });
  }

  /**
   * add and update: per interface and direction, each program of the payload in its order gives a
   * target list ({@link targetFor}) that the chain is brought to; as l3afd, the first failure ends
   * the interface's payload. update first drops what a named chain omits, and at the end forgets
   * the interfaces it does not name (the host's whole desired state).
   */
  async #addOrUpdate(mode: 'add' | 'update', body: AddUpdateBody, opts?: WriteOptions): Promise<OperationResult> {
    this.#running();
    const problems = opts?.validated === true ? [] : checkAddUpdateSemantics(body);
    if (problems.length > 0) throw new EngineError(`invalid ${mode} body: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, 'invalid');
    const before = this.#snapshot();
    const reservation = await this.#reserve(body.map(normalizeL3afBpfPrograms));
    const out: ProgramResult[] = [];
    const ifaces: InterfaceResult[] = [];
    try {
      for (const e of body) {
        const st = this.#ifaceState(e.iface);
        const next: IfaceState = { host_name: e.host_name, ipv4_address: e.ipv4_address ?? st.ipv4_address, lists: { ...st.lists } };
        this.#state.set(e.iface, next); // the new address holds from here (labels of what this payload loads)
        const halt = new PayloadHalt(e.iface);
        const firstResult = out.length;
        // l3afd without chaining refuses an add that lists more than one program for a direction (the whole interface)
        const crowded = mode !== 'add' || this.#config.l3afd.bpfChainingEnabled ? undefined : CHAIN_DIRECTIONS.find((d) => (e.bpf_programs?.[d]?.length ?? 0) > 1);
        if (crowded) halt.reason = `bpf-chaining-enabled is false: one program per direction, and ${crowded} lists ${e.bpf_programs?.[crowded]?.length ?? 0} (l3afd refuses the interface's add)`;
        for (const d of CHAIN_DIRECTIONS) {
          const asked = (e.bpf_programs?.[d] ?? []).map(normalizeProgram);
          // programs an update omits on a named interface go first (l3af prunes them; l3afd's pruning no longer finds them)
          const omitted = mode === 'update' ? omittedBy(next.lists[d], asked) : [];
          if (omitted.length > 0) {
            const results = new Results(e.iface, d);
            const current = next.lists[d];
            next.lists[d] = await this.#applyChain(e.iface, d, current, current.filter((c) => !omitted.includes(c)), results, next.ipv4_address);
            out.push(...omitted.flatMap((c) => results.get(c.name) ?? []));
          }
          for (const p of asked) {
            if (halt.skip(out, d, p.name)) continue;
            const current = next.lists[d];
            const ask = targetFor(mode, d, current, p);
            if (ask.kind === 'skip') {
              out.push({ iface: e.iface, direction: d, name: p.name, outcome: 'unchanged', reason: ask.reason });
              continue;
            }
            const results = new Results(e.iface, d);
            next.lists[d] = await this.#applyChain(e.iface, d, current, ask.target, results, next.ipv4_address);
            const r = results.get(p.name) ?? { iface: e.iface, direction: d, name: p.name, outcome: 'unchanged' as const };
            halt.record(out, ask.disables && r.outcome === 'removed' ? { ...r, outcome: 'updated', reason: DISABLED_REMOVED } : r);
          }
        }
        // as l3afd, an add's probes are applied even when a program of the interface failed; an update's are not
        if (mode === 'add' || halt.reason === undefined) await this.#probes(e.bpf_programs?.probes, e.iface, out, mode);
        else for (const p of e.bpf_programs?.probes ?? []) halt.skip(out, 'probes', p.name);
        this.#setIface(e.iface, next);
        if (st.ipv4_address !== next.ipv4_address) this.#relabel(e.iface, next, out.slice(firstResult));
        this.#interfaceChange(e.iface, before.state.get(e.iface), ifaces);
      }
      // update is the host's whole desired state (l3afd): interfaces it does not name are stopped and forgotten
      if (mode === 'update') {
        for (const iface of [...this.#state.keys()]) {
          if (!body.some((e) => e.iface === iface)) await this.#forgetIface(iface, out);
        }
      }
    } catch (err) {
      await reservation?.release();
      throw err;
    }
    await this.#persist(reservation, before);
    return { results: out, ...(ifaces.length > 0 ? { interfaces: ifaces } : {}) };
  }

  /** The interface's address changed: the observer hears it for running programs this payload did not load or change (one of their labels). */
  #relabel(iface: string, st: IfaceState, results: readonly ProgramResult[]): void {
    for (const d of CHAIN_DIRECTIONS) {
      for (const p of st.lists[d]) {
        const r = results.find((x) => x.direction === d && x.name === p.name);
        if (r && (r.outcome === 'added' || r.outcome === 'updated')) continue;
        this.#notifyRunning('programUpdated', iface, d, p, st.ipv4_address);
      }
    }
  }

  /** Removes every program of an interface an update did not name, then forgets it (kept while probes are kept with it). */
  async #forgetIface(iface: string, out: ProgramResult[]): Promise<void> {
    const st = this.#ifaceState(iface);
    const next: IfaceState = { ...st, lists: { ...st.lists } };
    for (const d of CHAIN_DIRECTIONS) {
      const current = st.lists[d];
      if (current.length === 0) continue;
      const results = new Results(iface, d);
      next.lists[d] = await this.#applyChain(iface, d, current, [], results, st.ipv4_address);
      out.push(...results.ordered(current.map((c) => c.name)).map((r) => (r.outcome === 'removed' ? { ...r, reason: 'the update does not name this interface (l3afd stops it)' } : r)));
    }
    const left = CHAIN_DIRECTIONS.some((d) => next.lists[d].length > 0) || [...this.#probesWanted.values()].some((w) => w.iface === iface);
    if (left) this.#state.set(iface, next);
    else this.#state.delete(iface);
  }

  delete(body: DeleteBody, opts?: WriteOptions): Promise<OperationResult> {
    const degraded = this.#degradedError();
    if (degraded) return Promise.reject(degraded);
    return this.#serial(() => this.#write('delete', body, opts, () => this.#delete(body, opts)));
  }

  async #delete(body: DeleteBody, opts?: WriteOptions): Promise<OperationResult> {
    {
      this.#running();
      const problems = opts?.validated === true ? [] : checkDeleteSemantics(body);
      if (problems.length > 0) throw new EngineError(`invalid delete body: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, 'invalid');
      const before = this.#snapshot();
      const reservation = await this.#reserve([]);
      const out: ProgramResult[] = [];
      try {
      for (const e of body) {
        const st = this.#ifaceState(e.iface);
        const next: IfaceState = { ...st, lists: { ...st.lists } };
        for (const d of CHAIN_DIRECTIONS) {
          const names = e.bpf_programs?.[d] ?? [];
          if (names.length === 0) continue;
          const results = new Results(e.iface, d);
          const current = st.lists[d];
          next.lists[d] = await this.#applyChain(e.iface, d, current, current.filter((p) => !names.includes(p.name)), results, st.ipv4_address);
          for (const n of names) out.push(results.get(n) ?? { iface: e.iface, direction: d, name: n, outcome: 'unchanged', reason: 'not present' });
        }
        for (const n of e.bpf_programs?.probes ?? []) {
          if (!this.#probesWanted.has(n)) {
            out.push({ iface: e.iface, direction: 'probes', name: n, outcome: 'unchanged', reason: 'not present' });
            continue;
          }
          try {
            this.#probeMgr().remove(n);
            const from = this.#probesWanted.get(n)?.iface;
            this.#probesWanted.delete(n);
            this.#probeErrors.delete(n);
            if (from !== undefined && from !== e.iface) this.#setIface(from, this.#ifaceState(from));
            out.push({ iface: e.iface, direction: 'probes', name: n, outcome: 'removed' });
          } catch (err) {
            out.push({ iface: e.iface, direction: 'probes', name: n, outcome: 'failed', reason: `detaching it failed: ${messageOf(err)}` });
          }
        }
        if (this.#state.has(e.iface)) this.#setIface(e.iface, next);
      }
      } catch (err) {
        await reservation?.release();
        throw err;
      }
      await this.#persist(reservation, before);
      return { results: out };
    }
  }

  // ---------------------------------------------------------------- status

  get(iface?: string, opts: { status?: boolean } = {}): NormalizedL3afBpfPrograms[] {
    this.#usable();
    this.#status.start();
    return opts.status === false ? this.#status.desired(iface) : this.#status.withStatus(iface);
  }

  /** Every element with its live status, from the kernel: what {@link StatusCache} keeps. */
  #computeStatus(): NormalizedL3afBpfPrograms[] {
    const els = this.#elements();
    for (const e of els) {
      for (const p of (e.bpf_programs.probes ?? []) as ProgramWithStatus[]) {
        p.status = probeStatus(this.#phase === 'running' ? this.#probeManager?.status(p.name) : undefined, this.#probeErrors.get(p.name) ?? null);
      }
      for (const d of CHAIN_DIRECTIONS) {
        const list = e.bpf_programs[d];
        if (!list) continue;
        let desc: ChainDescription | undefined;
        try {
          desc = this.#chain?.chains().some((c) => c.iface === e.iface && c.direction === d) ? this.#chain.describe(e.iface, d) : undefined;
        } catch (err) {
          this.#log.warn({ iface: e.iface, direction: d, err: messageOf(err) }, 'describe failed');
        }
        for (const p of list as ProgramWithStatus[]) {
          const el = desc?.programs.find((x) => x.name === p.name);
          const rt = this.#runtime.get(keyString(e.iface, d, p.name));
          let attached = el !== undefined && el.linked && desc?.root.linked === true;
          let progId = el?.id ?? 0;
          if (isSelfLinking(p) && p.admin_status === 'enabled' && this.#phase === 'running') ({ attached, progId } = this.#selfLinkState(e.iface, d, desc));
          const base: ProgramStatus = {
            attached, kernel_prog_id: progId, last_error: rt?.lastError ?? (isSelfLinking(p) ? selfLinkBpfProblem() ?? null : null), restarts: rt?.restarts ?? 0,
            ...(el ? { continues_chain: el.continues, reachable: el.reachable } : {}) };
          p.status = hasUserProgram(p) ? withUserStatus(base, this.#supervisor?.snapshot(userKey(e.iface, d, p.name)), this.#observedLimits(userKey(e.iface, d, p.name))) : base;
        }
      }
    }
    return els;
  }

  /** A user program's limits as the OS reports them (read errors: none shown, logged). */
  #observedLimits(key: string): Record<string, string> | undefined {
    try {
      return this.#supervisor?.observedLimits(key);
    } catch (err) {
      this.#log.warn({ key, err: messageOf(err) }, 'reading back user program limits failed');
      return undefined;
    }
  }

  /** What the kernel shows of a self-linking tail: its predecessor's slot, the hook running the root. */
  #selfLinkState(iface: string, d: ChainDirection, desc: ChainDescription | undefined): { attached: boolean; progId: number } {
    const prevPin = this.#tailPrevPin(iface, d);
    const id = prevPin === undefined ? undefined : slotId(prevPin);
    if (id === undefined) return { attached: false, progId: 0 };
    const last = desc?.programs.at(-1);
    const rootOk = desc ? desc.root.linked && (last === undefined || last.linked) : hookProgramId(iface, d) === this.#userRoots?.get(iface, d)?.id;
    return { attached: rootOk, progId: id };
  }

  running(): RunningProgram[] {
    const out: RunningProgram[] = [];
    if (this.#phase !== 'running') return out;
    for (const [iface, st] of this.#state) {
      for (const d of CHAIN_DIRECTIONS) {
        for (const p of st.lists[d]) {
          if (p.admin_status !== 'enabled') continue;
          const rp = this.#runningProgram(iface, d, p, st.ipv4_address);
          if (rp) out.push(rp);
        }
      }
    }
    return out;
  }

  describeChains(iface: string): ChainDescription[] {
    const cm = this.#running();
    return CHAIN_DIRECTIONS
      .filter((d) => cm.chains().some((c) => c.iface === iface && c.direction === d))
      .map((d) => cm.describe(iface, d));
  }

  // ---------------------------------------------------------------- start / stop

  async #rootSpecs(): Promise<RootSpecs> {
    const a = this.#artifacts as PackageSource;
    const x = this.#config.xdpRoot;
    const t = this.#config.tcRoot;
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
  #unusableRoots(): RootSpecs {
    const x = this.#config.xdpRoot;
    const t = this.#config.tcRoot;
    return {
      xdp_ingress: { name: x.packageName, version: x.version, objectPath: x.objectFile, entry: x.entryFunctionName, nextMap: x.ingressMapName },
      tc_ingress: { name: t.packageName, version: t.version, objectPath: t.ingressObjectFile, entry: t.ingressEntryFunctionName, nextMap: t.ingressMapName },
      tc_egress: { name: t.packageName, version: t.version, objectPath: t.egressObjectFile, entry: t.egressEntryFunctionName, nextMap: t.egressMapName } };
  }

  start(): Promise<void> {
    return this.#serial(async () => {
      if (this.#phase !== 'new') throw new EngineError(`start() was already called (engine ${this.#phase})`, 'busy');
      this.#phase = 'starting';
      try {
        await this.#start();
        this.#phase = 'running';
      } catch (err) {
        this.#phase = 'stopped';
        this.#chain?.close();
        this.#supervisor?.close();
        this.#userRoots?.close();
        this.#probeManager?.close();
      this.#objectProbes?.close();
        if (this.#ownArtifacts) await this.#artifacts?.close?.();
        throw err;
      }
    });
  }

  async #start(): Promise<void> {
    let stored: NormalizedL3afBpfPrograms[] = [];
    try {
      stored = this.#store ? await this.#store.read() : [];
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      // Degraded start: the agent answers (503 naming the file) but adopts, repairs and removes
      // nothing: what the kernel runs stays exactly as the previous agent left it.
      this.#storeProblem = { file: err.path, error: err.message };
      this.#log.error({ file: err.path, err: err.message }, 'DEGRADED START: the stored desired state cannot be read; serving 503 and changing nothing in the kernel until the file is fixed and the agent restarted');
      return;
    }
    if (this.#deps.artifacts) {
      this.#artifacts = this.#deps.artifacts;
    } else {
      const platform = this.#config.l3af.platform !== '' ? this.#config.l3af.platform : platformName();
      this.#artifacts = new ArtifactStore(artifactStoreOptions(this.#config, platform, this.#log));
      this.#ownArtifacts = true;
    }
    const roots = await this.#rootSpecs().catch((err: unknown) => {
      // without a libbpf API (Windows without eBPF-for-Windows) nothing can be chained anyway: the
      // engine still runs user programs; every kernel step fails naming the missing library
      const missing = libbpfUnavailable();
      if (missing === null) throw err;
      this.#log.warn({ err: messageOf(err), libbpf: missing }, 'root packages unavailable; kernel programs cannot run here');
      return this.#unusableRoots();
    });
    const cm = this.#deps.chainManager ? this.#deps.chainManager(roots) : new ChainManager(chainManagerOptions(this.#config, roots));
    this.#chain = cm;
    const userDir = this.#userDir();
    this.#supervisor = this.#deps.supervisor ?? new Supervisor({
      stateFile: join(userDir, 'supervisor.json'), logDir: join(userDir, 'logs'), logger: this.#log,
      restart: { maxRestarts: this.#config.l3afd.maxEbpfRestartCount }, // [l3afd] max-ebpf-restart-count
      beforeSpawn: (spec) => this.#beforeSpawn(spec),
      // a user program that ended, gave up or came back: the observer hears it without waiting for the poll
      onEvent: (e) => {
        if (e.type === 'exited' || e.type === 'gave-up' || e.type === 'started') setImmediate(() => { this.#checkRunning(); this.#status.refresh(); });
      } });
    this.#probeManager = this.#deps.probes ?? new ProbeManager({ pinRoot: this.#config.l3afd.bpfMapDefaultPath, stateFile: join(this.#config.l3af.stateDir, 'probes.json') });
    this.#objectProbes = this.#deps.objectProbes ?? new ProbeManager({
      pinRoot: join(this.#config.l3afd.bpfMapDefaultPath, 'chain-probes'), stateFile: join(this.#config.l3af.stateDir, 'chain-probes.json') });
    try {
      this.#objectProbes.adopt(); // the sets a previous agent attached, before any replace compares with them
    } catch (err) {
      this.#log.warn({ err: messageOf(err) }, 'adopting the pinned probes of chained objects failed');
    }
    this.#userRoots = new UserRoots(this.#config.l3afd.bpfMapDefaultPath, roots);
    for (const e of stored) {
      const lists = emptyLists();
      for (const d of CHAIN_DIRECTIONS) lists[d] = bySeq((e.bpf_programs[d] ?? []).filter((p) => p.admin_status === 'enabled'));
      for (const p of e.bpf_programs.probes ?? []) this.#probesWanted.set(p.name, { iface: e.iface, p });
      this.#setIface(e.iface, { host_name: e.host_name, ipv4_address: e.ipv4_address, lists });
    }
    // user programs a previous agent left: adopted when the stored state still wants them as they are
    const recovery = await this.#supervisor.recover((spec) => {
      const k = parseKey(spec.key);
      const p = k && this.#state.get(k.iface)?.lists[k.direction]?.find((x) => x.name === k.name);
      return p && p.admin_status === 'enabled' && isDeepStrictEqual(spec.program, p) ? 'adopt' : 'stop';
    });
    if (recovery.adopted.length + recovery.stopped.length > 0) this.#log.info({ adopted: recovery.adopted, stopped: recovery.stopped }, 'user programs recovered');
    this.#userRoots.adopt();

    // object files of the stored programs, so adopted ones can be rebuilt (moves, replace with maps)
    const objects = new Map<string, string>();
    const specs = new Map<string, ProgramSpec>();
    const chaining = this.#config.l3afd.bpfChainingEnabled;
    for (const [iface, st] of this.#state) {
      for (const d of CHAIN_DIRECTIONS) {
        for (const p of st.lists[d]) {
          if (p.admin_status !== 'enabled') continue;
          const problem = nativeProblem(p, chaining);
          if (problem) {
            this.#rt(iface, d, p.name).lastError = problem;
            continue;
          }
          try {
            const spec = await this.#spec(p, { iface, direction: d });
            specs.set(keyString(iface, d, p.name), spec);
            objects.set(`${keyString(iface, d, p.name)}/${seg(p.version)}/${p.entry_function_name}`, spec.objectPath);
          } catch (err) {
            this.#rt(iface, d, p.name).lastError = `fetching the package failed: ${messageOf(err)}`;
          }
        }
      }
    }
    const objectPathFor = (r: AdoptedRef): string | undefined => objects.get(`${keyString(r.iface, r.direction, r.name)}/${r.versionSegment}/${r.entry}`);
    this.#phase = 'running'; // the helpers below need a running engine
    await adoptAtStart({
      adopt: () => cm.adopt({ objectPathFor }),
      removeOrphan: (o) => cm.removeOrphan(o),
      chains: () => cm.chains(),
      programs: (iface, direction) => cm.programs(iface, direction),
      remove: (iface, direction, name) => this.#removeFromChain(iface, direction, name),
      wanted: (iface, direction) => this.#state.get(iface)?.lists[direction].length ?? 0,
      selfLinked: (iface, name) => CHAIN_DIRECTIONS.some((d) => this.#state.get(iface)?.lists[d].some((p) => p.name === name && isSelfLinking(p))),
      log: this.#log,
    });
    for (const [iface, st] of this.#state) {
      for (const d of CHAIN_DIRECTIONS) {
        if (st.lists[d].length > 0) await this.#reconcile(iface, d, st.lists[d], specs);
      }
    }
    this.#pruneObjectProbes();
    await this.#startUserPrograms();
    await this.#startProbes();
    this.#startHealth();
    // the observer learns what runs after adopt + repair, and what could not be started
    for (const [iface, st] of this.#state) {
      for (const d of CHAIN_DIRECTIONS) {
        for (const p of st.lists[d]) {
          if (p.admin_status !== 'enabled') continue;
          const self = isSelfLinking(p) && this.#sup().snapshot(userKey(iface, d, p.name)) ? this.#selfLinkProgram(iface, d, p, st.ipv4_address) : undefined;
          if (self) {
            this.#notify('programStarted', self);
          } else if (this.#inChain(iface, d, p.name)) {
            this.#notifyRunning('programStarted', iface, d, p, st.ipv4_address);
          } else {
            const reason = this.#runtime.get(keyString(iface, d, p.name))?.lastError ?? 'not running after start';
            this.#notify('deployFailed', { iface, direction: d, name: p.name, version: p.version, ipv4: st.ipv4_address }, reason);
          }
        }
      }
    }
  }

  /** At start: drops the object probe sets of programs that are not in their chain any more. */
  #pruneObjectProbes(): void {
    const pm = this.#objProbes();
    const wanted = new Set<string>();
    for (const [iface, st] of this.#state) {
      for (const d of CHAIN_DIRECTIONS) {
        for (const p of st.lists[d]) if (this.#inChain(iface, d, p.name)) wanted.add(objectProbeOwner(iface, d, p.name));
      }
    }
    for (const set of pm.list()) {
      if (wanted.has(set.name)) continue;
      pm.remove(set.name);
      this.#log.info({ owner: set.name }, 'removed pinned probes of an object whose program is not in its chain');
    }
  }

  /** At start: starts the user programs of the stored state that no previous agent left running. */
  async #startUserPrograms(): Promise<void> {
    const sup = this.#sup();
    const chaining = this.#config.l3afd.bpfChainingEnabled;
    for (const [iface, st] of this.#state) {
      for (const d of CHAIN_DIRECTIONS) {
        const enabled = bySeq(st.lists[d].filter((p) => p.admin_status === 'enabled'));
        for (const p of enabled) {
          if (!hasUserProgram(p) || sup.snapshot(userKey(iface, d, p.name))?.running) continue;
          try {
            if (isSelfLinking(p)) {
              if (p !== enabled.at(-1)) throw new EngineError('a self-linking user program (cmd_start without object_file) must be the last program of its chain (highest seq_id)', 'invalid');
              await this.#startSelfLinking(iface, d, p, false);
            } else if (!nativeProblem(p, chaining) && this.#inChain(iface, d, p.name)) {
              await this.#startUser(iface, d, p);
            } else {
              continue;
            }
            this.#rt(iface, d, p.name).restarts++;
          } catch (err) {
            this.#rt(iface, d, p.name).lastError = `starting the user program failed: ${messageOf(err)}`;
            this.#log.warn({ iface, direction: d, name: p.name, err: messageOf(err) }, 'starting a stored user program failed');
          }
        }
      }
    }
    // agent-held roots nobody needs any more
    for (const { iface, direction } of this.#roots().chains()) {
      const needed = this.#state.get(iface)?.lists[direction].some((p) => isSelfLinking(p) && sup.snapshot(userKey(iface, direction, p.name))?.running);
      if (!needed || this.#running().programs(iface, direction).length > 0) this.#roots().release(iface, direction);
    }
  }

  /** Runs cmd_status of every supervised program with one, every `[web] ebpf-poll-interval`. */
  #startHealth(): void {
    const sup = this.#supervisor;
    if (!sup || this.#health) return;
    this.#health = setInterval(() => {
      this.#checkRunning();
      for (const u of sup.list()) {
        if (u.state === 'running' && this.#userHasStatusCmd(u.key)) {
          sup.status(u.key).catch((err: unknown) => this.#log.warn({ key: u.key, err: messageOf(err) }, 'cmd_status failed'));
        }
      }
    }, this.#config.web.ebpfPollIntervalMs);
    this.#health.unref();
  }

  #userHasStatusCmd(key: string): boolean {
    const k = parseKey(key);
    return k !== undefined && this.#state.get(k.iface)?.lists[k.direction]?.find((p) => p.name === k.name)?.cmd_status !== '';
  }

  /** Makes the adopted chain match the stored list (see {@link reconcileChain}). */
  async #reconcile(iface: string, d: ChainDirection, desired: readonly NormalizedBpfProgram[], specs: Map<string, ProgramSpec>): Promise<void> {
    const cm = this.#running();
    await reconcileChain({
      iface, direction: d, desired, chaining: this.#config.l3afd.bpfChainingEnabled,
      specOf: (name) => specs.get(keyString(iface, d, name)),
      chain: () => cm.programs(iface, d),
      unlink: (name) => this.#removeFromChain(iface, d, name),
      replace: (name, spec) => this.#replaceSpanned(iface, d, name, spec, false),
      move: (name, position) => cm.move(iface, d, name, position),
      writeMapArgs: (p) => this.#writeMapArgs(iface, d, p),
      insert: (p, position) => this.#insert(iface, d, p, position),
      runtime: (name) => this.#rt(iface, d, name),
      log: this.#log });
  }

  stop(opts: { unload?: boolean } = {}): Promise<void> {
    return this.#serial(async () => {
      if (this.#phase === 'stopped') return;
      this.#status.close();
      const unload = opts.unload ?? this.#config.l3af.unloadOnStop;
      if (this.#health) clearInterval(this.#health);
      this.#health = null;
      const cm = this.#chain;
      let first: unknown;
      if (unload) {
        // user programs first (self-linking ones unlink themselves), then probes, then the chains
        const selfLinked: RunningProgram[] = [];
        for (const [iface, st] of this.#state) {
          for (const d of CHAIN_DIRECTIONS) {
            for (const p of st.lists[d]) {
              const rp = isSelfLinking(p) && this.#supervisor?.snapshot(userKey(iface, d, p.name)) ? this.#selfLinkProgram(iface, d, p, st.ipv4_address) : undefined;
              if (rp) selfLinked.push(rp);
            }
          }
        }
        await this.#supervisor?.stopAll().catch((err: unknown) => {
          first ??= err;
          this.#log.error({ err: messageOf(err) }, 'stopping user programs failed');
        });
        for (const rp of selfLinked) this.#notify('programStopped', rp);
        for (const [iface, st] of this.#state) {
          for (const d of CHAIN_DIRECTIONS) for (const p of st.lists[d]) if (isSelfLinking(p) && this.#chain) this.#removeSelfLinkPins(iface, d, p);
        }
        for (const { iface, direction } of this.#userRoots?.chains() ?? []) {
          try {
            this.#userRoots?.release(iface, direction);
          } catch (err) {
            first ??= err;
          }
        }
        for (const name of this.#probesWanted.keys()) this.#probeManager?.remove(name);
      }
      this.#phase = 'stopped';
      if (cm && unload) {
        for (const { iface, direction } of cm.chains()) {
          for (const el of [...cm.programs(iface, direction)].reverse()) {
            const st = this.#state.get(iface);
            const p = st?.lists[direction].find((x) => x.name === el.name);
            const rp = p && st ? this.#runningProgram(iface, direction, p, st.ipv4_address) : undefined;
            try {
              await cm.remove(iface, direction, el.name);
              this.#dropObjectProbes(iface, direction, el.name);
              if (rp) this.#notify('programStopped', rp);
            } catch (err) {
              first ??= err;
              this.#log.error({ iface, direction, name: el.name, err: messageOf(err) }, 'unloading a program failed');
            }
          }
        }
      }
      cm?.close();
      this.#supervisor?.close();
      this.#userRoots?.close();
      this.#probeManager?.close();
      this.#objectProbes?.close();
      if (this.#ownArtifacts) await this.#artifacts?.close?.();
      if (first !== undefined) throw first;
    });
  }
}

/** Creates the engine (nothing happens until {@link Engine.start}). */
export function createEngine(config: AgentConfig, deps: EngineDeps = {}): Engine & ChainInspector {
  return new DesiredStateEngine(config, deps);
}
