import {
  planWaves,
  Rollout,
  type AgentPort,
  type AgentRequest,
  type Clock,
  type RegressionCheck,
  type RolloutSnapshot,
} from './rollout';

/** Agents with a version counter as state; writes checked against If-Match; an audit per write. */
class FakeFleet implements AgentPort {
  state = new Map<string, { version: number; body: unknown }>();
  audits = new Map<string, Array<{ id: string; before: { version: number; body: unknown } }>>();
  calls: string[] = [];
  failApply = new Set<string>();
  throwApply = new Set<string>();
  failDry = new Set<string>();
  unhealthy = new Set<string>();
  failRevert = new Set<string>();
  onApply?: (agent: string) => void;

  constructor(names: string[]) {
    for (const n of names) {
      this.state.set(n, { version: 1, body: 'old' });
      this.audits.set(n, []);
    }
  }
  etag(agent: string): string {
    return `"v${this.state.get(agent)!.version}"`;
  }
  async dryRun(agent: string, _req: AgentRequest) {
    this.calls.push(`dry ${agent}`);
    if (this.failDry.has(agent)) {
      return { ok: false, etag: this.etag(agent), error: 'verifier rejected xdp_prog' };
    }
    return { ok: true, etag: this.etag(agent), plan: ['veth0 xdpingress ratelimiting: replace'] };
  }
  async apply(agent: string, req: AgentRequest, ifMatch: string) {
    this.calls.push(`apply ${agent}`);
    this.onApply?.(agent);
    if (this.throwApply.has(agent)) {
      throw new Error('connection refused');
    }
    if (ifMatch !== '*' && ifMatch !== this.etag(agent)) {
      return { ok: false, error: 'precondition failed: desired state changed', etag: this.etag(agent) };
    }
    const s = this.state.get(agent)!;
    const id = String(this.audits.get(agent)!.length + 1);
    this.audits.get(agent)!.push({ id, before: { ...s } });
    this.state.set(agent, { version: s.version + 1, body: this.failApply.has(agent) ? 'partial' : req.body });
    return this.failApply.has(agent)
      ? { ok: false, error: 'ratelimiting: load failed', auditId: id, etag: this.etag(agent) }
      : { ok: true, auditId: id, etag: this.etag(agent) };
  }
  async revert(agent: string, auditId: string, ifMatch: string | undefined) {
    this.calls.push(`revert ${agent}`);
    if (this.failRevert.has(agent)) {
      return { ok: false, error: 'agent unreachable' };
    }
    if (ifMatch !== undefined && ifMatch !== this.etag(agent)) {
      return { ok: false, error: 'precondition failed' };
    }
    const e = this.audits.get(agent)!.find((x) => x.id === auditId)!;
    this.state.set(agent, { version: this.state.get(agent)!.version + 1, body: e.before.body });
    return { ok: true, etag: this.etag(agent) };
  }
  async health(agent: string) {
    return this.unhealthy.has(agent) ? 'ratelimiting not attached' : undefined;
  }
}

function fakeClock(): Clock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

const names = (n: number) => Array.from({ length: n }, (_, i) => `agent${String(i).padStart(2, '0')}`);
const req = (): AgentRequest => ({ route: 'update', body: 'new' });
const outcomes = (s: RolloutSnapshot) => Object.fromEntries(s.agents.map((a) => [a.agent, a.outcome]));

describe('planWaves', () => {
  it('canary then cumulative percentages, every agent exactly once', () => {
    const w = planWaves(names(20), 1, [10, 50, 100]);
    expect(w.map((x) => x.length)).toEqual([1, 1, 8, 10]);
    expect(w.flat()).toEqual(names(20));
  });
  it('adds a final 100% wave when the percentages stop short, drops empty waves', () => {
    expect(planWaves(names(3), 1, [10, 20]).map((x) => x.length)).toEqual([1, 2]);
    expect(planWaves(names(4), 0, [50]).map((x) => x.length)).toEqual([2, 2]);
    expect(planWaves(names(1), 2, [50, 100])).toEqual([['agent00']]);
  });
  it('rejects bad percentages and canaries', () => {
    expect(() => planWaves(names(3), 1, [0, 100])).toThrow(/not in/);
    expect(() => planWaves(names(3), 1, [150])).toThrow(/not in/);
    expect(() => planWaves(names(3), 1, [60, 50])).toThrow(/increase/);
    expect(() => planWaves(names(3), -1, [100])).toThrow(/not a count/);
  });
});

describe('Rollout', () => {
  it('refuses an empty or duplicated agent set', () => {
    const f = new FakeFleet([]);
    expect(() => new Rollout([], req, f)).toThrow(/at least one/);
    expect(() => new Rollout(['a', 'a'], req, f)).toThrow(/twice/);
  });

  it('dry-runs every agent, then applies canary first and wave by wave with the dry run ETag as If-Match', async () => {
    const agents = names(20);
    const f = new FakeFleet(agents);
    const r = new Rollout(agents, req, f, { canary: 1, waves: [25, 100], concurrency: 1, clock: fakeClock() });
    const phases: string[] = [];
    r.subscribe((s) => phases.push(s.phase));
    await expect(r.apply()).rejects.toThrow(/phase new/);
    const d = await r.dryRun();
    expect(d.phase).toBe('ready');
    expect(d.agents.every((a) => a.outcome === 'dry-run-ok' && a.etag === '"v1"' && a.plan?.length === 1)).toBe(true);
    expect(f.calls.filter((c) => c.startsWith('apply'))).toEqual([]);
    const s = await r.apply();
    expect(s.phase).toBe('done');
    expect(s.waves.map((w) => w.length)).toEqual([1, 4, 15]);
    expect(f.calls.filter((c) => c.startsWith('apply'))).toEqual(agents.map((a) => `apply ${a}`));
    expect(Object.values(outcomes(s))).toEqual(Array(20).fill('applied'));
    expect(s.agents.every((a) => a.auditId === '1' && a.etag === '"v2"')).toBe(true);
    expect([...f.state.values()].every((x) => x.body === 'new')).toBe(true);
    expect(phases).toContain('applying');
    expect(phases.at(-1)).toBe('done');
  });

  it('a dry-run failure blocks the rollout: nothing applied, the verdict shown per agent', async () => {
    const f = new FakeFleet(names(5));
    f.failDry.add('agent03');
    const r = new Rollout(names(5), req, f, { clock: fakeClock() });
    const d = await r.dryRun();
    expect(d.phase).toBe('blocked');
    expect(d.reason).toMatch(/agent03 \(verifier rejected xdp_prog\)/);
    expect(outcomes(d).agent03).toBe('dry-run-failed');
    await expect(r.apply()).rejects.toThrow(/phase blocked/);
    expect(f.calls.some((c) => c.startsWith('apply'))).toBe(false);
    // fixed on the agent: a second dry run makes it ready
    f.failDry.clear();
    expect((await r.dryRun()).phase).toBe('ready');
  });

  it('a failing agent stops the rollout after its wave; later waves skipped; nothing reverted without revertOnFailure', async () => {
    const agents = names(10);
    const f = new FakeFleet(agents);
    f.failApply.add('agent02');
    const r = new Rollout(agents, req, f, { canary: 1, waves: [30, 100], concurrency: 1, clock: fakeClock() });
    await r.dryRun();
    const s = await r.apply();
    expect(s.phase).toBe('stopped');
    expect(s.reason).toBe('agent02: ratelimiting: load failed');
    const o = outcomes(s);
    expect([o.agent00, o.agent01, o.agent02]).toEqual(['applied', 'applied', 'failed']);
    expect(agents.slice(3).map((a) => o[a])).toEqual(Array(7).fill('skipped'));
    expect(f.calls.filter((c) => c.startsWith('revert'))).toEqual([]);
    expect(s.reverted).toBeUndefined();
  });

  it('with revertOnFailure every changed agent (the failed one too) is reverted newest first, back to the state before', async () => {
    const agents = names(20);
    const f = new FakeFleet(agents);
    f.failApply.add('agent07');
    const r = new Rollout(agents, req, f, {
      canary: 1,
      waves: [50, 100],
      concurrency: 1,
      revertOnFailure: true,
      clock: fakeClock(),
    });
    await r.dryRun();
    const s = await r.apply();
    expect(s.phase).toBe('stopped');
    expect(s.reverted).toBe(true);
    expect(f.calls.filter((c) => c.startsWith('revert'))).toEqual(
      agents
        .slice(0, 8)
        .reverse()
        .map((a) => `revert ${a}`)
    );
    const o = outcomes(s);
    expect(agents.slice(0, 8).map((a) => o[a])).toEqual(Array(8).fill('reverted'));
    expect(agents.slice(10).map((a) => o[a])).toEqual(Array(10).fill('skipped'));
    // every agent's state is the old one again (reverted or never touched)
    expect([...f.state.values()].every((x) => x.body === 'old')).toBe(true);
  });

  it('a thrown apply (unreachable agent) counts as a failure, stops writes within the wave; nothing to revert there (no audit id)', async () => {
    const f = new FakeFleet(names(3));
    f.throwApply.add('agent01');
    const r = new Rollout(names(3), req, f, {
      canary: 1,
      waves: [100],
      concurrency: 1,
      revertOnFailure: true,
      clock: fakeClock(),
    });
    await r.dryRun();
    const s = await r.apply();
    expect(s.reason).toBe('agent01: connection refused');
    expect(outcomes(s)).toEqual({ agent00: 'reverted', agent01: 'failed', agent02: 'skipped' });
    expect(f.calls.filter((c) => c.startsWith('revert'))).toEqual(['revert agent00']);
  });

  it('a state changed between dry run and apply is refused by If-Match and stops the rollout', async () => {
    const f = new FakeFleet(names(3));
    const r = new Rollout(names(3), req, f, { canary: 1, waves: [100], concurrency: 1, clock: fakeClock() });
    await r.dryRun();
    f.state.set('agent01', { version: 7, body: 'someone else' });
    const s = await r.apply();
    expect(s.phase).toBe('stopped');
    expect(s.reason).toMatch(/agent01: precondition failed/);
    expect(f.state.get('agent01')!.body).toBe('someone else');
  });

  it('an unhealthy agent after its wave stops the rollout before the next wave', async () => {
    const f = new FakeFleet(names(6));
    f.unhealthy.add('agent00');
    const r = new Rollout(names(6), req, f, { canary: 1, waves: [100], clock: fakeClock() });
    await r.dryRun();
    const s = await r.apply();
    expect(s.reason).toBe('agent00: ratelimiting not attached');
    expect(outcomes(s).agent00).toBe('failed');
    expect(f.calls.filter((c) => c.startsWith('apply'))).toEqual(['apply agent00']);
  });

  it('soaks after each wave evaluating the expression every interval; a regression stops and reverts', async () => {
    const agents = names(10);
    const f = new FakeFleet(agents);
    const clock = fakeClock();
    let evaluations = 0;
    const regression: RegressionCheck = {
      expr: 'sum(rate(l3af_program_errors_total[1m])) > 0',
      evaluate: async () => {
        evaluations++;
        // regresses once the second wave is in
        const applied = [...f.state.values()].filter((x) => x.body === 'new').length;
        return applied > 1 ? { regressed: true, detail: `value ${applied}` } : { regressed: false, detail: '0' };
      },
    };
    const r = new Rollout(agents, req, f, {
      canary: 1,
      waves: [50, 100],
      soakMs: 30_000,
      checkIntervalMs: 10_000,
      revertOnFailure: true,
      regression,
      clock,
    });
    await r.dryRun();
    const s = await r.apply();
    expect(s.phase).toBe('stopped');
    expect(s.reason).toBe('regression: sum(rate(l3af_program_errors_total[1m])) > 0: value 5');
    // canary soak: evaluated at 0, 10, 20, 30 s; second wave: regressed at once
    expect(clock.slept).toEqual([10_000, 10_000, 10_000]);
    expect(evaluations).toBe(5);
    expect(agents.slice(0, 5).map((a) => outcomes(s)[a])).toEqual(Array(5).fill('reverted'));
    expect(agents.slice(5).map((a) => outcomes(s)[a])).toEqual(Array(5).fill('skipped'));
    expect(s.reverted).toBe(true);
  });

  it('a regression check that cannot be evaluated stops the rollout (never applies blind)', async () => {
    const f = new FakeFleet(names(3));
    const r = new Rollout(names(3), req, f, {
      canary: 1,
      waves: [100],
      regression: { expr: 'up', evaluate: async () => Promise.reject(new Error('prometheus unreachable')) },
      clock: fakeClock(),
    });
    await r.dryRun();
    const s = await r.apply();
    expect(s.reason).toBe('regression check failed: up: prometheus unreachable');
    expect(f.calls.filter((c) => c.startsWith('apply'))).toEqual(['apply agent00']);
  });

  it('pause holds before the next write, resume continues to the end', async () => {
    const agents = names(6);
    const f = new FakeFleet(agents);
    const r = new Rollout(agents, req, f, { canary: 1, waves: [100], concurrency: 1, clock: fakeClock() });
    await r.dryRun();
    let paused: () => void = () => undefined;
    const seenPause = new Promise<void>((res) => (paused = res));
    r.subscribe((s) => s.phase === 'paused' && paused());
    f.onApply = (a) => a === 'agent02' && r.pause();
    const run = r.apply();
    await seenPause;
    expect(f.calls.filter((c) => c.startsWith('apply'))).toEqual(['apply agent00', 'apply agent01', 'apply agent02']);
    expect(r.snapshot.phase).toBe('paused');
    r.resume();
    const s = await run;
    expect(s.phase).toBe('done');
    expect(Object.values(outcomes(s))).toEqual(Array(6).fill('applied'));
  });

  it('abort while paused stops there; revertOnAbort reverts what was applied', async () => {
    const agents = names(6);
    const f = new FakeFleet(agents);
    const r = new Rollout(agents, req, f, {
      canary: 1,
      waves: [100],
      concurrency: 1,
      revertOnAbort: true,
      clock: fakeClock(),
    });
    await r.dryRun();
    r.subscribe((s) => s.phase === 'paused' && r.abort());
    f.onApply = (a) => a === 'agent01' && r.pause();
    const s = await r.apply();
    expect(s.phase).toBe('aborted');
    expect(s.reason).toBe('aborted by the operator');
    expect(outcomes(s)).toEqual({
      agent00: 'reverted',
      agent01: 'reverted',
      agent02: 'skipped',
      agent03: 'skipped',
      agent04: 'skipped',
      agent05: 'skipped',
    });
    expect([...f.state.values()].every((x) => x.body === 'old')).toBe(true);
  });

  it('abort during a soak stops before the next wave, without revert by default', async () => {
    const agents = names(4);
    const f = new FakeFleet(agents);
    let r: Rollout | undefined = undefined;
    const regression: RegressionCheck = {
      expr: 'up',
      evaluate: async () => {
        r?.abort();
        return { regressed: false, detail: '1' };
      },
    };
    r = new Rollout(agents, req, f, { canary: 1, waves: [100], soakMs: 60_000, regression, clock: fakeClock() });
    await r.dryRun();
    const s = await r.apply();
    expect(s.phase).toBe('aborted');
    expect(outcomes(s)).toEqual({ agent00: 'applied', agent01: 'skipped', agent02: 'skipped', agent03: 'skipped' });
    expect(f.calls.filter((c) => c.startsWith('revert'))).toEqual([]);
  });

  it('a revert that fails is reported per agent and the rollout says it is not reverted', async () => {
    const f = new FakeFleet(names(3));
    f.failApply.add('agent02');
    f.failRevert.add('agent01');
    const r = new Rollout(names(3), req, f, {
      canary: 1,
      waves: [100],
      concurrency: 1,
      revertOnFailure: true,
      clock: fakeClock(),
    });
    await r.dryRun();
    const s = await r.apply();
    expect(s.reverted).toBe(false);
    expect(outcomes(s)).toEqual({ agent00: 'reverted', agent01: 'revert-failed', agent02: 'reverted' });
    expect(s.agents.find((a) => a.agent === 'agent01')!.error).toBe('agent unreachable');
  });

  it('applies within a wave with bounded concurrency', async () => {
    const agents = names(12);
    const f = new FakeFleet(agents);
    let inFlight = 0;
    let most = 0;
    const port: typeof f = Object.assign(Object.create(f) as FakeFleet, {
      apply: async (a: string, q: AgentRequest, m: string) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((res) => setTimeout(res, 1));
        inFlight--;
        return f.apply(a, q, m);
      },
    });
    const r = new Rollout(agents, req, port, { canary: 0, waves: [100], concurrency: 3, clock: fakeClock() });
    await r.dryRun();
    expect((await r.apply()).phase).toBe('done');
    expect(most).toBe(3);
  });

  it('builds each request once, at the dry run (it may read the agent), and applies exactly that request', async () => {
    const agents = names(3);
    const f = new FakeFleet(agents);
    const built: string[] = [];
    const bodies: unknown[] = [];
    const orig = f.apply.bind(f);
    f.apply = async (agent, r, ifMatch) => {
      bodies.push(r.body);
      return orig(agent, r, ifMatch);
    };
    const r = new Rollout(
      agents,
      async (agent) => {
        built.push(agent);
        return { route: 'update', body: `for ${agent}`, etag: f.etag(agent), summary: [`rate: 5 → 7 on ${agent}`] };
      },
      f,
      { canary: 1, waves: [100], concurrency: 1, clock: fakeClock() }
    );
    const d = await r.dryRun();
    expect(d.phase).toBe('ready');
    expect(d.agents[1].plan).toEqual(['rate: 5 → 7 on agent01', 'veth0 xdpingress ratelimiting: replace']);
    const s = await r.apply();
    expect(s.phase).toBe('done');
    expect(built).toEqual(agents);
    expect(bodies).toEqual(['for agent00', 'for agent01', 'for agent02']);
  });

  it('a request that cannot be built, or whose state moved before the dry run, fails that dry run', async () => {
    const agents = names(3);
    const f = new FakeFleet(agents);
    const r = new Rollout(
      agents,
      (agent) => {
        if (agent === 'agent01') {
          throw new Error('no ratelimiting program on this agent (nothing to change)');
        }
        // agent02's request was built from a state another client changed before the dry run
        return { route: 'update', body: 'new', etag: agent === 'agent02' ? '"v0"' : f.etag(agent) };
      },
      f,
      { clock: fakeClock() }
    );
    const d = await r.dryRun();
    expect(d.phase).toBe('blocked');
    expect(outcomes(d)).toEqual({ agent00: 'dry-run-ok', agent01: 'dry-run-failed', agent02: 'dry-run-failed' });
    expect(d.agents[1].error).toBe('no ratelimiting program on this agent (nothing to change)');
    expect(d.agents[2].error).toMatch(/the desired state changed while the change was prepared \("v0" → "v1"\)/);
    await expect(r.apply()).rejects.toThrow(/phase blocked/);
  });
});
