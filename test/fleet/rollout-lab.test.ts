// A rollout across 20 real agents (test/harness/fleet-lab.ts) driven by the Grafana app's own rollout state
// machine and HTTP port (grafana-plugin/src/fleet), with one injected failure: between the dry run and the apply
// another client changes agent #7's desired state, so its If-Match write is refused (412). The rollout stops in
// that wave and reverts every agent it changed; every agent's own GET and audit log prove the per-agent outcome.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipUnless } from '../harness/index.ts';
import { FleetLab } from '../harness/fleet-lab.ts';
import { countAndPass, ensurePackages, ratelimiting, xdpBody } from '../engine/helpers.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../engine/helpers.ts';

// The app's own modules (grafana-plugin is its own TS project: loaded at run time, typed here by the part used)
type Send = (agent: string, req: { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; data?: unknown }) => Promise<{ status: number; headers: Record<string, string | undefined>; data: unknown }>;
interface Snapshot { phase: string; reason?: string; reverted?: boolean; waves: string[][]; agents: Array<{ agent: string; outcome: string; plan?: string[] }> }
interface RolloutLike { dryRun(): Promise<Snapshot>; apply(): Promise<Snapshot> }
type RolloutCtor = new (agents: string[], req: (agent: string) => { route: 'update'; body: unknown }, port: unknown, opts: Record<string, unknown>) => RolloutLike;
async function pluginModule<T>(file: string): Promise<T> {
  const m = (await import(pathToFileURL(join(ROOT, 'grafana-plugin', 'src', 'fleet', file)).href)) as T & { default?: T };
  return (m.default && typeof m.default === 'object' ? m.default : m) as T;
}
const { Rollout } = await pluginModule<{ Rollout: RolloutCtor }>('rollout.ts');
const { HttpAgentPort } = await pluginModule<{ HttpAgentPort: new (send: Send) => unknown }>('agent-port.ts');

const skip = await skipUnless('root', 'bpffs', 'netns', 'veth');
const N = 20;

async function call(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string>; data: unknown }> {
  const res = await fetch(url, { method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, headers: Object.fromEntries(res.headers), data: text ? JSON.parse(text) : null };
}

test(`a rollout across ${N} real agents stops on an injected failure and reverts every agent it changed`, { skip, timeout: 900_000 }, async (t) => {
  ensurePackages();
  const t0 = performance.now();
  await using fleet = await FleetLab.create(N);
  const started = performance.now() - t0;
  const byName = new Map(fleet.members.map((m) => [m.name, m]));
  const host = hostName();
  // every agent starts with count-and-pass on its own veth; the rollout adds ratelimiting (rate 5, port 8080)
  for (const m of fleet.members) {
    const r = await call(`${m.url}/l3af/configs/v1/add`, 'POST', xdpBody(host, m.iface, [countAndPass('count-and-pass', 1)]));
    assert.equal(r.status, 200, `${m.name}: ${JSON.stringify(r.data)}`);
  }
  const send: Send = async (agent, req) => call(`${byName.get(agent)!.url}${req.path}`, req.method, req.data, req.headers ?? {});
  const rollout = new Rollout(
    fleet.members.map((m) => m.name),
    (agent) => ({ route: 'update', body: xdpBody(host, byName.get(agent)!.iface, [countAndPass('count-and-pass', 1), ratelimiting(2, 5, [8080])]) }),
    new HttpAgentPort(send),
    { canary: 1, waves: [25, 50, 100], concurrency: 4, revertOnFailure: true },
  );
  const dry = await rollout.dryRun();
  assert.equal(dry.phase, 'ready', dry.reason);
  assert.ok(dry.agents.every((a) => a.plan?.some((l) => /ratelimiting: load/.test(l))), 'each dry run plans loading ratelimiting');
  // the injected failure: another client changes agent07 after its dry run
  const victim = byName.get('agent07')!;
  const other = await call(`${victim.url}/l3af/configs/v1/add`, 'POST', xdpBody(host, victim.iface, [ratelimiting(2, 9, [80])]));
  assert.equal(other.status, 200);
  const t1 = performance.now();
  const s = await rollout.apply();
  const applied = performance.now() - t1;
  assert.equal(s.phase, 'stopped');
  assert.match(s.reason ?? '', /^agent07: precondition failed/);
  assert.equal(s.reverted, true);
  const outcome = Object.fromEntries(s.agents.map((a) => [a.agent, a.outcome]));
  // waves of 20: 1 | 4 | 5 | 10; agent07 is in the third wave (agent05..agent09), writes 4 at a time
  assert.deepEqual(s.waves.map((w) => w.length), [1, 4, 5, 10]);
  assert.equal(outcome.agent07, 'failed');
  for (const n of ['agent00', 'agent01', 'agent02', 'agent03', 'agent04']) assert.equal(outcome[n], 'reverted', n);
  for (const m of fleet.members.slice(10)) assert.equal(outcome[m.name], 'skipped', m.name);

  // every agent's own GET and audit log
  for (const m of fleet.members) {
    const g = await call(`${m.url}/l3af/configs/v1/${m.iface}`, 'GET');
    const names = ((g.data as { bpf_programs: { xdp_ingress: Array<{ name: string }> | null } }).bpf_programs.xdp_ingress ?? []).map((p) => p.name);
    const audit = ((await call(`${m.url}/l3af/audit`, 'GET')).data as { entries: Array<{ route: string; outcome: string }> }).entries.map((e) => `${e.route}:${e.outcome}`);
    const o = outcome[m.name];
    if (m.name === 'agent07') {
      assert.deepEqual(names, ['count-and-pass', 'ratelimiting'], 'the other client\'s change stands, the rollout changed nothing');
      assert.deepEqual(audit, ['add:ok', 'add:ok']);
    } else if (o === 'reverted') {
      assert.deepEqual(names, ['count-and-pass'], `${m.name}: back to the state before`);
      assert.deepEqual(audit, ['revert:ok', 'update:ok', 'add:ok'], m.name);
    } else if (o === 'skipped') {
      assert.deepEqual(names, ['count-and-pass'], m.name);
      assert.deepEqual(audit, ['add:ok'], m.name);
    } else {
      assert.fail(`${m.name}: unexpected outcome ${o}`);
    }
  }
  t.diagnostic(`${N} agents started in ${(started / 1000).toFixed(1)} s; rollout (4 waves, stop + revert) ${(applied / 1000).toFixed(1)} s; outcomes ${JSON.stringify(Object.entries(outcome).reduce<Record<string, number>>((acc, [, v]) => ({ ...acc, [v]: (acc[v] ?? 0) + 1 }), {}))}`);
});
