/**
 * The built plugin (dist/module.js) in Debian Chromium, driven by playwright-core, against a real agent on a
 * veth lab: Fleet (a live agent and a down one), then on the Chains page add ratelimiting, see it in the chain,
 * change its rate, disable it (gone from GET, as l3afd; the page keeps it), enable it again, add count-and-pass and move it up and down (the kernel chain
 * order read back with GET /l3af/chains/<iface>), delete both — each step checked through the agent's own GET
 * (and the rate also in the kernel map, with bpftool). Under real SYN traffic from the namespace, the Events page shows the drops
 * live and the Ratelimiting page (Scenes) shows candidates, drops and the configured rate from a real Prometheus
 * scraping the agent, and the Chains page draws the sparkline of ratelimiting's rl_drop_count_map from it. A refused request and an agent that is down are shown too. Screenshots go to
 * e2e/artifacts/ (failed-<step>.png when a step fails).
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshotIfFailed } from './browser';
import type { GetInterface, GetProgram, InterfaceChains } from '../src/api/types';
import { toJsonData } from '../src/api/settings';
import { Agent, freePort } from './agent';
import { Lab } from './lab';
import { Prometheus } from './prometheus';
import { externalsOf, startHarness } from './server';

const PLUGIN_ID = 'l3af-chains-app';
const ROOT = resolve(__dirname, '..');
const ARTIFACTS = join(ROOT, 'e2e', 'artifacts');
const STEP_MS = 30_000;

let lab: Lab;
let agent: Agent;
let prometheus: Prometheus;
let browser: Browser;
let page: Page;
let base: string;
let closeHarness: () => Promise<void>;
const pageErrors: string[] = [];

async function shot(name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage });
}

/** The ratelimiting program as the agent's GET reports it (undefined when absent). */
async function agentProgram(): Promise<GetProgram | undefined> {
  const { status, body } = await agent.get<GetInterface>(`/l3af/configs/v1/${lab.rootIf}?status=true`);
  assert.equal(status, 200);
  return body.bpf_programs.xdp_ingress?.find((p) => p.name === 'ratelimiting');
}

/** The xdp_ingress programs as the agent's GET reports them, in seq_id order: [name, seq_id]. */
async function agentOrder(): Promise<Array<[string, number | undefined]>> {
  const { status, body } = await agent.get<GetInterface>(`/l3af/configs/v1/${lab.rootIf}`);
  assert.equal(status, 200);
  return [...(body.bpf_programs.xdp_ingress ?? [])]
    .sort((a, b) => (a.seq_id ?? 0) - (b.seq_id ?? 0))
    .map((p) => [p.name, p.seq_id]);
}

/** The XDP chain as the kernel links it (GET /l3af/chains/<iface>): program names from the root on. */
async function kernelOrder(): Promise<string[]> {
  const { status, body } = await agent.get<InterfaceChains>(`/l3af/chains/${lab.rootIf}`);
  assert.equal(status, 200);
  const chain = body.chains.find((c) => c.direction === 'xdp_ingress');
  assert.ok(chain, 'the kernel has an XDP chain');
  for (let i = 0; i < chain.programs.length; i++) {
    assert.equal(chain.programs[i]!.linked, true, `${chain.programs[i]!.name} is linked`);
  }
  return chain.programs.map((e) => e.name);
}

/** The names of the xdp_ingress rows of the Chains page, top to bottom. */
async function pageOrder(): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-testid="chain-xdp_ingress"] tbody tr')].map((tr) =>
      (tr.getAttribute('data-testid') ?? '').replace(/^row-xdp_ingress-/, '')
    )
  );
}

/** rl_config_map[0] read from the kernel with bpftool (the pinned map of the running program). */
function kernelRate(): number {
  const pin = join(lab.bpffs, lab.rootIf, 'ratelimiting', 'latest', 'rl_config_map');
  const out = JSON.parse(
    execFileSync('bpftool', ['-j', 'map', 'lookup', 'pinned', pin, 'key', '0', '0', '0', '0'], { encoding: 'utf8' })
  ) as {
    value?: unknown;
    formatted?: { value?: number };
  };
  if (typeof out.formatted?.value === 'number') {
    return out.formatted.value;
  }
  const bytes = (out.value as string[]).map((b) => parseInt(b, 16));
  return bytes.reduceRight((acc, b) => acc * 256 + b, 0);
}

async function open(path: string): Promise<void> {
  await page.goto(`${base}/index.html?${path}`);
  await page.waitForFunction(
    () =>
      (window as unknown as { __pluginLoaded?: boolean }).__pluginLoaded === true ||
      document.body.hasAttribute('data-load-error'),
    undefined,
    {
      timeout: STEP_MS,
    }
  );
  const loadError = await page.evaluate(() => document.body.getAttribute('data-load-error'));
  assert.equal(loadError, null, `the plugin did not load: ${loadError}`);
}

/** Confirms the open ConfirmModal with its button `name`, then waits for the agent's answer in the page. */
async function confirmAndWait(name: string): Promise<string> {
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name, exact: true }).click();
  const result = page.getByTestId('operation-result').or(page.getByTestId('agent-error')).first();
  await result.waitFor({ timeout: STEP_MS });
  return result.innerText();
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const mod = join(ROOT, 'dist', 'module.js');
  const missing = externalsOf(mod).filter(
    (d) =>
      ![
        'react',
        'react-dom',
        'react-router',
        'rxjs',
        '@emotion/css',
        '@emotion/react',
        '@grafana/data',
        '@grafana/ui',
        '@grafana/runtime',
        'i18next',
        'lodash',
        'react/jsx-runtime',
        'module',
      ].includes(d)
  );
  assert.deepEqual(missing, [], 'every external of dist/module.js is supplied by the host page');
  lab = new Lab().up();
  agent = await Agent.start(lab);
  prometheus = await Prometheus.start(lab.stateDir, agent.metricsAddr);
  const downPort = await freePort();
  const agents = [
    { name: 'lab', url: agent.url },
    { name: 'down', url: `http://127.0.0.1:${downPort}` },
  ];
  const harness = await startHarness({
    pluginId: PLUGIN_ID,
    distDir: join(ROOT, 'dist'),
    serveDir: join(ROOT, 'e2e', '.serve'),
    iconsDir: join(ROOT, 'node_modules', '@grafana', 'ui', 'dist', 'public', 'img', 'icons'),
    jsonData: toJsonData(agents, { prometheusUid: 'prometheus' }) as Record<string, unknown>,
    prometheus: prometheus.url,
    agents: agents.map((a) => a.url),
  });
  base = harness.url;
  closeHarness = () => new Promise((r) => harness.server.close(() => r()));
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

// On a failed step, the page as it was (e2e/artifacts/failed-<step>.png).
afterEach((t) => screenshotIfFailed(page, t, ARTIFACTS));

after(async () => {
  await browser?.close().catch(() => undefined);
  await closeHarness?.().catch(() => undefined);
  await prometheus?.stop().catch(() => undefined);
  await agent?.stop().catch(() => undefined);
  lab?.dispose();
});

test('Fleet: the live agent with its programs, the down agent as not reachable', { timeout: 60_000 }, async () => {
  await open('page=fleet');
  const lab1 = page.getByTestId('fleet-agent-lab');
  await lab1.getByTestId('fleet-programs').waitFor({ timeout: STEP_MS });
  await lab1.getByTestId('fleet-host').waitFor({ timeout: STEP_MS });
  assert.match(
    await lab1.getByTestId('fleet-host').innerText(),
    new RegExp(`kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim().replace(/[.+]/g, '\\$&')}`)
  );
  assert.match(await lab1.getByTestId('fleet-programs').innerText(), /No programs on this agent/);
  const down = page.getByTestId('fleet-agent-down');
  await down.getByTestId('agent-error').waitFor({ timeout: STEP_MS });
  assert.match(await down.getByTestId('agent-error').innerText(), /Agent not reachable/);
  await shot('01-fleet');
});

test('Chains: an empty interface says so; a bad add is refused with the field path', { timeout: 60_000 }, async () => {
  await open(`page=chains&agent=lab&iface=${lab.rootIf}`);
  await page.getByTestId('no-programs').waitFor({ timeout: STEP_MS });
  await shot('02-chains-empty');
  await page.getByTestId('add-program').click();
  await page.getByTestId('add-form').waitFor();
  const listed = await agent.get<{ packages: Array<{ name: string }> }>('/l3af/packages');
  assert.equal(listed.status, 200, 'the agent lists its repository');
  assert.equal(await page.getByTestId('no-repository-listing').count(), 0, 'the form uses the listing');
  for (const name of new Set(listed.body.packages.map((p) => p.name).filter((n) => !n.endsWith('-root')))) {
    assert.ok((await page.getByTestId('add-choice').innerText()).includes(name), `${name} is offered`);
  }
  assert.ok(!(await page.getByTestId('add-choice').innerText()).includes('xdp-root'), 'chain roots are not offered');
  await page.getByTestId('add-choice').getByRole('radio', { name: 'ratelimiting latest', exact: true }).check();
  await page.getByTestId('add-version').fill('not a version!');
  await page.getByTestId('add-submit').click();
  const text = await confirmAndWait('Add');
  assert.match(text, /refused/i);
  assert.match(
    await page.getByTestId('agent-error-problems').innerText(),
    /\/0\/bpf_programs\/xdp_ingress\/0\/version/
  );
  await shot('03-add-refused');
  assert.equal(await agentProgram(), undefined, 'nothing was added');
});

test(
  'Chains: add ratelimiting (rate 2, port 8080) through the UI; GET shows it attached with a kernel id',
  { timeout: 90_000 },
  async () => {
    await page.getByTestId('add-program').click();
    await page.getByTestId('add-form').waitFor();
    // The agent lists its repository (GET /l3af/packages): pick ratelimiting from it.
    await page.getByTestId('add-choice').getByRole('radio', { name: 'ratelimiting latest', exact: true }).check();
    assert.equal(await page.getByTestId('add-entry').inputValue(), '_xdp_ratelimiting');
    await page.getByTestId('add-rate').fill('2');
    await page.getByTestId('add-ports').fill('8080');
    await shot('04-add-form');
    await page.getByTestId('add-submit').click();
    assert.match(await page.getByTestId('confirm-body').innerText(), /rate 2 per second on ports 8080/);
    const text = await confirmAndWait('Add');
    assert.match(text, /ratelimiting.*added/);
    const p = await agentProgram();
    assert.ok(p, 'GET lists ratelimiting');
    assert.equal(p.admin_status, 'enabled');
    assert.equal(p.status?.attached, true);
    assert.ok((p.status?.kernel_prog_id ?? 0) > 0);
    const row = page.getByTestId(`row-xdp_ingress-ratelimiting`);
    await row.waitFor({ timeout: STEP_MS });
    await page.waitForFunction(
      (id) =>
        document.querySelector('[data-testid="row-xdp_ingress-ratelimiting"] [data-testid="cell-kernel-id"]')
          ?.textContent === String(id),
      p.status?.kernel_prog_id,
      { timeout: STEP_MS }
    );
    assert.match(await row.getByTestId('cell-status').innerText(), /attached/);
    assert.match(await row.getByTestId('cell-map-args').innerText(), /rl_config_map\{0:2\}/);
    assert.equal(kernelRate(), 2, 'the kernel map holds rate 2');
    await shot('05-chains-added');
  }
);

test('Chains: change the rate to 5; GET and the kernel map show 5, same program', { timeout: 90_000 }, async () => {
  const before = await agentProgram();
  await page.getByTestId('edit-ratelimiting').click();
  await page.getByTestId('edit-form').waitFor();
  await page.getByTestId('edit-rate').fill('5');
  await shot('06-edit-form');
  await page.getByTestId('edit-submit').click();
  assert.match(await page.getByTestId('confirm-body').innerText(), /rate: 2 → 5 per second/);
  const text = await confirmAndWait('Apply');
  assert.match(text, /ratelimiting.*updated/);
  const p = await agentProgram();
  const rate = p?.map_args?.find((m) => m.name === 'rl_config_map')?.args?.find((kv) => kv.key === 0)?.value;
  assert.equal(rate, 5, 'GET: rl_config_map[0] = 5');
  assert.deepEqual(
    p?.map_args?.find((m) => m.name === 'rl_ports_map')?.args,
    [{ key: 8080, value: 1 }],
    'ports unchanged'
  );
  assert.equal(kernelRate(), 5, 'the kernel map holds rate 5');
  assert.equal(
    p?.status?.kernel_prog_id,
    before?.status?.kernel_prog_id,
    'map_args change kept the program (no reload)'
  );
  await page.waitForFunction(
    () =>
      /rl_config_map\{0:5\}/.test(
        document.querySelector('[data-testid="row-xdp_ingress-ratelimiting"] [data-testid="cell-map-args"]')
          ?.textContent ?? ''
      ),
    undefined,
    {
      timeout: STEP_MS,
    }
  );
  await shot('07-chains-rate-5');
});

test(
  'Events and Ratelimiting under SYN traffic: live drop events, and candidates/drops/rate from a real Prometheus',
  { timeout: 120_000 },
  async () => {
    const RATE = 5;
    const PER_SECOND = 30;
    const SECONDS = 6;
    await open('page=events&agent=lab');
    await page.getByTestId('events-toggle').click();
    await page.waitForFunction(
      () => document.querySelector('[data-testid="events-live"]')?.textContent === 'live',
      undefined,
      { timeout: STEP_MS }
    );
    await new Promise((r) => setTimeout(r, 500)); // the agent turns drop events on when the first subscriber attaches
    const t0 = Date.now();
    const attempts = await lab.synFlood(8080, PER_SECOND, SECONDS);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(attempts, PER_SECOND * SECONDS);
    const row = page.getByTestId('event-row').first();
    await row.waitFor({ timeout: STEP_MS });
    assert.match(
      await row.innerText(),
      new RegExp(
        `ratelimiting\\.drop\\s+${lab.rootIf} ratelimiting: dropped ${lab.peerAddress.replace(/\./g, '\\.')}:\\d+ → ${lab.rootAddress.replace(/\./g, '\\.')}:8080 \\(rate ${RATE}/s`
      )
    );
    await shot('08a-events-live', false);
    await page.getByTestId('events-toggle').click();

    // The kernel's counters, as Prometheus scraped them from the agent: every attempt was a candidate; about
    // RATE per second were accepted, the rest dropped.
    let drops = 0;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await prometheus.query(
        `l3af_map_value{program="ratelimiting",map="rl_drop_count_map",interface="${lab.rootIf}"}`
      );
      drops = Number(r[0]?.value[1] ?? 0);
      const accepted = attempts - drops;
      if (drops > 0 && accepted <= RATE * (seconds + 2)) {
        break;
      }
      if (Date.now() > deadline) {
        break;
      }
      await new Promise((r2) => setTimeout(r2, 500));
    }
    const accepted = attempts - drops;
    assert.ok(
      accepted >= RATE * (seconds - 2) && accepted <= RATE * (seconds + 2),
      `accepted ${accepted} of ${attempts} in ${seconds.toFixed(1)} s at rate ${RATE}/s`
    );

    await open('page=ratelimiting');
    const panel = page.getByTestId('stub-panel').first();
    await page.waitForFunction(
      () => {
        const t = document.querySelector('[data-testid="stub-panel"]')?.textContent ?? '';
        return (
          /candidates .*\(max [1-9]/.test(t) && /dropped .*\(max [1-9]/.test(t) && /configured rate .*: 5 /.test(t)
        );
      },
      undefined,
      { timeout: 45_000 }
    );
    const text = await panel.innerText();
    assert.match(text, new RegExp(`configured rate \\S+ ${lab.rootIf}: 5 `));
    await shot('08b-ratelimiting');
    // The Chains page: the ratelimiting row's sparkline of rl_drop_count_map, from the same Prometheus.
    await open(`page=chains&agent=lab&iface=${lab.rootIf}`);
    await page.getByTestId('row-xdp_ingress-ratelimiting').waitFor({ timeout: STEP_MS });
    const spark = page
      .getByTestId('row-xdp_ingress-ratelimiting')
      .getByTestId('sparkline-rl_drop_count_map')
      .getByTestId('sparkline-path');
    await spark.waitFor({ timeout: STEP_MS });
    const d = (await spark.getAttribute('d')) ?? '';
    assert.match(d, /^M[\d.]+,[\d.]+( [ML][\d.]+,[\d.]+)+$/, `a drawn path, got ${JSON.stringify(d)}`);
    const last = Number(
      await page
        .getByTestId('row-xdp_ingress-ratelimiting')
        .getByTestId('sparkline-rl_drop_count_map')
        .getByTestId('sparkline-last')
        .innerText()
    );
    assert.ok(last > 0 && last <= attempts, `last drop count ${last} (Prometheus said ${drops}, ${attempts} sent)`);
    await shot('08c-chains-sparkline');
  }
);

test('Fleet: the live agent now reports 1 of 1 programs running', { timeout: 60_000 }, async () => {
  await open('page=fleet');
  const card = page.getByTestId('fleet-agent-lab');
  await page.waitForFunction(
    () =>
      /1 of 1 programs running on 1 interfaces/.test(
        document.querySelector('[data-testid="fleet-agent-lab"] [data-testid="fleet-programs"]')?.textContent ?? ''
      ),
    undefined,
    {
      timeout: STEP_MS,
    }
  );
  assert.equal(await card.getByTestId('fleet-failures').count(), 0, 'no failures reported');
  await shot('07b-fleet-running');
  await open(`page=chains&agent=lab&iface=${lab.rootIf}`);
  await page.getByTestId('row-xdp_ingress-ratelimiting').waitFor({ timeout: STEP_MS });
});

test('Chains: disable; as l3afd, GET no longer lists it and the chain is gone; the page keeps it to enable', { timeout: 90_000 }, async () => {
  await page.getByTestId('disable-ratelimiting').click();
  const text = await confirmAndWait('Disable');
  assert.match(text, /ratelimiting.*updated/);
  assert.equal(await agentProgram(), undefined, 'admin_status disabled drops it from GET (l3afd)');
  const chains = await agent.get<InterfaceChains>(`/l3af/chains/${lab.rootIf}`);
  assert.equal(chains.body.chains.some((c) => c.direction === 'xdp_ingress'), false, 'no XDP chain left');
  await page.getByTestId('enable-ratelimiting').waitFor({ timeout: STEP_MS });
  assert.match(
    await page.getByTestId('row-xdp_ingress-ratelimiting').getByTestId('cell-status').innerText(),
    /disabled/
  );
  await shot('08-chains-disabled');
});

test('Chains: enable again; GET shows admin_status enabled and attached', { timeout: 90_000 }, async () => {
  await page.getByTestId('enable-ratelimiting').click();
  const text = await confirmAndWait('Enable');
  assert.match(text, /ratelimiting.*added/);
  const p = await agentProgram();
  assert.equal(p?.admin_status, 'enabled');
  assert.equal(p?.status?.attached, true);
  assert.ok((p?.status?.kernel_prog_id ?? 0) > 0);
  await page.getByTestId('disable-ratelimiting').waitFor({ timeout: STEP_MS });
  await page.waitForFunction(
    () =>
      /attached/.test(
        document.querySelector('[data-testid="row-xdp_ingress-ratelimiting"] [data-testid="cell-status"]')
          ?.textContent ?? ''
      ) &&
      !/not attached|disabled/.test(
        document.querySelector('[data-testid="row-xdp_ingress-ratelimiting"] [data-testid="cell-status"]')
          ?.textContent ?? ''
      ),
    undefined,
    { timeout: STEP_MS }
  );
  assert.deepEqual(await kernelOrder(), ['ratelimiting']);
  await shot('08d-chains-enabled');
});

test(
  'Chains: add count-and-pass from the listing, move it up and down; GET and the kernel chain follow',
  { timeout: 120_000 },
  async () => {
    await page.getByTestId('add-program').click();
    await page.getByTestId('add-form').waitFor();
    await page.getByTestId('add-choice').getByRole('radio', { name: 'count-and-pass latest', exact: true }).check();
    await page.getByTestId('add-submit').click();
    const added = await confirmAndWait('Add');
    assert.match(added, /count-and-pass.*added/);
    assert.deepEqual(await agentOrder(), [
      ['ratelimiting', 1],
      ['count-and-pass', 2],
    ]);
    assert.deepEqual(await kernelOrder(), ['ratelimiting', 'count-and-pass']);
    await page.getByTestId('row-xdp_ingress-count-and-pass').waitFor({ timeout: STEP_MS });
    assert.deepEqual(await pageOrder(), ['ratelimiting', 'count-and-pass']);
    await shot('08e-chains-two-programs');

    await page.getByTestId('up-count-and-pass').click();
    assert.match(await page.getByTestId('confirm-body').innerText(), /count-and-pass swaps places with ratelimiting/);
    assert.match(await confirmAndWait('Move'), /updated/);
    assert.deepEqual(await agentOrder(), [
      ['count-and-pass', 1],
      ['ratelimiting', 2],
    ]);
    assert.deepEqual(await kernelOrder(), ['count-and-pass', 'ratelimiting']);
    await page.waitForFunction(
      () =>
        document.querySelector('[data-testid="chain-xdp_ingress"] tbody tr')?.getAttribute('data-testid') ===
        'row-xdp_ingress-count-and-pass',
      undefined,
      { timeout: STEP_MS }
    );
    assert.deepEqual(await pageOrder(), ['count-and-pass', 'ratelimiting']);
    await shot('08f-chains-moved-up');

    await page.getByTestId('down-count-and-pass').click();
    assert.match(await page.getByTestId('confirm-body').innerText(), /count-and-pass swaps places with ratelimiting/);
    assert.match(await confirmAndWait('Move'), /updated/);
    assert.deepEqual(await agentOrder(), [
      ['ratelimiting', 1],
      ['count-and-pass', 2],
    ]);
    assert.deepEqual(await kernelOrder(), ['ratelimiting', 'count-and-pass']);
    await page.waitForFunction(
      () =>
        document.querySelector('[data-testid="chain-xdp_ingress"] tbody tr')?.getAttribute('data-testid') ===
        'row-xdp_ingress-ratelimiting',
      undefined,
      { timeout: STEP_MS }
    );
    assert.deepEqual(await pageOrder(), ['ratelimiting', 'count-and-pass']);
    await shot('08g-chains-moved-down');
  }
);

test(
  'Chains: delete; GET no longer lists it and the page says the interface has no programs',
  { timeout: 90_000 },
  async () => {
    await page.getByTestId('delete-ratelimiting').click();
    assert.match(await page.getByTestId('confirm-body').innerText(), /removed from the desired state/);
    const text = await confirmAndWait('Delete');
    assert.match(text, /ratelimiting.*removed/);
    assert.equal(await agentProgram(), undefined, 'GET no longer lists ratelimiting');
    assert.deepEqual(await agentOrder(), [['count-and-pass', 2]]);
    await page.getByTestId('row-xdp_ingress-ratelimiting').waitFor({ state: 'detached', timeout: STEP_MS });
    await page.getByTestId('delete-count-and-pass').click();
    assert.match(await confirmAndWait('Delete'), /count-and-pass.*removed/);
    assert.deepEqual(await agentOrder(), [], 'GET lists no XDP programs');
    await page.getByTestId('no-programs').waitFor({ timeout: STEP_MS });
    await shot('09-chains-deleted');
  }
);

test('no uncaught errors in the page', () => {
  assert.deepEqual(pageErrors, []);
});
