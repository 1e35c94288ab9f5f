// The stack live: the agent (main.ts, config from deploy/agent/l3afd.yaml with a private bpffs, temp state
// and free loopback ports), Debian's node_exporter and Prometheus (prometheus/prometheus.yml and its rule
// files, 1 s scrape and evaluation) start natively; the README's seed payload is POSTed VERBATIM (ratelimiting,
// 2/s on ports 8080/8081, its monitor_maps: drops scalar, receives max-rate) on a veth lab with count-and-pass
// chained after it, TCP SYNs are driven over the rate, a deploy fails on purpose, and a second agent target is
// down. Then EVERY expression of every dashboard panel (Grafana macros substituted; the program dashboard once
// per program: ratelimiting and count-and-pass), every variable selector and every rule is evaluated through
// Prometheus's HTTP API and must return data; the alerts the test provokes
// must be pending or firing. The Windows dashboard is evaluated against the windows_exporter fixture scrape
// (served here, counters advancing), since no Windows host is available.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, connectTcp, listenTcp, skipUnless } from '../harness/index.ts';
import { ROOT, StateDir, countAndPass, ensurePackages, ratelimiting, xdpBody } from '../engine/helpers.ts';
import { SEED_PORTS, SEED_RATE, seedPayload } from '../deploy/seed.ts';
import { WINDOWS_EXPORTER_VERSION } from './dashboards-source.ts';
import { alertSignal, dashboardFiles, dashboardQueries, rules, substitute, variableSelectors } from './promql.ts';
import { StackProcess, freePort } from './processes.ts';
import { writeAgentConfig, writePrometheusConfig } from './stack-config.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');


/** Serves the windows_exporter fixture; every counter sample grows with each scrape. */
async function windowsExporterFixture(): Promise<{ server: Server; port: number; scrapes: () => number }> {
  const text = readFileSync(join(ROOT, 'test', 'stack', 'fixtures', `windows_exporter-${WINDOWS_EXPORTER_VERSION}.prom`), 'utf8');
  const counters = new Set([...text.matchAll(/^# TYPE (\S+) counter$/gm)].map((m) => m[1]!));
  let n = 0;
  const server = createServer((_req, res) => {
    n++;
    const body = text.split('\n').map((line, i) => {
      const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
      if (!m || !counters.has(m[1]!)) return line;
      return `${m[1]}${m[2] ?? ''} ${Number(m[3]) + n * (1 + (i % 7))}`;
    }).join('\n');
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return { server, port: addr.port, scrapes: () => n };
}

interface PromResult { metric: Record<string, string>; value: [number, string] }

async function query(base: string, expr: string): Promise<PromResult[]> {
  const r = await fetch(`${base}/api/v1/query`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ query: expr }) });
  const j = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: PromResult[] } };
  if (j.status !== 'success') throw new Error(`query failed: ${j.error}: ${expr}`);
  return j.data!.result;
}

async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

async function postJson(url: string, body: unknown): Promise<{ status: number; text: string }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, text: await r.text() };
}

test('live stack: every dashboard panel and every rule returns data from the agent, node_exporter and Prometheus', { skip, timeout: 300_000 }, async (t) => {
  ensurePackages();
  await using bpffs = await PrivateBpffs.create();
  await using lab = await VethLab.create();
  await using failLab = await VethLab.create();
  using state = new StateDir();
  const [restPort, metricsPort, nodePort, promPort, deadPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const win = await windowsExporterFixture();
  const procs: StackProcess[] = [];
  try {
    // --- the agent, as compose runs it (same YAML, test paths and ports)
    // per-program counts on the lab's chain (its panels on the program dashboard)
    const agentCfg = writeAgentConfig({ stateDir: state.path, bpffs: bpffs.path, restPort, metricsPort, chainCounting: [lab.rootIfname] });
    const agent = new StackProcess('agent', process.execPath, ['--import', 'tsx', join(ROOT, 'agent', 'src', 'main.ts'), '--config', agentCfg], { cwd: ROOT, env: { ...process.env, L3AF_LOG_LEVEL: '' } });
    procs.push(agent);
    // --- node_exporter and Prometheus from Debian
    const node = new StackProcess('node_exporter', 'prometheus-node-exporter', [`--web.listen-address=127.0.0.1:${nodePort}`]);
    procs.push(node);
    const promDir = join(state.path, 'prometheus');
    mkdirSync(promDir);
    const promCfg = writePrometheusConfig(promDir, {
      agent: `127.0.0.1:${metricsPort}`, node: `127.0.0.1:${nodePort}`, prometheus: `127.0.0.1:${promPort}`,
      fileSd: { windows: [`127.0.0.1:${win.port}`], 'l3af-agent': [`127.0.0.1:${deadPort}`] },
    });
    const prom = new StackProcess('prometheus', 'prometheus', [
      `--config.file=${promCfg}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`,
    ]);
    procs.push(prom);
    const promUrl = `http://127.0.0.1:${promPort}`;
    await agent.waitHttp(`http://127.0.0.1:${metricsPort}/metrics`, 90_000);
    await agent.waitHttp(`http://127.0.0.1:${restPort}/l3af/configs/v1`, 30_000);
    await node.waitHttp(`http://127.0.0.1:${nodePort}/metrics`, 20_000);
    await prom.waitHttp(`${promUrl}/-/ready`, 30_000);

    // --- the README's seed payload, verbatim, through REST; count-and-pass chained after it
    const api = `http://127.0.0.1:${restPort}/l3af/configs/v1`;
    await using listener = await listenTcp(lab, { port: SEED_PORTS[0] });
    const added = await postJson(`${api}/add`, seedPayload(hostName(), lab.rootIfname));
    assert.equal(added.status, 200, added.text);
    const cap = countAndPass('count-and-pass', 2, { monitor_maps: [{ name: 'xdp_cap_count', key: 0, aggregator: 'scalar' }, { name: 'xdp_cap_count', key: 0, aggregator: 'max-rate' }] });
    const capAdded = await postJson(`${api}/add`, xdpBody(hostName(), lab.rootIfname, [cap]));
    assert.equal(capAdded.status, 200, capAdded.text);
    // a deploy that fails: a version the package repository does not have
    const failing = await postJson(`${api}/add`, xdpBody(hostName(), failLab.rootIfname, [ratelimiting(1, SEED_RATE, [9], { version: '9.9.9' })]));
    t.diagnostic(`failing deploy answered ${failing.status}: ${failing.text.slice(0, 200)}`);

    // --- SYNs over the rate: 60/s for 12 s against 20/s allowed
    const traffic = await connectTcp(lab, { port: listener.port, attempts: 720, ratePerSec: 60, timeoutMs: 900, reset: true });
    t.diagnostic(`traffic: ${traffic.attempted} attempts, ${traffic.connected} connected, ${traffic.timedOut} timed out`);
    assert.ok(traffic.connected > 0 && traffic.timedOut > traffic.attempted / 3, 'the program let the rate through and dropped the rest');

    // --- wait for scrapes and rule evaluations
    await until('the recorded drop ratio', 30_000, async () => ((await query(promUrl, 'interface:l3af_ratelimiting_drop_ratio:rate1m')).length > 0 ? true : undefined));
    await until('a windows_exporter rate', 30_000, async () => (win.scrapes() >= 3 ? true : undefined));

    // --- the values behind the ratelimiting panels are the traffic's
    const one = async (expr: string): Promise<number> => {
      const r = await query(promUrl, expr);
      assert.equal(r.length, 1, `${expr}: one series, got ${JSON.stringify(r)}`);
      return Number(r[0]!.value[1]);
    };
    const sel = `interface="${lab.rootIfname}", program="ratelimiting", key="0"`;
    assert.equal(await one(`l3af_map_arg_value{${sel}, map="rl_config_map"}`), SEED_RATE, 'configured rate (from map_args)');
    // the last SYNs reach Prometheus one agent sample and one scrape after they were sent
    const candidates = await until(`rl_recv_count_map[0] in Prometheus to count all ${traffic.attempted} SYNs`, 15_000, async () => {
      const v = await one(`l3af_map_value{${sel}, map="rl_recv_count_map"}`);
      return v >= traffic.attempted ? v : undefined;
    }).catch(async (err: unknown) => assert.fail(`${String(err)}; last value ${await one(`l3af_map_value{${sel}, map="rl_recv_count_map"}`)}`));
    const drops = await one(`l3af_map_value{${sel}, map="rl_drop_count_map"}`);
    t.diagnostic(`candidates ${candidates}, drops ${drops}`);
    assert.ok(candidates >= traffic.attempted && candidates <= traffic.attempted + 10, `candidates ${candidates} ~ SYNs sent ${traffic.attempted}`);
    assert.ok(drops >= traffic.timedOut * 0.9 && drops < candidates, `drops ${drops} ~ SYNs that timed out ${traffic.timedOut}`);
    const ratio = await one(`interface:l3af_ratelimiting_drop_ratio:rate1m{interface="${lab.rootIfname}"}`);
    assert.ok(ratio > 0.4 && ratio < 1, `drop ratio ${ratio} (60/s offered, ${SEED_RATE}/s allowed)`);
    // count-and-pass, chained after it, counted what ratelimiting let through (every packet it passed on)
    const capCount = await one(`l3af_map_value{interface="${lab.rootIfname}", program="count-and-pass", map="xdp_cap_count", key="0"}`);
    assert.ok(capCount > 0, `count-and-pass counted ${capCount} packets behind ratelimiting`);
    // what the kernel-run-time panels say of a chained program: statistics on, yet no run counted (tail call)
    assert.equal(await one('max(l3af_kernel_stats_enabled)'), 1);
    assert.equal(await one(`sum(l3af_program_runs_total{interface="${lab.rootIfname}", program="ratelimiting"})`), 0, 'the kernel does not count runs of a tail-called program');
    // --- every dashboard expression, every variable selector
    const table: { dashboard: string; panels: number; withData: number; queries: number; queriesWithData: number }[] = [];
    const empty: string[] = [];
    // the program dashboard works for any program: evaluated once per program of the chain
    const runs = dashboardFiles().flatMap((file) => (file === 'l3af-program.json'
      ? ['ratelimiting', 'count-and-pass'].map((program) => ({ file, name: `${file} (program=${program})`, vars: { program } }))
      : [{ file, name: file, vars: {} }]));
    for (const { file, name, vars } of runs) {
      const qs = dashboardQueries(file);
      const panelsWithData = new Map<number, boolean>();
      let qWith = 0;
      for (const q of qs) {
        const res = await query(promUrl, substitute(q.expr, '1m', vars));
        const ok = res.length > 0;
        if (ok) qWith++;
        else empty.push(`${name} #${q.panelId} "${q.title}" ${q.refId}: ${q.expr}`);
        panelsWithData.set(q.panelId, (panelsWithData.get(q.panelId) ?? true) && ok);
      }
      for (const v of variableSelectors(file)) {
        const res = await query(promUrl, substitute(v.selector, '1m', vars));
        if (!res.some((r) => r.metric[v.label])) empty.push(`${name} variable $${v.name}: label_values(${v.selector}, ${v.label}) has no value`);
      }
      table.push({ dashboard: name, panels: panelsWithData.size, withData: [...panelsWithData.values()].filter(Boolean).length, queries: qs.length, queriesWithData: qWith });
    }
    // --- every rule: recorded series and their expressions; alert expressions as "bool" signals
    const ruleRows: string[] = [];
    for (const r of rules()) {
      const expr = r.kind === 'record' ? r.expr : alertSignal(r.expr);
      const res = await query(promUrl, expr);
      if (res.length === 0) empty.push(`rule ${r.name}: ${expr}`);
      if (r.kind === 'record' && (await query(promUrl, r.name)).length === 0) empty.push(`recorded series ${r.name} is empty`);
      ruleRows.push(`${r.kind} ${r.name}: ${res.length} series`);
    }
    const report = ['| dashboard | panels | panels with data | queries | queries with data |', '|---|---|---|---|---|',
      ...table.map((r) => `| ${r.dashboard} | ${r.panels} | ${r.withData} | ${r.queries} | ${r.queriesWithData} |`)].join('\n');
    console.log(`\n${report}\n${ruleRows.join('\n')}\n`);
    assert.deepEqual(empty, [], `expressions without data:\n${empty.join('\n')}`);

    // --- the alerts this run provokes
    const alerts = await until('the provoked alerts', 30_000, async () => {
      const r = await fetch(`${promUrl}/api/v1/alerts`);
      const list = ((await r.json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } }).data.alerts;
      const names = new Set(list.map((a) => a.labels.alertname));
      return ['L3afAgentDown', 'L3afRatelimitingDropRatioHigh', 'L3afProgramDeployFailed'].every((n) => names.has(n)) ? list : undefined;
    });
    console.log(alerts.map((a) => `${a.labels.alertname} ${a.state} ${a.labels.instance ?? a.labels.interface ?? ''}`).join('\n'));
    assert.ok(alerts.some((a) => a.labels.alertname === 'L3afAgentDown' && a.labels.instance === `127.0.0.1:${deadPort}`), 'the agent target that is down');
    assert.ok(!alerts.some((a) => a.labels.alertname === 'L3afAgentDown' && a.labels.instance === `127.0.0.1:${metricsPort}`), 'not the running agent');
    assert.ok(alerts.some((a) => a.labels.alertname === 'L3afRatelimitingDropRatioHigh' && a.labels.interface === lab.rootIfname));
    assert.ok(alerts.some((a) => a.labels.alertname === 'L3afProgramDeployFailed' && a.labels.interface === failLab.rootIfname && a.state === 'firing'));
    assert.ok(!alerts.some((a) => a.labels.alertname === 'L3afProgramNotRunning'), 'the running program is not reported down');
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await new Promise<void>((resolve) => win.server.close(() => resolve()));
  }
});
