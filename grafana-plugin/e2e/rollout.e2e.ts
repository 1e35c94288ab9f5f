/**
 * A fleet rollout in the built plugin (dist/module.js), in Debian Chromium, across 20 real agents (e2e/fleet.ts:
 * each its own process, port, state dir, pin root and veth pair), every one running ratelimiting (rate 5, port
 * 8080) on its veth, scraped by a real Prometheus (job l3af-agent, host and fleet labels, the API URL in
 * `l3af_api_url`) next to one foreign target the allow list does not admit. Through the UI: Discover agents (from
 * Prometheus, against the allow list) and adopt them; Rollout: choose them by label, a rate/ports change (rate 7,
 * ports 8080 and 9090), every agent's dry run, apply in waves (canary, 25 %, 50 %, 100 %) with revert on failure.
 * The injected failure: after the dry runs another client changes one agent of the third wave (rate 9, port 80),
 * so its If-Match write is refused (412), the rollout stops there and reverts every agent it changed. Every
 * agent's own GET /l3af/configs/v1, GET /l3af/audit and pinned kernel map (bpftool) must show exactly what the
 * page reports for it (reverted, skipped, failed). Then the same change again, all 20 applied. Prints the number
 * of agents and the rollout times. Screenshots in e2e/artifacts/ (failed-<step>.png when a step fails).
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshotIfFailed } from './browser';
import type { GetInterface } from '../src/api/types';
import { ratelimitingProgram } from '../src/api/catalogue';
import { ratePortsBody } from '../src/fleet/change';
import { FleetLab, type FleetMember } from './fleet';
import { Prometheus } from './prometheus';
import { startHarness } from './server';

const PLUGIN_ID = 'l3af-chains-app';
const ROOT = resolve(__dirname, '..');
const ARTIFACTS = join(ROOT, 'e2e', 'artifacts');
const N = Number(process.env.L3AF_E2E_AGENTS ?? 20);
const STEP_MS = 60_000;

let fleet: FleetLab | undefined;
let prometheus: Prometheus | undefined;
let browser: Browser | undefined;
let page: Page;
let base: string;
let harness: Awaited<ReturnType<typeof startHarness>> | undefined;
let hostName: string;
const pageErrors: string[] = [];
const figures: string[] = [];
let victim: FleetMember;

interface Row {
  agent: string;
  wave: number;
  outcome: string;
  detail: string;
}

async function call(
  m: FleetMember,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown
): Promise<{ status: number; etag: string | null; data: unknown }> {
  const res = await fetch(`${m.agent.url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, etag: res.headers.get('etag'), data: text ? JSON.parse(text) : undefined };
}

/** ratelimiting's rate and ports as the agent's own GET reports them. */
async function agentRatelimiting(m: FleetMember): Promise<{ rate?: number; ports: number[]; etag: string | null }> {
  const r = await call(m, 'GET', `/l3af/configs/v1/${m.iface}`);
  assert.equal(r.status, 200, `${m.name}: GET`);
  const p = (r.data as GetInterface).bpf_programs.xdp_ingress?.find((x) => x.name === 'ratelimiting');
  assert.ok(p, `${m.name}: GET lists ratelimiting`);
  return {
    rate: p.map_args?.find((a) => a.name === 'rl_config_map')?.args?.find((kv) => kv.key === 0)?.value,
    ports: (p.map_args?.find((a) => a.name === 'rl_ports_map')?.args ?? []).map((kv) => kv.key).sort((a, b) => a - b),
    etag: (await call(m, 'GET', '/l3af/configs/v1')).etag,
  };
}

/** The agent's audit log, newest first: "route:outcome". */
async function audit(
  m: FleetMember
): Promise<Array<{ route: string; outcome: string; etag_after: string; time: string }>> {
  const r = await call(m, 'GET', '/l3af/audit');
  assert.equal(r.status, 200, `${m.name}: GET /l3af/audit`);
  return (r.data as { entries: Array<{ route: string; outcome: string; etag_after: string; time: string }> }).entries;
}

function bytesToNumber(v: unknown): number {
  return (v as string[]).map((b) => parseInt(b, 16)).reduceRight((acc, b) => acc * 256 + b, 0);
}

/** rl_config_map[0] and the keys of rl_ports_map read from the kernel (bpftool on the agent's pins). */
function kernelRatelimiting(m: FleetMember): { rate: number; ports: number[] } {
  const dir = join(m.bpffs, m.iface, 'ratelimiting', 'latest');
  const cfg = JSON.parse(
    execFileSync('bpftool', ['-j', 'map', 'lookup', 'pinned', join(dir, 'rl_config_map'), 'key', '0', '0', '0', '0'], {
      encoding: 'utf8',
    })
  ) as { value?: unknown; formatted?: { value?: number } };
  const rate = typeof cfg.formatted?.value === 'number' ? cfg.formatted.value : bytesToNumber(cfg.value);
  const dump = JSON.parse(
    execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', join(dir, 'rl_ports_map')], { encoding: 'utf8' })
  ) as Array<{ key?: unknown; formatted?: { key?: number } }>;
  const ports = dump
    .map((e) => (typeof e.formatted?.key === 'number' ? e.formatted.key : bytesToNumber(e.key)))
    .sort((a, b) => a - b);
  return { rate, ports };
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function loaded(): Promise<void> {
  await page.waitForFunction(
    () =>
      (window as unknown as { __pluginLoaded?: boolean }).__pluginLoaded === true ||
      document.body.hasAttribute('data-load-error'),
    undefined,
    { timeout: STEP_MS }
  );
  const loadError = await page.evaluate(() => document.body.getAttribute('data-load-error'));
  assert.equal(loadError, null, `the plugin did not load: ${loadError}`);
}

async function open(path: string): Promise<void> {
  await page.goto(`${base}/index.html?${path}`);
  await loaded();
}

/** Waits until the rollout's phase line matches. */
async function phase(re: RegExp): Promise<string> {
  await page.waitForFunction(
    (src) => new RegExp(src).test(document.querySelector('[data-testid="rollout-phase"]')?.textContent ?? ''),
    re.source,
    { timeout: STEP_MS * 2, polling: 200 }
  );
  return page.getByTestId('rollout-phase').innerText();
}

/** The per-agent table of the Rollout page. */
async function rows(): Promise<Row[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-testid="rollout-agents"] tbody tr')].map((tr) => {
      const td = [...tr.querySelectorAll('td')].map((x) => x.textContent ?? '');
      return { agent: td[0]!, wave: Number(td[1]), outcome: td[2]!, detail: td[3]! };
    })
  );
}

function member(name: string): FleetMember {
  const m = fleet!.members.find((x) => x.name === name);
  assert.ok(m, `the page's agent ${name} is a lab agent`);
  return m;
}

before(
  async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const t0 = performance.now();
    fleet = await FleetLab.start(N);
    const started = (performance.now() - t0) / 1000;
    figures.push(`${N} agents started in ${started.toFixed(1)} s`);
    const host = await call(fleet.members[0]!, 'GET', '/l3af/host');
    hostName = (host.data as { hostname: string }).hostname;
    // the state every agent starts from: ratelimiting, rate 5 on port 8080, on its own veth
    await Promise.all(
      fleet.members.map(async (m) => {
        const r = await call(m, 'POST', '/l3af/configs/v1/add', [
          { host_name: hostName, iface: m.iface, bpf_programs: { xdp_ingress: [ratelimitingProgram(5, [8080])] } },
        ]);
        assert.equal(r.status, 200, `${m.name}: add ratelimiting: ${JSON.stringify(r.data)}`);
      })
    );
    prometheus = await Prometheus.start(
      fleet.dir,
      [
        ...fleet.members.map((m, i) => ({
          targets: [m.agent.metricsAddr],
          labels: {
            instance: m.name,
            host: `lab-host-${String(i).padStart(2, '0')}`,
            fleet: 'lab',
            l3af_api_url: m.agent.url,
          },
        })),
        // a target the allow list does not admit (another address): shown, never adoptable
        { targets: ['127.0.0.2:9'], labels: { instance: 'foreign', fleet: 'lab', l3af_api_url: 'http://127.0.0.2:9' } },
      ],
      undefined,
      '2s'
    );
    harness = await startHarness({
      pluginId: PLUGIN_ID,
      distDir: join(ROOT, 'dist'),
      serveDir: join(ROOT, 'e2e', '.serve'),
      iconsDir: join(ROOT, 'node_modules', '@grafana', 'ui', 'dist', 'public', 'img', 'icons'),
      jsonData: { prometheusUid: 'prometheus' },
      prometheus: prometheus.url,
    });
    base = harness.url;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  },
  { timeout: 300_000 }
);

afterEach((t) => screenshotIfFailed(page, t, ARTIFACTS));

after(
  async () => {
    await browser?.close().catch(() => undefined);
    await new Promise((r) => (harness ? harness.server.close(() => r(undefined)) : r(undefined)));
    await prometheus?.stop().catch(() => undefined);
    await fleet?.stop();
    fleet?.dispose();
    if (fleet) {
      const left = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => fleet!.members.some((m) => l.includes(`${m.iface}@`) || l.includes(` ${m.iface}:`)));
      assert.deepEqual(left, [], 'every veth of the lab is gone');
      const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      assert.ok(!ns.includes(fleet.netns), 'the namespace is gone');
      assert.ok(!execFileSync('mount', { encoding: 'utf8' }).includes(fleet.bpffs), 'the bpffs is unmounted');
    }
    console.log(`\nROLLOUT E2E: ${figures.join('; ')}`);
  },
  { timeout: 120_000 }
);

test(
  'Discover: Prometheus targets against the allow list; the admin adopts the 20 lab agents',
  { timeout: 120_000 },
  async () => {
    const proxy0 = `${base}/api/plugin-proxy/${PLUGIN_ID}/agent0/l3af/configs/v1`;
    assert.equal((await fetch(proxy0)).status, 404, 'before adoption no agent is reachable through the proxy');
    await open('page=discover');
    await page.getByLabel('allow list').fill('http://127.0.0.1:*');
    // Prometheus lists its targets once its config is loaded; retry until all are there
    const summary = page.getByTestId('discover-summary');
    const want = `${N + 1} found, ${N} allowed, ${N} to adopt`;
    const deadline = Date.now() + STEP_MS;
    for (;;) {
      await page.getByRole('button', { name: 'Discover', exact: true }).click();
      await summary.waitFor({ timeout: STEP_MS });
      if ((await summary.innerText()) === want || Date.now() > deadline) {
        break;
      }
      await page.waitForTimeout(500);
    }
    assert.equal(await summary.innerText(), want);
    const foreign = page.getByTestId('discover-agent-foreign');
    assert.match(await foreign.innerText(), /not allowed/);
    assert.equal(
      await foreign.getByRole('checkbox').isDisabled(),
      true,
      'a target outside the allow list cannot be adopted'
    );
    assert.match(await page.getByTestId('discover-agent-lab-07').innerText(), /lab-host-07.*fleet=lab/s);
    await shot('20-discover');
    await page.getByRole('button', { name: 'Select every allowed' }).click();
    const reloaded = page.waitForEvent('load');
    await page.getByRole('button', { name: `Adopt ${N} agent(s)` }).click();
    await reloaded; // the app reloads to read the saved settings
    await loaded();
    const saved = harness!.jsonData() as { agents?: Array<{ name: string; url: string; host?: string }> } & Record<
      string,
      unknown
    >;
    assert.equal(saved.agents?.length, N);
    assert.deepEqual(
      saved.agents?.map((a) => a.name).sort(),
      fleet!.members.map((m) => m.name)
    );
    assert.ok(!JSON.stringify(saved).includes('127.0.0.2'), 'the foreign target was not adopted');
    assert.deepEqual(saved.allowPatterns, ['http://127.0.0.1:*']);
    for (const a of saved.agents ?? []) {
      assert.equal(a.url, member(a.name).agent.url);
    }
    assert.equal((await fetch(proxy0)).status, 200, 'an adopted agent is reachable through its slot');
    assert.equal(
      (await fetch(`${base}/api/plugin-proxy/${PLUGIN_ID}/agent${N}/l3af/configs/v1`)).status,
      404,
      'a slot no agent was adopted into reaches nothing'
    );
    await page.getByRole('button', { name: 'Discover', exact: true }).click();
    await page.getByText(`${N + 1} found, ${N} allowed, 0 to adopt`).waitFor({ timeout: STEP_MS });
    await shot('21-adopted');
  }
);

test(
  'Rollout: agents by label, a rate/ports change, every agent dry-run; another client then changes one agent',
  { timeout: 180_000 },
  async () => {
    await open('page=rollout');
    await page.getByLabel('labels', { exact: true }).fill('fleet=lab');
    assert.equal(await page.getByTestId('rollout-selected').innerText(), `${N} agent(s)`);
    await page.getByLabel('change kind').selectOption('rate-ports');
    await page.getByLabel('rate', { exact: true }).fill('7');
    await page.getByLabel('ports', { exact: true }).fill('8080, 9090');
    await page.getByLabel('waves', { exact: true }).fill('25,50,100');
    assert.equal(await page.getByLabel('revert on failure').isChecked(), true);
    await page.getByRole('button', { name: 'Dry run' }).click();
    await phase(/^ready/);
    const r = await rows();
    assert.equal(r.length, N);
    assert.deepEqual(
      [1, 2, 3, 4].map((w) => r.filter((x) => x.wave === w).length),
      [1, Math.ceil(N / 4) - 1, Math.ceil(N / 2) - Math.ceil(N / 4), N - Math.ceil(N / 2)]
    );
    for (const x of r) {
      assert.equal(x.outcome, 'dry-run-ok', `${x.agent}: ${x.detail}`);
      assert.match(x.detail, /ratelimiting rate: 5 → 7 per second; .*ratelimiting ports: 8080 → 8080, 9090/, x.agent);
      assert.match(x.detail, /ratelimiting: update\b/, `${x.agent}: the agent plans an in-place update`);
    }
    // nothing changed on any agent: the dry run is a dry run
    for (const m of fleet!.members) {
      assert.deepEqual(
        (await audit(m)).map((e) => e.route),
        ['add'],
        `${m.name}: only the setup's add`
      );
    }
    await shot('22-dry-run');
    // the injected failure: another client changes the second agent of the third wave after its dry run
    victim = member(r.filter((x) => x.wave === 3)[1]!.agent);
    const docs = await call(victim, 'GET', '/l3af/configs/v1');
    const other = await call(
      victim,
      'POST',
      '/l3af/configs/v1/update',
      ratePortsBody(docs.data as GetInterface[], { rate: 9, ports: [80] }).body
    );
    assert.equal(other.status, 200, `the other client's write: ${JSON.stringify(other.data)}`);
  }
);

test(
  'Rollout: canary then waves; the changed agent answers 412, the rollout stops and reverts; every agent is as the page says',
  { timeout: 240_000 },
  async () => {
    const t0 = performance.now();
    await page.getByRole('button', { name: 'Apply' }).click();
    const line = await phase(/^(stopped|done|aborted)/);
    const took = (performance.now() - t0) / 1000;
    assert.match(line, new RegExp(`^stopped \\(wave 3 of 4\\): ${victim.name}: precondition failed.* — reverted$`));
    await shot('23-stopped-reverted');
    const r = await rows();
    const count = (o: string) => r.filter((x) => x.outcome === o).length;
    assert.equal(count('failed'), 1);
    assert.equal(r.find((x) => x.outcome === 'failed')?.agent, victim.name);
    assert.ok(
      r.filter((x) => x.wave <= 2).every((x) => x.outcome === 'reverted'),
      'canary and wave 2 reverted'
    );
    assert.ok(
      r.filter((x) => x.wave === 4).every((x) => x.outcome === 'skipped'),
      'wave 4 never written'
    );
    assert.equal(count('reverted') + count('skipped') + 1, N, 'every agent reverted, skipped or the failed one');
    // every agent's own GET, audit log and kernel map against what the page reported
    for (const x of r) {
      const m = member(x.agent);
      const got = await agentRatelimiting(m);
      const kernel = kernelRatelimiting(m);
      const log = (await audit(m)).map((e) => `${e.route}:${e.outcome}`);
      if (x.outcome === 'failed') {
        assert.match(x.detail, /precondition failed/);
        assert.deepEqual([got.rate, got.ports], [9, [80]], `${m.name}: the other client's change stands`);
        assert.deepEqual(log, ['update:ok', 'add:ok'], `${m.name}: the rollout wrote nothing`);
      } else if (x.outcome === 'reverted') {
        assert.deepEqual([got.rate, got.ports], [5, [8080]], `${m.name}: back to the state before`);
        assert.deepEqual(log, ['revert:ok', 'update:ok', 'add:ok'], m.name);
      } else if (x.outcome === 'skipped') {
        assert.deepEqual([got.rate, got.ports], [5, [8080]], m.name);
        assert.deepEqual(log, ['add:ok'], m.name);
      } else {
        assert.fail(`${m.name}: the page reports ${x.outcome}`);
      }
      assert.deepEqual([kernel.rate, kernel.ports], [got.rate, got.ports], `${m.name}: the kernel map is as GET says`);
    }
    // the History panel shows a reverted agent's audit log as the agent keeps it
    const canary = r.find((x) => x.wave === 1)!.agent;
    await page.getByLabel('history agent').selectOption(canary);
    await page.getByRole('button', { name: 'Show audit log' }).click();
    await page.getByTestId('history').waitFor({ timeout: STEP_MS });
    const shown = await page.evaluate(() =>
      [...document.querySelectorAll('[data-testid="history"] tr')].map((tr) =>
        [...tr.querySelectorAll('td')].slice(2, 5).map((td) => td.textContent)
      )
    );
    const iface = member(canary).iface;
    assert.deepEqual(shown, [
      ['revert', iface, 'ok'],
      ['update', iface, 'ok'],
      ['add', iface, 'ok'],
    ]);
    await shot('23b-history');
    figures.push(
      `rollout with the injected failure ${took.toFixed(1)} s (${count('reverted')} reverted, ${count('skipped')} skipped, 1 failed: 412)`
    );
  }
);

test('Rollout: the same change again, dry run then all 20 applied in waves', { timeout: 240_000 }, async () => {
  await page.getByRole('button', { name: 'Dry run' }).click();
  await phase(/^ready/);
  const d = await rows();
  assert.match(d.find((x) => x.agent === victim.name)!.detail, /rate: 9 → 7 per second; .*ports: 80 → 8080, 9090/);
  await shot('24-second-dry-run');
  const t0 = performance.now();
  await page.getByRole('button', { name: 'Apply' }).click();
  await phase(/^(stopped|done|aborted)/);
  const took = (performance.now() - t0) / 1000;
  assert.match(await page.getByTestId('rollout-phase').innerText(), /^done/);
  assert.match(await page.getByTestId('rollout-counts').innerText(), new RegExp(`^applied: ${N} — ${N} agents in`));
  await shot('25-done');
  const done = await rows();
  const written = new Map<string, number>();
  for (const x of done) {
    const m = member(x.agent);
    assert.equal(x.outcome, 'applied', m.name);
    const got = await agentRatelimiting(m);
    assert.deepEqual([got.rate, got.ports], [7, [8080, 9090]], m.name);
    const kernel = kernelRatelimiting(m);
    assert.deepEqual([kernel.rate, kernel.ports], [7, [8080, 9090]], `${m.name}: kernel`);
    const [last] = await audit(m);
    assert.equal(`${last?.route}:${last?.outcome}`, 'update:ok', m.name);
    assert.equal(last?.etag_after, got.etag, `${m.name}: the audit's ETag is the agent's current one`);
    written.set(m.name, Date.parse(last!.time));
  }
  // the waves reached the agents in order (canary first): every write of a wave is recorded, by the agents' own
  // audit logs, no later than the first write of the next wave
  for (let w = 1; w < 4; w++) {
    const times = (k: number) => done.filter((x) => x.wave === k).map((x) => written.get(x.agent)!);
    assert.ok(Math.max(...times(w)) <= Math.min(...times(w + 1)), `wave ${w} was written before wave ${w + 1}`);
  }
  figures.push(`rollout of ${N} agents (canary, 25 %, 50 %, 100 %) ${took.toFixed(1)} s`);
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
});
