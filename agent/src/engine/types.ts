/**
 * The contract between the REST API and the desired-state engine. The API validates a request
 * (schema + semantic checks, host and interface checks) and hands the typed body to the engine;
 * the engine changes the kernel and the stored state and says, per program, what happened.
 */
import type {
  AddUpdateBody, DeleteBody, DryRunResult, NormalizedL3afBpfPrograms, OperationResult, PlanItem,
} from '../payload/index.ts';
import type { RunningProgram } from '../observer/program.ts';

export type { EngineObserver, PayloadDirection, ProgramRef, RunningProgram } from '../observer/program.ts';


// The result and status shapes are the API's, single-sourced as schemas in payload/responses.ts.
export type {
  InterfaceResult, OperationResult, ProgramOutcome, ProgramResult, ProgramStatus, RepositoryErrorCode, UserProgramView,
} from '../payload/index.ts';

/** Options of a write (add / update / delete). */
export interface WriteOptions {
  /** If-Match: the write runs only when the desired state's ETag is this one (`*` always matches); else EngineError `conflict`. */
  readonly ifMatch?: string;
  /** Told, inside the operation's turn, what changed (the audit log): also when the operation throws. */
  readonly record?: (change: ChangeRecord) => void;
  /** The caller (the REST route) ran the semantic checks already: validation runs once. */
  readonly validated?: boolean;
}

/** One write as it happened: the plan, the ETags around it, the desired state of its interfaces before it. */
export interface ChangeRecord {
  readonly plan: PlanItem[];
  readonly etagBefore: string;
  readonly etagAfter: string;
  readonly ifaces: string[];
  /** The elements of `ifaces` before the write (an interface the state did not hold is absent). */
  readonly before: NormalizedL3afBpfPrograms[];
  readonly result?: OperationResult;
  readonly error?: unknown;
}

export interface Engine {
  /** Reads the stored desired state, adopts what is pinned in the kernel, repairs drift. */
  start(): Promise<void>;
  /** Additive: programs not yet present are added; present ones are left as they are. */
  add(body: AddUpdateBody, opts?: WriteOptions): Promise<OperationResult>;
  /** The host's whole desired state: interfaces it omits are stopped and forgotten, programs it omits are removed. */
  update(body: AddUpdateBody, opts?: WriteOptions): Promise<OperationResult>;
  /** Removes programs by name. */
  delete(body: DeleteBody, opts?: WriteOptions): Promise<OperationResult>;
  /** The version of the whole desired state GET shows (quoted, as the ETag header carries it). */
  etag?(): string;
  /** A value derived from what GET shows now, computed once until it changes (GET's serialized text). */
  derived?<T>(key: string, derive: () => T): T;
  /** What `mode` with `body` would do: planned, fetched, loaded and verified, never linked; nothing changes. */
  dryRun?(mode: 'add' | 'update' | 'delete', body: AddUpdateBody | DeleteBody): Promise<DryRunResult>;
  /**
   * The desired state in l3afd's GET shape, roots hidden; each program with a `status` object unless
   * `opts.status` is false (l3afd's exact shape, what GET answers by default).
   */
  get(iface?: string, opts?: { status?: boolean }): NormalizedL3afBpfPrograms[];
  /**
   * The programs in their chains now (enabled, linked in), as the observability side sees them;
   * empty before start() and after stop().
   */
  running(): RunningProgram[];
  /**
   * Why the engine started degraded: the stored desired state could not be read (file and reason),
   * or null. A degraded engine touches neither the kernel nor the store; its calls throw `degraded`.
   */
  storeProblem?(): StoreProblem | null;
  /** Stops; the data plane keeps running unless `unload` is set. */
  stop(opts?: { unload?: boolean }): Promise<void>;
}

/** The unreadable store a degraded engine names. */
export interface StoreProblem {
  readonly file: string;
  readonly error: string;
}



