// The observability stack, statically: prometheus/ passes promtool (config, rules, rule unit tests for
// every alert), every dashboard expression type-checks in promtool with Grafana's macros substituted,
// the dashboards are what test/stack/dashboards-source.ts builds (valid JSON, unique panel ids, current
// schema, datasource variable, host/interface variables), the Windows dashboard uses only names of the
// pinned windows_exporter (checked against the fixture scrape), and deploy/docker-compose.yml passes
// docker-compose's own validation with every mounted path present and the plugin id of grafana-plugin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { loadConfigFile } from '../../agent/src/config/index.ts';
import { DASHBOARDS, SCHEMA_VERSION, WINDOWS_EXPORTER_VERSION, dashboardText } from './dashboards-source.ts';
import {
  PROMETHEUS_DIR, ROOT, RULE_FILES, alertSignal, allPanels, dashboardFiles, dashboardQueries, readDashboard, rules, substitute, variableSelectors,
} from './promql.ts';

const DEPLOY = join(ROOT, 'deploy');
const WINDOWS_FIXTURE = join(ROOT, 'test', 'stack', 'fixtures', `windows_exporter-${WINDOWS_EXPORTER_VERSION}.prom`);

function tool(cmd: string, args: string[], opts: { input?: string; cwd?: string } = {}): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd ?? ROOT, input: opts.input, timeout: 60_000 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message} (Debian: apt-get install prometheus docker-compose)`);
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** Metric names an expression reads (identifiers followed by `{` or standing alone, minus PromQL words). */
function metricNames(expr: string): string[] {
  const words = new Set(['sum', 'by', 'count', 'min', 'max', 'avg', 'rate', 'increase', 'time', 'ignoring', 'on', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'without', 'round', 'irate', 'abs', 'deriv']);
  const noStrings = expr.replace(/"[^"]*"/g, '""').replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '').replace(/\{[^}]*\}/g, '{}').replace(/\[[^\]]*\]/g, '[]').replace(/\boffset\s+\w+/g, '');
  return [...new Set([...noStrings.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((w) => !words.has(w) && !/^\d/.test(w)))];
}

test('prometheus.yml and the rule files pass promtool check config / check rules', () => {
  const cfg = tool('promtool', ['check', 'config', join(PROMETHEUS_DIR, 'prometheus.yml')]);
  assert.equal(cfg.code, 0, cfg.out);
  assert.doesNotMatch(cfg.out, /WARNING/, cfg.out);
  assert.match(cfg.out, /SUCCESS: 2 rule files found/);
  const r = tool('promtool', ['check', 'rules', ...RULE_FILES]);
  assert.equal(r.code, 0, r.out);
  const doc = parse(readFileSync(join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8')) as { scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; file_sd_configs?: { files: string[] }[] }[] };
  const jobs = new Map(doc.scrape_configs.map((j) => [j.job_name, j]));
  for (const job of ['l3af-agent', 'node', 'windows']) {
    const files = jobs.get(job)?.file_sd_configs?.flatMap((f) => f.files) ?? [];
    assert.deepEqual(files, [`targets/${job}/*.yml`], `${job}: hosts can be added through file_sd`);
  }
  assert.deepEqual(jobs.get('l3af-agent')?.static_configs?.[0]?.targets, ['localhost:8898']);
  assert.deepEqual(jobs.get('node')?.static_configs?.[0]?.targets, ['localhost:9100']);
});

test('promtool test rules: every alert has firing and quiet cases', () => {
  const file = join(PROMETHEUS_DIR, 'rules', 'alerts.test.yml');
  const r = tool('promtool', ['test', 'rules', file]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS/);
  const tests = parse(readFileSync(file, 'utf8')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] };
  const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
  const alerts = rules().filter((x) => x.kind === 'alert');
  assert.equal(alerts.length, 5);
  for (const a of alerts) {
    assert.ok(cases.some((c) => c.alertname === a.name && c.exp_alerts.length > 0), `${a.name}: a firing case`);
    assert.ok(cases.some((c) => c.alertname === a.name && c.exp_alerts.length === 0), `${a.name}: a quiet case`);
    assert.doesNotThrow(() => alertSignal(a.expr), `${a.name} ends in a comparison with a number`);
  }
});

test('dashboards are what dashboards-source.ts builds: valid JSON, unique ids, schema, datasource, variables', () => {
  assert.deepEqual(dashboardFiles(), Object.keys(DASHBOARDS).sort(), 'no stray or missing dashboard file');
  const uids = new Set<string>();
  for (const [file, spec] of Object.entries(DASHBOARDS)) {
    const text = readFileSync(join(ROOT, 'dashboards', file), 'utf8');
    assert.equal(text, dashboardText(spec), `${file} is stale: npx tsx test/stack/dashboards-source.ts --write`);
    const d = readDashboard(file);
    assert.ok(!uids.has(d.uid) && /^[a-z0-9-]{8,40}$/.test(d.uid), `${file}: uid ${d.uid}`);
    uids.add(d.uid);
    assert.equal(d.schemaVersion, SCHEMA_VERSION);
    assert.doesNotMatch(text, /DS_PROMETHEUS|__inputs/, `${file}: no import-only datasource inputs`);
    const panels = allPanels(d);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${file}: unique panel ids`);
    for (const p of panels as unknown as { id: number; type: string; gridPos: { x: number; w: number }; datasource?: { uid: string } }[]) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${file} panel ${p.id}: inside 24 columns`);
      if (p.type !== 'row') assert.equal(p.datasource?.uid, '${datasource}', `${file} panel ${p.id}: datasource variable`);
    }
    const vars = d.templating.list.map((v) => v.name);
    assert.equal(d.templating.list[0]?.type, 'datasource');
    for (const v of ['host', 'interface']) assert.ok(vars.includes(v), `${file}: variable ${v}`);
    for (const q of dashboardQueries(file)) {
      for (const m of q.expr.matchAll(/\$(\w+)/g)) {
        if (!m[1]!.startsWith('__')) assert.ok(vars.includes(m[1]!), `${file} "${q.title}": $${m[1]} is defined`);
      }
      for (const w of q.expr.matchAll(/\[([^\]]+)\]/g)) assert.equal(w[1], '$__rate_interval', `${file} "${q.title}": rate windows are $__rate_interval`);
    }
  }
});

test('every dashboard expression and variable selector type-checks in promtool (macros substituted)', () => {
  const dir = mkdtempSync(join(tmpdir(), `l3af-stack-${process.pid}-`));
  try {
    const exprs = dashboardFiles().flatMap((f) => [
      ...dashboardQueries(f).map((q) => substitute(q.expr)),
      ...variableSelectors(f).map((v) => substitute(v.selector)),
    ]);
    assert.ok(exprs.length > 80, `${exprs.length} expressions`);
    const file = join(dir, 'dashboards.rules.yml');
    writeFileSync(file, `groups:\n  - name: dashboards\n    rules:\n${exprs.map((e, i) => `      - record: dashboard_expr_${i}\n        expr: ${JSON.stringify(e)}`).join('\n')}\n`);
    const r = tool('promtool', ['check', 'rules', file]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${exprs.length} rules found`));
    // and a type error is caught the same way (the check is not vacuous)
    writeFileSync(file, 'groups:\n  - name: bad\n    rules:\n      - record: bad\n        expr: rate(l3af_map_value)\n');
    const bad = tool('promtool', ['check', 'rules', file]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /expected type range vector/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dashboards read only metrics that exist: agent names from agent/src, recorded names, windows_exporter fixture names', () => {
  const recorded = new Set(rules().filter((r) => r.kind === 'record').map((r) => r.name));
  const agentSources = ['metrics/agent-metrics.ts', 'metrics/map-monitor.ts', 'metrics/kernel-stats.ts', 'metrics/host-metrics.ts', 'metrics/map-pressure.ts', 'metrics/program-figures.ts', 'metrics/map-args-metrics.ts', 'metrics/chain-counts.ts']
    .map((f) => readFileSync(join(ROOT, 'agent', 'src', f), 'utf8')).join('\n');
  const fixture = readFileSync(WINDOWS_FIXTURE, 'utf8');
  const fixtureNames = new Set([...fixture.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!));
  const lint = tool('promtool', ['check', 'metrics'], { input: fixture });
  assert.equal(lint.code, 0, `fixture passes promtool check metrics: ${lint.out}`);
  const everyExpr = [
    ...dashboardFiles().flatMap((f) => [...dashboardQueries(f).map((q) => q.expr), ...variableSelectors(f).map((v) => v.selector)]),
    ...rules().map((r) => r.expr),
  ];
  const windowsNames = new Set<string>();
  for (const expr of everyExpr) {
    for (const name of metricNames(expr)) {
      if (recorded.has(name) || name === 'up') continue;
      if (name.startsWith('l3af_')) assert.ok(agentSources.includes(`'${name}'`), `${name} is exported by the agent`);
      else if (name.startsWith('windows_')) windowsNames.add(name);
      else assert.match(name, /^node_/, `${name}: an agent, node_exporter or windows_exporter metric`);
    }
  }
  for (const n of windowsNames) assert.ok(fixtureNames.has(n), `${n} is in the windows_exporter ${WINDOWS_EXPORTER_VERSION} scrape`);
  // removed in windows_exporter 0.31 (cs collector, os memory metrics): older dashboards break on them
  for (const n of windowsNames) assert.doesNotMatch(n, /^windows_cs_|^windows_os_(physical_memory|virtual_memory|visible_memory|paging|process_memory)/);
  assert.ok(windowsNames.size >= 12, `${windowsNames.size} windows_exporter names checked`);
  const ps = readFileSync(join(DEPLOY, 'windows', 'install-l3af.ps1'), 'utf8');
  assert.match(ps, new RegExp(`\\$WindowsExporterVersion = '${WINDOWS_EXPORTER_VERSION.replace(/\./g, '\\.')}'`), 'the PowerShell script pins the version the dashboard uses');
});

interface ComposeService {
  image?: string; build?: { context: string; dockerfile: string }; network_mode?: string; privileged?: boolean; cap_drop?: string[];
  volumes?: (string | { type: string; source: string; target: string })[]; environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>; healthcheck?: { test: string[] }; command?: string[];
}

test('docker-compose.yml: docker-compose config -q, mounts exist, health-gated depends_on, plugin id of grafana-plugin', () => {
  const file = join(DEPLOY, 'docker-compose.yml');
  const v = tool('docker-compose', ['-f', file, 'config', '-q'], { cwd: DEPLOY });
  assert.equal(v.code, 0, v.out);
  const compose = parse(readFileSync(file, 'utf8')) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
  const s = compose.services;
  assert.deepEqual(Object.keys(s).sort(), ['agent', 'grafana', 'node-exporter', 'prometheus']);
  for (const [name, svc] of Object.entries(s)) {
    assert.ok(svc.healthcheck, `${name} has a healthcheck`);
    assert.equal(svc.network_mode, 'host', `${name} shares the host network (loopback targets of prometheus.yml)`);
    if (svc.image) assert.match(svc.image, /:[\w.-]+$/, `${name}: pinned image tag`);
    assert.doesNotMatch(svc.image ?? '', /:latest$/);
    for (const [dep, c] of Object.entries(svc.depends_on ?? {})) {
      assert.ok(s[dep], `${name} depends on an existing service ${dep}`);
      assert.equal(c.condition, 'service_healthy');
    }
    for (const vol of svc.volumes ?? []) {
      const src = typeof vol === 'string' ? vol.split(':')[0]! : vol.source;
      if (!src.startsWith('.')) {
        if (!src.startsWith('/')) assert.ok(src in compose.volumes, `${name}: named volume ${src} is declared`);
        continue;
      }
      const path = resolve(DEPLOY, src);
      assert.notEqual(path, join(ROOT, 'grafana-plugin', 'dist'), 'the plugin is built into the Grafana image, never mounted from a build output');
      assert.ok(existsSync(path), `${name}: mounted ${src} exists (${path})`);
    }
  }
  // least privilege instead of privileged (the list is proven by test/deploy/compose.test.ts)
  assert.equal(s.agent?.privileged, undefined);
  assert.deepEqual(s.agent?.cap_drop, ['ALL']);
  const agentMounts = (s.agent?.volumes ?? []).map((x) => (typeof x === 'string' ? x.split(':')[1] : x.target));
  for (const m of ['/sys/fs/bpf', '/sys/kernel/tracing']) assert.ok(agentMounts.includes(m), `agent mounts ${m}`);
  assert.ok(existsSync(resolve(DEPLOY, s.agent!.build!.context, s.agent!.build!.dockerfile)));
  assert.deepEqual(s.prometheus?.depends_on, { agent: { condition: 'service_healthy' }, 'node-exporter': { condition: 'service_healthy' } });
  assert.deepEqual(Object.keys(s.grafana?.depends_on ?? {}), ['prometheus']);

  const pluginId = (JSON.parse(readFileSync(join(ROOT, 'grafana-plugin', 'src', 'plugin.json'), 'utf8')) as { id: string }).id;
  assert.equal(s.grafana?.environment?.GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS, pluginId);
  // the Grafana image is built with the plugin in it (deploy/grafana/Dockerfile)
  assert.equal(s.grafana?.build?.dockerfile, 'deploy/grafana/Dockerfile');
  assert.match(readFileSync(join(DEPLOY, 'grafana', 'Dockerfile'), 'utf8'), new RegExp(`COPY --from=plugin /src/grafana-plugin/dist/ /var/lib/grafana/plugins/${pluginId}/`));
  const apps = parse(readFileSync(join(DEPLOY, 'grafana', 'provisioning', 'plugins', `${pluginId}.yaml`), 'utf8')) as { apps: { type: string }[] };
  assert.equal(apps.apps[0]?.type, pluginId);
  const ds = parse(readFileSync(join(DEPLOY, 'grafana', 'provisioning', 'datasources', 'prometheus.yaml'), 'utf8')) as { datasources: { uid: string; url: string }[] };
  assert.equal(ds.datasources[0]?.uid, 'prometheus', 'the uid the dashboards default to');
  assert.ok(s.prometheus?.command?.includes(`--web.listen-address=${new URL(ds.datasources[0]!.url).host}`), 'Grafana reaches Prometheus where it listens');
  assert.ok(s['node-exporter']?.command?.includes('--web.listen-address=127.0.0.1:9100'));
});

test('deploy/agent/l3afd.yaml is a valid agent configuration whose metrics-addr Prometheus scrapes', async () => {
  const loaded = await loadConfigFile(join(DEPLOY, 'agent', 'l3afd.yaml'));
  assert.deepEqual(loaded.warnings, []);
  assert.equal(loaded.config.web.metricsAddr, 'localhost:8898');
  assert.equal(loaded.config.l3afConfigs.restapiAddr, 'localhost:53000');
});

test('Dockerfile: multi-stage, clang only in the build stage; systemd unit runs what the image runs', () => {
  const df = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
  const stages = df.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2);
  assert.match(stages[0]!, /clang/);
  assert.doesNotMatch(stages[1]!.replace(/^#.*$/gm, ''), /clang|llvm|libbpf-dev/);
  // (the node flags between node and the agent: test/deploy/agent-flags.test.ts)
  assert.match(stages[1]!, /ENTRYPOINT \["node", (?:"--[a-z-]+(?:=\S+)?", )*"dist\/agent\/src\/main\.js"\]/);
  for (const m of df.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const src of m[1]!.split(/\s+/)) assert.ok(existsSync(join(ROOT, src)), `Dockerfile copies ${src}`);
  }
  const unit = readFileSync(join(DEPLOY, 'systemd', 'l3af-agent.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/node (?:--[a-z-]+(?:=\S+)? )*\/opt\/l3af\/dist\/agent\/src\/main\.js --config /m);
  assert.match(unit, /^WantedBy=multi-user.target$/m);
  assert.match(readFileSync(join(ROOT, '.dockerignore'), 'utf8'), /^\*\*\/node_modules\/$/m, 'the build context leaves node_modules out');
});
