/**
 * A fleet rollout as a state machine, free of Grafana and of HTTP: the agents are reached through an
 * {@link AgentPort} (the plugin's client in the app, fakes in jest), a Prometheus expression through a
 * {@link RegressionCheck}, time through {@link Clock}. One change (an add/update/delete body per agent)
 * is dry-run on every selected agent first; then applied in waves (a canary, then cumulative
 * percentages), each write carrying the ETag the dry run saw (`If-Match`), each wave followed by a soak
 * during which the expression is evaluated. An agent that fails, or the expression regressing, stops the
 * rollout; with `revertOnFailure` every agent changed so far is reverted through its audit entry
 * (`POST /l3af/audit/{id}/revert`), newest first. Pause holds before the next agent, abort stops there.
 * The request of each agent is built once, at its dry run (it may read the agent first), and that same
 * request is what the apply writes.
 */

/** What a rollout writes to one agent. */
export interface AgentRequest {
  route: 'add' | 'update' | 'delete';
  body: unknown;
  /**
   * The ETag of the state the body was built from (a change built from the agent's GET): a dry run answering
   * another ETag means the state moved meanwhile, and the agent's dry run fails.
   */
  etag?: string;
  /** What the body changes on this agent, for display (shown before the dry run's plan). */
  summary?: string[];
}

/** The dry run's verdict on one agent. */
export interface DryRunVerdict {
  ok: boolean;
  /** The ETag the dry run answered with: the apply's If-Match. */
  etag: string;
  /** Why not ok (first failing program or the error). */
  error?: string;
  /** Plan lines for display (e.g. "veth0 xdpingress ratelimiting: replace"). */
  plan?: string[];
}

/** The outcome of a write. */
export interface ApplyResult {
  ok: boolean;
  etag?: string;
  /** The audit entry of the write (what a revert names). */
  auditId?: string;
  error?: string;
}

/** How the rollout reaches agents. */
export interface AgentPort {
  dryRun(agent: string, req: AgentRequest): Promise<DryRunVerdict>;
  apply(agent: string, req: AgentRequest, ifMatch: string): Promise<ApplyResult>;
  revert(agent: string, auditId: string, ifMatch: string | undefined): Promise<ApplyResult>;
  /** After a wave: is the agent healthy (no failing program)? undefined = healthy. */
  health?(agent: string): Promise<string | undefined>;
}

/** A Prometheus expression watched during soaks. */
export interface RegressionCheck {
  /** What it watches (shown). */
  readonly expr: string;
  /** Evaluates once: regressed (with a detail), or fine. */
  evaluate(): Promise<{ regressed: boolean; detail: string }>;
}

/** Time, injectable for tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export interface RolloutOptions {
  /** Agents in the first wave (default 1; 0 = no canary wave). */
  canary?: number;
  /** Cumulative percentages of the agents reached after each following wave (default [50, 100]). */
  waves?: number[];
  /** Soak after each wave, ms (default 0). */
  soakMs?: number;
  /** Regression evaluation interval during a soak, ms (default 5000). */
  checkIntervalMs?: number;
  /** Writes in flight within a wave (default 4). */
  concurrency?: number;
  /** Revert every changed agent when the rollout stops on a failure or regression (default false). */
  revertOnFailure?: boolean;
  /** Revert when aborted by the operator (default false). */
  revertOnAbort?: boolean;
  regression?: RegressionCheck;
  clock?: Clock;
}

export type AgentOutcome =
  | 'pending'
  | 'dry-run-ok'
  | 'dry-run-failed'
  | 'applying'
  | 'applied'
  | 'failed'
  | 'skipped'
  | 'reverting'
  | 'reverted'
  | 'revert-failed';

export interface AgentProgress {
  agent: string;
  outcome: AgentOutcome;
  /** Index of the wave the agent belongs to. */
  wave: number;
  etag?: string;
  auditId?: string;
  error?: string;
  plan?: string[];
}

export type RolloutPhase =
  | 'new'
  | 'dry-running'
  | 'ready'
  | 'blocked'
  | 'applying'
  | 'soaking'
  | 'paused'
  | 'reverting'
  | 'done'
  | 'stopped'
  | 'aborted';

export interface RolloutSnapshot {
  phase: RolloutPhase;
  /** Wave being applied or soaked (-1 before the first). */
  wave: number;
  waves: string[][];
  agents: AgentProgress[];
  /** Why the rollout stopped (failure, regression, abort). */
  reason?: string;
  /** Whether a revert ran after the stop. */
  reverted?: boolean;
  startedAt?: number;
  finishedAt?: number;
}

/** Splits agents into waves: `canary` first, then up to each cumulative percentage (ceil). */
export function planWaves<T>(agents: readonly T[], canary = 1, percentages: readonly number[] = [50, 100]): T[][] {
  for (const p of percentages) {
    if (!(p > 0 && p <= 100)) {
      throw new RangeError(`wave percentage ${p} is not in (0, 100]`);
    }
  }
  for (let i = 1; i < percentages.length; i++) {
    if (percentages[i] <= percentages[i - 1]) {
      throw new RangeError('wave percentages must increase');
    }
  }
  if (!Number.isInteger(canary) || canary < 0) {
    throw new RangeError(`canary ${canary} is not a count`);
  }
  const out: T[][] = [];
  let done = Math.min(canary, agents.length);
  if (done > 0) {
    out.push(agents.slice(0, done));
  }
  const cuts = [...percentages];
  if (cuts[cuts.length - 1] !== 100) {
    cuts.push(100);
  }
  for (const p of cuts) {
    const upTo = Math.min(agents.length, Math.max(done, Math.ceil((agents.length * p) / 100)));
    if (upTo > done) {
      out.push(agents.slice(done, upTo));
      done = upTo;
    }
  }
  return out;
}

/** One rollout of one change over a set of agents. */
export class Rollout {
  readonly #port: AgentPort;
  readonly #req: (agent: string) => AgentRequest | Promise<AgentRequest>;
  readonly #requests = new Map<string, AgentRequest>();
  readonly #o: Required<Omit<RolloutOptions, 'regression'>> & Pick<RolloutOptions, 'regression'>;
  readonly #listeners = new Set<(s: RolloutSnapshot) => void>();
  #s: RolloutSnapshot;
  #pauseRequested = false;
  #resume: (() => void) | undefined;
  #abortRequested = false;

  constructor(
    agents: readonly string[],
    request: (agent: string) => AgentRequest | Promise<AgentRequest>,
    port: AgentPort,
    opts: RolloutOptions = {}
  ) {
    if (agents.length === 0) {
      throw new RangeError('a rollout needs at least one agent');
    }
    if (new Set(agents).size !== agents.length) {
      throw new RangeError('an agent is listed twice');
    }
    this.#port = port;
    this.#req = request;
    this.#o = {
      canary: opts.canary ?? 1,
      waves: opts.waves ?? [50, 100],
      soakMs: opts.soakMs ?? 0,
      checkIntervalMs: opts.checkIntervalMs ?? 5000,
      concurrency: Math.max(1, opts.concurrency ?? 4),
      revertOnFailure: opts.revertOnFailure ?? false,
      revertOnAbort: opts.revertOnAbort ?? false,
      clock: opts.clock ?? realClock,
      ...(opts.regression ? { regression: opts.regression } : {}),
    };
    const waves = planWaves(agents, this.#o.canary, this.#o.waves);
    const agentsOut: AgentProgress[] = [];
    waves.forEach((w, i) => w.forEach((agent) => agentsOut.push({ agent, outcome: 'pending', wave: i })));
    this.#s = { phase: 'new', wave: -1, waves, agents: agentsOut };
  }

  /** The current state (a copy). */
  get snapshot(): RolloutSnapshot {
    const s = this.#s;
    return {
      ...s,
      waves: s.waves.map((w) => [...w]),
      agents: s.agents.map((a) => ({ ...a, ...(a.plan ? { plan: [...a.plan] } : {}) })),
    };
  }

  /** Calls `fn` on every change; returns the unsubscribe. */
  subscribe(fn: (s: RolloutSnapshot) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #set(patch: Partial<RolloutSnapshot>): void {
    Object.assign(this.#s, patch);
    this.#emit();
  }

  #agent(name: string, patch: Partial<AgentProgress>): void {
    const a = this.#s.agents.find((x) => x.agent === name);
    if (a) {
      Object.assign(a, patch);
    }
    this.#emit();
  }

  #emit(): void {
    const snap = this.snapshot;
    for (const l of this.#listeners) {
      l(snap);
    }
  }

  /** Dry-runs every agent; `ready` when all are fine, `blocked` otherwise. */
  async dryRun(): Promise<RolloutSnapshot> {
    if (this.#s.phase !== 'new' && this.#s.phase !== 'blocked' && this.#s.phase !== 'ready') {
      throw new Error(`cannot dry-run in phase ${this.#s.phase}`);
    }
    this.#set({ phase: 'dry-running', reason: undefined });
    await this.#each(
      this.#s.agents.map((a) => a.agent),
      async (agent) => {
        try {
          this.#requests.delete(agent);
          const req = await this.#req(agent);
          this.#requests.set(agent, req);
          const v = await this.#port.dryRun(agent, req);
          const moved = v.ok && req.etag !== undefined && v.etag !== '' && v.etag !== req.etag;
          const ok = v.ok && !moved;
          const plan = [...(req.summary ?? []), ...(v.plan ?? [])];
          this.#agent(agent, {
            outcome: ok ? 'dry-run-ok' : 'dry-run-failed',
            etag: v.etag,
            error: ok
              ? undefined
              : moved
                ? `the desired state changed while the change was prepared (${req.etag} → ${v.etag}): dry-run again`
                : (v.error ?? 'dry run failed'),
            ...(plan.length > 0 ? { plan } : {}),
          });
        } catch (err) {
          this.#agent(agent, { outcome: 'dry-run-failed', error: messageOf(err) });
        }
      }
    );
    const bad = this.#s.agents.filter((a) => a.outcome === 'dry-run-failed');
    this.#set(
      bad.length === 0
        ? { phase: 'ready' }
        : {
            phase: 'blocked',
            reason: `dry run failed on ${bad.length} agent(s): ${bad.map((a) => `${a.agent} (${a.error})`).join('; ')}`,
          }
    );
    return this.snapshot;
  }

  /** Holds before the next write (writes in flight finish). */
  pause(): void {
    if (this.#s.phase === 'applying' || this.#s.phase === 'soaking') {
      this.#pauseRequested = true;
    }
  }

  /** Continues a paused rollout. */
  resume(): void {
    this.#pauseRequested = false;
    const r = this.#resume;
    this.#resume = undefined;
    r?.();
  }

  /** Stops before the next write; with `revertOnAbort` the changed agents are reverted. */
  abort(): void {
    this.#abortRequested = true;
    this.resume();
  }

  /** Applies the waves; resolves with the final state (done, stopped or aborted). */
  async apply(): Promise<RolloutSnapshot> {
    if (this.#s.phase !== 'ready') {
      throw new Error(`cannot apply in phase ${this.#s.phase}${this.#s.reason ? `: ${this.#s.reason}` : ''}`);
    }
    const clock = this.#o.clock;
    this.#set({ startedAt: clock.now() });
    for (let w = 0; w < this.#s.waves.length; w++) {
      this.#set({ phase: 'applying', wave: w });
      let failure: string | undefined;
      await this.#each(this.#s.waves[w], async (agent) => {
        if (failure !== undefined || !(await this.#gate())) {
          this.#agent(agent, { outcome: 'skipped' });
          return;
        }
        const a = this.#s.agents.find((x) => x.agent === agent);
        this.#agent(agent, { outcome: 'applying' });
        try {
          const req = this.#requests.get(agent);
          if (!req) {
            throw new Error('no dry run of this agent');
          }
          const r = await this.#port.apply(agent, req, a?.etag ?? '*');
          this.#agent(agent, {
            outcome: r.ok ? 'applied' : 'failed',
            ...(r.etag !== undefined ? { etag: r.etag } : {}),
            ...(r.auditId !== undefined ? { auditId: r.auditId } : {}),
            error: r.ok ? undefined : (r.error ?? 'apply failed'),
          });
          if (!r.ok) {
            failure ??= `${agent}: ${r.error ?? 'apply failed'}`;
          }
        } catch (err) {
          this.#agent(agent, { outcome: 'failed', error: messageOf(err) });
          failure ??= `${agent}: ${messageOf(err)}`;
        }
      });
      if (failure === undefined && this.#abortRequested) {
        return this.#finish('aborted', 'aborted by the operator', this.#o.revertOnAbort);
      }
      if (failure === undefined) {
        failure = await this.#soak(this.#s.waves[w]);
      }
      if (failure !== undefined) {
        this.#skipRest();
        if (this.#abortRequested && failure === ABORTED) {
          return this.#finish('aborted', 'aborted by the operator', this.#o.revertOnAbort);
        }
        return this.#finish('stopped', failure, this.#o.revertOnFailure);
      }
    }
    return this.#finish('done', undefined, false);
  }

  /** Waits while paused; false when aborted. */
  async #gate(): Promise<boolean> {
    while (this.#pauseRequested && !this.#abortRequested) {
      const before = this.#s.phase;
      const resumed = new Promise<void>((r) => (this.#resume = r));
      this.#set({ phase: 'paused' }); // a listener may resume or abort right here
      if (this.#pauseRequested && !this.#abortRequested) {
        await resumed;
      }
      this.#resume = undefined;
      this.#set({ phase: before === 'paused' ? 'applying' : before });
    }
    return !this.#abortRequested;
  }

  /** Health of the wave's agents, then the regression expression over the soak; a reason to stop or undefined. */
  async #soak(wave: string[]): Promise<string | undefined> {
    if (this.#port.health) {
      for (const agent of wave) {
        let problem: string | undefined;
        try {
          problem = await this.#port.health(agent);
        } catch (err) {
          problem = messageOf(err);
        }
        if (problem !== undefined) {
          this.#agent(agent, { outcome: 'failed', error: problem });
          return `${agent}: ${problem}`;
        }
      }
    }
    const check = this.#o.regression;
    if (this.#o.soakMs <= 0 && !check) {
      return undefined;
    }
    this.#set({ phase: 'soaking' });
    const clock = this.#o.clock;
    const end = clock.now() + this.#o.soakMs;
    for (;;) {
      if (check) {
        try {
          const r = await check.evaluate();
          if (r.regressed) {
            return `regression: ${check.expr}: ${r.detail}`;
          }
        } catch (err) {
          return `regression check failed: ${check.expr}: ${messageOf(err)}`;
        }
      }
      if (this.#abortRequested) {
        return ABORTED;
      }
      if (!(await this.#gate())) {
        return ABORTED;
      }
      const left = end - clock.now();
      if (left <= 0) {
        return undefined;
      }
      await clock.sleep(Math.min(left, this.#o.checkIntervalMs));
    }
  }

  #skipRest(): void {
    for (const a of this.#s.agents) {
      if (a.outcome === 'pending' || a.outcome === 'dry-run-ok') {
        a.outcome = 'skipped';
      }
    }
    this.#emit();
  }

  async #finish(
    phase: 'done' | 'stopped' | 'aborted',
    reason: string | undefined,
    revert: boolean
  ): Promise<RolloutSnapshot> {
    this.#skipRest();
    let reverted: boolean | undefined;
    if (revert) {
      this.#set({ phase: 'reverting', reason });
      // newest first; a failed write may have changed nothing (no audit id): nothing to revert there
      const changed = this.#s.agents
        .filter((a) => (a.outcome === 'applied' || a.outcome === 'failed') && a.auditId)
        .reverse();
      reverted = true;
      await this.#each(
        changed.map((a) => a.agent),
        async (agent) => {
          const a = this.#s.agents.find((x) => x.agent === agent);
          if (!a?.auditId) {
            return;
          }
          this.#agent(agent, { outcome: 'reverting' });
          try {
            const r = await this.#port.revert(agent, a.auditId, a.etag);
            this.#agent(
              agent,
              r.ok
                ? { outcome: 'reverted', ...(r.etag ? { etag: r.etag } : {}) }
                : { outcome: 'revert-failed', error: r.error ?? 'revert failed' }
            );
            reverted &&= r.ok;
          } catch (err) {
            this.#agent(agent, { outcome: 'revert-failed', error: messageOf(err) });
            reverted = false;
          }
        }
      );
    }
    this.#set({
      phase,
      ...(reason !== undefined ? { reason } : {}),
      ...(reverted !== undefined ? { reverted } : {}),
      finishedAt: this.#o.clock.now(),
    });
    return this.snapshot;
  }

  /** Runs `fn` over `items` with the configured concurrency, in order of start. */
  async #each(items: readonly string[], fn: (item: string) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const item = items[next++];
        await fn(item);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, items.length) }, worker));
  }
}

const ABORTED = '\u0000aborted';

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
