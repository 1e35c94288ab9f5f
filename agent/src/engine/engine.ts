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
import type { ChainDescription } from '../chain/index.ts';
import { CHAIN_DIRECTIONS } from '../chain/index.ts';
import type { AgentConfig } from '../config/index.ts';
import { messageOf } from '../error-message.ts';
import type { AddUpdateBody, DeleteBody, DryRunResult, NormalizedL3afBpfPrograms } from '../payload/index.ts';
import { EngineCore, type EngineDeps } from './core.ts';
import { dryRunPlan } from './dry-run.ts';
import { etagOf } from './etag.ts';
import { EngineError } from './errors.ts';
import { closeManagers, startEngine, stopEngine } from './lifecycle.ts';
import { withPackages } from './packages.ts';
import { StatusCache } from './status-cache.ts';
import { computeStatus, runningPrograms } from './status-view.ts';
import type { Engine, OperationResult, RunningProgram, StoreProblem, WriteOptions } from './types.ts';
import { addOrUpdate, checkedWrite, deletePrograms } from './writes.ts';

export { EngineError } from './errors.ts';
export type { EngineDeps, PackageSource } from './core.ts';
export type { ProgramWithStatus } from './status-view.ts';

/** What {@link createEngine} returns: the engine, and its chains as the kernel sees them. */
export interface ChainInspector {
  /** Every chain on `iface`, read back from the kernel (none when it has no chain). */
  describeChains(iface: string): ChainDescription[];
}

/**
 * The facade: one queue (operations run one at a time, packages fetched ahead of it), the phase, and
 * the operations. What they do lives beside it: writes.ts (add / update / delete), dry-run.ts,
 * lifecycle.ts (start / stop), status-view.ts (GET), over the shared state of core.ts.
 */
class DesiredStateEngine implements Engine, ChainInspector {
  readonly #c: EngineCore;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(config: AgentConfig, deps: EngineDeps) {
    const c = new EngineCore(config, deps);
    c.status = new StatusCache({
      compute: () => computeStatus(c), refreshMs: config.l3af.mapSampleIntervalMs,
      onError: (err) => c.log.warn({ err: messageOf(err) }, 'status refresh failed') });
    this.#c = c;
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task).finally(() => this.#c.status.refresh());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  start(): Promise<void> {
    const c = this.#c;
    return this.#serial(async () => {
      if (c.phase !== 'new') throw new EngineError(`start() was already called (engine ${c.phase})`, 'busy');
      c.phase = 'starting';
      try {
        await startEngine(c);
        c.phase = 'running';
      } catch (err) {
        c.phase = 'stopped';
        await closeManagers(c);
        throw err;
      }
    });
  }

  stop(opts: { unload?: boolean } = {}): Promise<void> {
    return this.#serial(async () => {
      if (this.#c.phase === 'stopped') return;
      await stopEngine(this.#c, opts);
    });
  }

  storeProblem(): StoreProblem | null {
    return this.#c.storeProblem;
  }

  add(body: AddUpdateBody, opts?: WriteOptions): Promise<OperationResult> {
    return this.#addOrUpdate('add', body, opts);
  }

  update(body: AddUpdateBody, opts?: WriteOptions): Promise<OperationResult> {
    return this.#addOrUpdate('update', body, opts);
  }

  #addOrUpdate(mode: 'add' | 'update', body: AddUpdateBody, opts: WriteOptions | undefined): Promise<OperationResult> {
    const c = this.#c;
    const degraded = c.degradedError();
    if (degraded) return Promise.reject(degraded);
    return withPackages(c, body, () => this.#serial(() => checkedWrite(c, mode, body, opts, () => addOrUpdate(c, mode, body, opts))));
  }

  delete(body: DeleteBody, opts?: WriteOptions): Promise<OperationResult> {
    const c = this.#c;
    const degraded = c.degradedError();
    if (degraded) return Promise.reject(degraded);
    return this.#serial(() => checkedWrite(c, 'delete', body, opts, () => deletePrograms(c, body, opts)));
  }

  /** The ETag of the desired state GET shows (its snapshot), computed once per snapshot. */
  etag(): string {
    this.#c.usable();
    return this.#c.status.derived('etag', () => etagOf(this.#c.status.desired()));
  }

  derived<T>(key: string, derive: () => T): T {
    this.#c.usable();
    return this.#c.status.derived(key, derive);
  }

  dryRun(mode: 'add' | 'update' | 'delete', body: AddUpdateBody | DeleteBody): Promise<DryRunResult> {
    const c = this.#c;
    const degraded = c.degradedError();
    if (degraded) return Promise.reject(degraded);
    const run = (): Promise<DryRunResult> => this.#serial(() => dryRunPlan(c, mode, body));
    // packages are fetched before the queue's turn, as for a write (a slow repository delays only this dry run)
    return mode !== 'delete' ? withPackages(c, body as AddUpdateBody, run) : run();
  }

  get(iface?: string, opts: { status?: boolean } = {}): NormalizedL3afBpfPrograms[] {
    this.#c.usable();
    this.#c.status.start();
    return opts.status === false ? this.#c.status.desired(iface) : this.#c.status.withStatus(iface);
  }

  running(): RunningProgram[] {
    return runningPrograms(this.#c);
  }

  describeChains(iface: string): ChainDescription[] {
    const cm = this.#c.running();
    return CHAIN_DIRECTIONS
      .filter((d) => cm.chains().some((c) => c.iface === iface && c.direction === d))
      .map((d) => cm.describe(iface, d));
  }
}

/** Creates the engine (nothing happens until {@link Engine.start}). */
export function createEngine(config: AgentConfig, deps: EngineDeps = {}): Engine & ChainInspector {
  return new DesiredStateEngine(config, deps);
}
