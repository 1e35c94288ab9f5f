/**
 * The contract between the REST API and the desired-state engine. The API validates a request
 * (schema + semantic checks, host and interface checks) and hands the typed body to the engine;
 * the engine changes the kernel and the stored state and says, per program, what happened.
 */
import type {
  AddUpdateBody, DeleteBody, DryRunResult, NormalizedL3afBpfPrograms, PlanItem,
} from '../payload/index.ts';
import type { PayloadDirection, RunningProgram } from '../observer/program.ts';

export type { EngineObserver, PayloadDirection, ProgramRef, RunningProgram } from '../observer/program.ts';


/** What an operation did to one program. */
export type ProgramOutcome = 'added' | 'updated' | 'unchanged' | 'removed' | 'failed';

export interface ProgramResult {
  /** Interface the program is on ('' for probes). */
  readonly iface: string;
  readonly direction: PayloadDirection;
  readonly name: string;
  readonly outcome: ProgramOutcome;
  /** For updated: which fields changed; for failed: why (the program's previous state was kept). */
  readonly reason?: string;
  /**
   * For failed, when the cause was the package repository rather than the request: it could not
   * be reached (refused, DNS, reset, HTTP 5xx) or did not answer in time. The API answers 502 / 504
   * when every failure of an operation has one.
   */
  readonly error_code?: RepositoryErrorCode;
}

/** A failure of the package repository (a gateway problem, not the client's). */
export type RepositoryErrorCode = 'REPOSITORY_UNREACHABLE' | 'REPOSITORY_TIMEOUT';

export interface OperationResult {
  readonly results: ProgramResult[];
  /**
   * Interface fields the operation changed besides the programs (ipv4_address, the address l3afd
   * records for an interface on add and update): absent when none changed.
   */
  readonly interfaces?: InterfaceResult[];
}

/** A change of an interface's own fields. */
export interface InterfaceResult {
  readonly iface: string;
  readonly outcome: 'updated';
  /** `changed: ipv4_address ("old" → "new")`. */
  readonly reason: string;
}

/** What GET adds to each program: what is live in the kernel (l3afd's shape otherwise). */
export interface ProgramStatus {
  /** True when the kernel program is in the chain (linked from its predecessor / attached). */
  readonly attached: boolean;
  /** Kernel program id, 0 when not loaded. */
  readonly kernel_prog_id: number;
  readonly last_error: string | null;
  /** Loads again by the agent, plus restarts of its user program. */
  readonly restarts: number;
  /** Programs with cmd_start only: attached AND the user program running (l3afd's BPFRunning). */
  readonly running?: boolean;
  /** Programs with cmd_start only: their supervised user program. */
  readonly user_program?: UserProgramView;
  /** Chained programs in their chain: false when the code never tail-calls through map_name (nothing after it runs). */
  readonly continues_chain?: boolean;
  /** Chained programs in their chain: traffic reaches it (every program before it is linked and continues the chain). */
  readonly reachable?: boolean;
}

/** A user program as GET shows it. */
export interface UserProgramView {
  /** starting, running, backoff, stopping, stopped, failed, completed; 'not started' when it is not supervised. */
  readonly state: string;
  readonly running: boolean;
  readonly pid: number | null;
  /** Restarts by the supervisor after crashes. */
  readonly restarts: number;
  /** Exit code of its last end (null: killed by a signal, or never ended). */
  readonly last_exit_code: number | null;
  readonly last_exit_signal: string | null;
  /** How cpu / memory are enforced: cgroup, rlimit or none. */
  readonly limits: string;
  /** Adopted from a previous agent. */
  readonly adopted: boolean;
  /** The limits as the OS reports them while it runs (Job Object read back, cgroup files, /proc limits). */
  readonly observed_limits?: Readonly<Record<string, string>>;
}

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
  /** The version of the whole desired state (quoted, as the ETag header carries it). */
  etag?(): string;
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



