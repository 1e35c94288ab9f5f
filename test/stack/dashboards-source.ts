/**
 * The source of the provisioned Grafana dashboards in dashboards/*.json: one small builder per
 * dashboard, so panel ids, grid positions, the datasource variable and the template variables are
 * right by construction. `npx tsx test/stack/dashboards-source.ts --write` rewrites the JSON files;
 * test/stack/static.test.ts fails when they differ from what this file builds.
 *
 * Why this generator and not Grafana's typed builders (@grafana/grafana-foundation-sdk, 0.0.x on the registry):
 * the dashboards are already built by typed code here (DashboardSpec / PanelSpec / VariableSpec, ~130 lines of
 * builder), and what matters is checked on the output itself: promtool type-checks every expression, and the
 * live stack test (test/stack/live.test.ts) runs every query of every panel against a real Prometheus scraping
 * the agent with the seed payload and requires data. A pre-1.0 SDK would add a dependency without adding a check.
 *
 * Conventions (../shared grafana.md §4): schemaVersion 42 (Grafana 12.4+), the datasource is the
 * variable `datasource` (default: the provisioned uid `prometheus`), `$__rate_interval` in rate
 * windows, template variables `host` and `interface` on every dashboard.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Schema version written (Grafana 12.4 .. 13.2 default). */
export const SCHEMA_VERSION = 42;
/** uid of the data source provisioned by deploy/grafana/provisioning/datasources. */
export const DATASOURCE_UID = 'prometheus';
const DS = { type: 'prometheus', uid: '${datasource}' } as const;

/** One query of a panel. */
export interface TargetSpec {
  readonly expr: string;
  readonly legend?: string;
  /** Table panels query one instant. */
  readonly instant?: boolean;
}

type PanelType = 'timeseries' | 'stat' | 'table' | 'bargauge' | 'gauge';

/** One panel as the builder takes it. */
export interface PanelSpec {
  readonly title: string;
  readonly type: PanelType;
  readonly targets: readonly TargetSpec[];
  readonly description?: string;
  readonly unit?: string;
  readonly min?: number;
  readonly max?: number;
  readonly w?: number;
  readonly h?: number;
}

/** A row of panels. */
export interface RowSpec {
  readonly row: string;
  readonly panels: readonly PanelSpec[];
}

/** A template variable of type query. */
export interface VariableSpec {
  readonly name: string;
  readonly label: string;
  /** label_values(<selector>, <label>) */
  readonly metric: string;
  readonly labelName: string;
}

/** A dashboard as the builder takes it. */
export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly variables: readonly VariableSpec[];
  readonly rows: readonly RowSpec[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function variable(v: VariableSpec): Json {
  const query = `label_values(${v.metric}, ${v.labelName})`;
  return {
    name: v.name, label: v.label, type: 'query', datasource: { ...DS },
    definition: query, query: { query, refId: 'PrometheusVariableQueryEditor-VariableQuery', qryType: 1 },
    refresh: 2, multi: true, includeAll: true, allValue: '.*', sort: 1, hide: 0, regex: '',
    current: { selected: true, text: ['All'], value: ['$__all'] }, options: [],
  };
}

function panel(p: PanelSpec, id: number, gridPos: { x: number; y: number; w: number; h: number }): Json {
  const refIds = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const table = p.type === 'table';
  const defaults: { [k: string]: Json } = { unit: p.unit ?? 'short' };
  if (p.min !== undefined) defaults.min = p.min;
  if (p.max !== undefined) defaults.max = p.max;
  if (p.type === 'timeseries') defaults.custom = { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false };
  defaults.thresholds = { mode: 'absolute', steps: [{ color: 'green', value: null }] };
  const options: { [k: string]: Json } = p.type === 'timeseries'
    ? { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } }
    : table ? { showHeader: true, cellHeight: 'sm' }
      : { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, orientation: 'auto' };
  return {
    id, type: p.type, title: p.title, ...(p.description ? { description: p.description } : {}),
    datasource: { ...DS }, gridPos,
    targets: p.targets.map((t, i) => ({
      refId: refIds[i]!, datasource: { ...DS }, expr: t.expr, editorMode: 'code', range: !(t.instant ?? table), instant: t.instant ?? table,
      legendFormat: t.legend ?? '__auto', ...(table ? { format: 'table' } : {}),
    })),
    fieldConfig: { defaults, overrides: [] },
    options,
    ...(table && p.targets.length > 1 ? { transformations: [{ id: 'merge', options: {} }] } : {}),
  };
}

/** The dashboard JSON model of a spec. */
export function buildDashboard(d: DashboardSpec): Json {
  const panels: Json[] = [];
  let id = 1;
  let y = 0;
  for (const r of d.rows) {
    panels.push({ id: id++, type: 'row', title: r.row, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [] });
    y += 1;
    let x = 0;
    let rowH = 0;
    for (const p of r.panels) {
      const w = p.w ?? 12;
      const h = p.h ?? 8;
      if (x + w > 24) { y += rowH; x = 0; rowH = 0; }
      panels.push(panel(p, id++, { x, y, w, h }));
      x += w;
      rowH = Math.max(rowH, h);
    }
    y += rowH;
  }
  return {
    uid: d.uid, title: d.title, description: d.description, tags: [...d.tags],
    schemaVersion: SCHEMA_VERSION, version: 1, editable: false, graphTooltip: 1, timezone: 'browser',
    time: { from: 'now-1h', to: 'now' }, refresh: '30s', fiscalYearStartMonth: 0, liveNow: false, weekStart: '',
    annotations: { list: [{ builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' }] },
    links: [{ title: 'l3af dashboards', type: 'dashboards', tags: ['l3af'], asDropdown: true, includeVars: true, keepTime: true, icon: 'external link', targetBlank: false, tooltip: '', url: '' }],
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', refresh: 1, hide: 0, regex: '', current: { selected: true, text: 'Prometheus', value: DATASOURCE_UID }, options: [] },
        ...d.variables.map(variable),
      ],
    },
    panels,
  };
}

// ---------------------------------------------------------------------------------------------------
// l3af agent dashboards

const S = 'host=~"$host", interface=~"$interface"';
const RL = `${S}, program=~"$program"`;
const rlMap = (map: string) => `l3af_map_value{${RL}, map="${map}", key="0"}`;
/** The configured rate: rl_config_map[0] as the payload's map_args wrote it (no monitor_maps entry needed). */
const rlConfigured = `sum by (host, interface) (l3af_map_arg_value{${RL}, map="rl_config_map", key="0"})`;
const rlRate = (map: string) => `sum by (host, interface) (rate(${rlMap(map)}[$__rate_interval]))`;
/** What kernel run statistics can show (measured in test/stack/live.test.ts). */
const KERNEL_STATS_NOTE = 'bpf_prog_info run_cnt / run_time_ns, counted while kernel statistics are on. The kernel counts only the program attached to the hook: a program reached by tail call (every program chained behind a root) stays at 0.';
const agentVars: VariableSpec[] = [
  { name: 'host', label: 'Host', metric: 'l3af_host_info', labelName: 'host' },
  { name: 'interface', label: 'Interface', metric: 'l3af_program_running{host=~"$host"}', labelName: 'interface' },
];

const overview: DashboardSpec = {
  uid: 'l3af-overview',
  title: 'l3af / Agent overview',
  description: 'Programs the l3af agents run per interface and direction, their lifecycle and kernel run time.',
  tags: ['l3af', 'ebpf'],
  variables: agentVars,
  rows: [
    {
      row: 'Programs',
      panels: [
        { title: 'Agents up', type: 'stat', w: 4, h: 4, targets: [{ expr: 'sum(up{job="l3af-agent"})' }], description: 'Agent targets Prometheus scraped successfully.' },
        { title: 'Programs running', type: 'stat', w: 4, h: 4, targets: [{ expr: `count(l3af_program_running{${S}} == 1)` }] },
        { title: 'Programs found down', type: 'stat', w: 4, h: 4, targets: [{ expr: `sum(1 - l3af_program_running{${S}})` }], description: 'Started programs the agent found detached (or whose user program is down).' },
        { title: 'Kernel run statistics', type: 'stat', w: 4, h: 4, targets: [{ expr: 'min(l3af_kernel_stats_enabled{host=~"$host"})' }], description: '1 while the kernel counts run count and run time (needed by the run-time panels).' },
        { title: 'Map sampling round', type: 'stat', w: 8, h: 4, unit: 's', targets: [{ expr: 'max by (instance) (l3af_map_sample_duration_seconds)', legend: '{{instance}}' }], description: 'How long the agent\'s last sampling round over all monitored maps took.' },
        { title: 'Programs per interface and direction', type: 'bargauge', targets: [{ expr: `count by (host, interface, direction) (l3af_program_running{${S}})`, legend: '{{host}} {{interface}} {{direction}}' }] },
        { title: 'Programs', type: 'table', targets: [{ expr: `l3af_program_running{${S}}` }], description: 'Every started program; value 1 = running.' },
        { title: 'Time since start', type: 'timeseries', unit: 's', targets: [{ expr: `time() - l3af_program_start_time_seconds{${S}}`, legend: '{{program}} {{interface}} {{direction}}' }] },
      ],
    },
    {
      row: 'Lifecycle',
      panels: [
        {
          title: 'Starts, stops and updates', type: 'timeseries', targets: [
            { expr: `sum by (program, interface) (increase(l3af_program_starts_total{${S}}[$__rate_interval]))`, legend: 'starts {{program}} {{interface}}' },
            { expr: `sum by (program, interface) (increase(l3af_program_stops_total{${S}}[$__rate_interval]))`, legend: 'stops {{program}} {{interface}}' },
            { expr: `sum by (program, interface) (increase(l3af_program_updates_total{${S}}[$__rate_interval]))`, legend: 'updates {{program}} {{interface}}' },
          ],
        },
        {
          title: 'Deploy and update failures', type: 'timeseries', targets: [
            { expr: `sum by (program, interface) (increase(l3af_program_deploy_failures_total{${S}}[$__rate_interval]))`, legend: 'deploy {{program}} {{interface}}' },
            { expr: `sum by (program, interface) (increase(l3af_program_update_failures_total{${S}}[$__rate_interval]))`, legend: 'update {{program}} {{interface}}' },
          ],
        },
        {
          title: 'Lifecycle counters since the agent started', type: 'table', w: 24, targets: [
            { expr: `sum by (host, interface, direction, program) (l3af_program_starts_total{${S}})`, legend: 'starts' },
            { expr: `sum by (host, interface, direction, program) (l3af_program_stops_total{${S}})`, legend: 'stops' },
            { expr: `sum by (host, interface, direction, program) (l3af_program_updates_total{${S}})`, legend: 'updates' },
            { expr: `sum by (host, interface, direction, program) (l3af_program_deploy_failures_total{${S}})`, legend: 'deploy failures' },
            { expr: `sum by (host, interface, direction, program) (l3af_program_update_failures_total{${S}})`, legend: 'update failures' },
          ],
        },
      ],
    },
    {
      row: 'Kernel run time',
      panels: [
        { title: 'Kernel run time per program', type: 'timeseries', unit: 'percentunit', description: KERNEL_STATS_NOTE, targets: [{ expr: `sum by (program, interface, direction) (rate(l3af_program_run_time_seconds_total{${S}}[$__rate_interval]))`, legend: '{{program}} {{interface}} {{direction}}' }] },
        { title: 'Runs per second (1m)', type: 'timeseries', unit: 'ops', description: KERNEL_STATS_NOTE, targets: [{ expr: `program:l3af_program_runs:rate1m{${S}}`, legend: '{{program}} {{interface}} {{direction}}' }] },
        { title: 'Time per run since load', type: 'timeseries', unit: 's', w: 24, description: KERNEL_STATS_NOTE, targets: [{ expr: `l3af_program_run_average_seconds{${S}}`, legend: '{{program}} {{interface}} {{direction}}' }] },
      ],
    },
    {
      row: 'Hosts',
      panels: [
        { title: 'Hosts', type: 'table', targets: [{ expr: 'l3af_host_info{host=~"$host"}' }] },
        { title: 'BPF features', type: 'table', targets: [{ expr: 'l3af_host_bpf_feature{host=~"$host"}' }] },
      ],
    },
  ],
};

const P = `${S}, program=~"$program"`;
const PM = `${P}, map=~"$map"`;
const program: DashboardSpec = {
  uid: 'l3af-program',
  title: 'l3af / Program',
  description: 'Any program the agents run: its state, the maps its payload monitors (monitor_maps: value, rate, the agent\'s max-rate / avg), what the verifier and the JIT made of it. Program and map are variables: it works for any payload.',
  tags: ['l3af', 'ebpf'],
  variables: [
    { name: 'program', label: 'Program', metric: 'l3af_program_running', labelName: 'program' },
    { name: 'host', label: 'Host', metric: 'l3af_program_running{program=~"$program"}', labelName: 'host' },
    { name: 'interface', label: 'Interface', metric: 'l3af_program_running{program=~"$program", host=~"$host"}', labelName: 'interface' },
    { name: 'map', label: 'Map', metric: 'l3af_map_value{program=~"$program", host=~"$host", interface=~"$interface"}', labelName: 'map' },
  ],
  rows: [
    {
      row: 'State',
      panels: [
        { title: 'Running', type: 'stat', w: 8, targets: [{ expr: `l3af_program_running{${P}}`, legend: '{{host}} {{interface}} {{direction}}' }], description: '1 when the kernel has it attached (and its user program runs, if it has one).' },
        {
          title: 'Verifier and JIT', type: 'table', w: 16, description: 'Instructions the verifier processed, sizes after the verifier and the JIT (bpf_prog_info).', targets: [
            { expr: `l3af_program_verified_instructions{${P}}`, legend: 'verified instructions' },
            { expr: `l3af_program_xlated_bytes{${P}}`, legend: 'xlated bytes' },
            { expr: `l3af_program_jited_bytes{${P}}`, legend: 'JIT bytes' },
          ],
        },
        { title: 'Load time', type: 'stat', unit: 's', w: 8, targets: [{ expr: `l3af_program_load_seconds{${P}}`, legend: '{{host}} {{interface}} {{direction}}' }], description: 'Wall time of loading its object, verification included (absent for a program adopted after a restart).' },
      ],
    },
    {
      row: 'Packets in its chain',
      panels: [
        {
          title: 'Entered and ended', type: 'timeseries', unit: 'pps', w: 24,
          description: 'Packets per second entering the program, and those it ended (dropped, redirected or passed up) rather than handing them on. Needs [l3af] chain-counting on its chain.',
          targets: [
            { expr: `rate(l3af_program_packets_entered_total{${P}}[$__rate_interval])`, legend: 'entered {{interface}} {{direction}}' },
            { expr: `deriv(l3af_program_packets_ended{${P}}[$__rate_interval])`, legend: 'ended {{interface}} {{direction}}' },
          ],
        },
      ],
    },
    {
      row: 'Monitored maps',
      panels: [
        { title: 'Values', type: 'timeseries', w: 12, targets: [{ expr: `l3af_map_value{${PM}}`, legend: '{{interface}} {{map}}[{{key}}]' }], description: 'Each monitored key (per-CPU values summed), whatever its aggregator.' },
        { title: 'Rate', type: 'timeseries', unit: 'ops', w: 12, targets: [{ expr: `rate(l3af_map_value{${PM}}[$__rate_interval])`, legend: '{{interface}} {{map}}[{{key}}]' }], description: 'Per-second increase of each monitored key (counters).' },
        { title: 'Peak rate (agent, max-rate)', type: 'timeseries', unit: 'ops', w: 12, targets: [{ expr: `l3af_map_rate_max_per_second{${PM}}`, legend: '{{interface}} {{map}}[{{key}}]' }], description: 'monitor_maps with aggregator max-rate: the largest per-second increase over the agent\'s last n-metric-samples intervals.' },
        { title: 'Monitored keys', type: 'table', w: 12, targets: [{ expr: `l3af_map_value{${PM}}` }] },
      ],
    },
  ],
};

const ratelimiting: DashboardSpec = {
  uid: 'l3af-ratelimiting',
  title: 'l3af / Ratelimiting',
  description: 'The ratelimiting program per interface: connection attempts on the limited ports (candidates), drops, the configured rate. Works with the seed payload\'s monitor_maps (rl_drop_count_map and rl_recv_count_map key 0, any aggregator: the agent exports every monitored key\'s value) and reads the configured rate from its map_args (rl_config_map[0]); the program may have any name (variable program).',
  tags: ['l3af', 'ebpf', 'ratelimiting'],
  variables: [
    { name: 'program', label: 'Program', metric: 'l3af_map_value{map="rl_drop_count_map"}', labelName: 'program' },
    { name: 'host', label: 'Host', metric: 'l3af_map_value{program=~"$program", map="rl_drop_count_map"}', labelName: 'host' },
    { name: 'interface', label: 'Interface', metric: 'l3af_map_value{program=~"$program", map="rl_drop_count_map", host=~"$host"}', labelName: 'interface' },
  ],
  rows: [
    {
      row: 'Connections',
      panels: [
        {
          title: 'Candidates vs dropped', type: 'timeseries', unit: 'cps', w: 16, description: 'New TCP connections (SYNs) on the limited ports per second, and the ones dropped.', targets: [
            { expr: rlRate('rl_recv_count_map'), legend: 'candidates {{interface}}' },
            { expr: rlRate('rl_drop_count_map'), legend: 'dropped {{interface}}' },
            { expr: `${rlRate('rl_recv_count_map')} - ${rlRate('rl_drop_count_map')}`, legend: 'passed {{interface}}' },
          ],
        },
        { title: 'Configured rate', type: 'stat', unit: 'cps', w: 8, targets: [{ expr: rlConfigured, legend: '{{host}} {{interface}}' }], description: 'rl_config_map[0] as the payload\'s map_args set it: connections per second let through.' },
        { title: 'Drop ratio (1m)', type: 'gauge', unit: 'percentunit', min: 0, max: 1, w: 8, targets: [{ expr: 'interface:l3af_ratelimiting_drop_ratio:rate1m{host=~"$host", interface=~"$interface"}', legend: '{{host}} {{interface}}' }] },
        { title: 'Drop ratio', type: 'timeseries', unit: 'percentunit', min: 0, max: 1, w: 16, targets: [{ expr: `${rlRate('rl_drop_count_map')} / (${rlRate('rl_recv_count_map')} > 0)`, legend: '{{host}} {{interface}}' }] },
        {
          title: 'Passed vs configured rate', type: 'timeseries', unit: 'cps', targets: [
            { expr: rlConfigured, legend: 'configured {{interface}}' },
            { expr: `interface:l3af_ratelimiting_candidates:rate1m{host=~"$host", interface=~"$interface"} - interface:l3af_ratelimiting_drops:rate1m{host=~"$host", interface=~"$interface"}`, legend: 'passed (1m) {{interface}}' },
          ],
        },
        { title: 'Load vs configured rate', type: 'timeseries', unit: 'percentunit', description: 'Candidates per second as a share of the configured rate; above 100% the program drops.', targets: [{ expr: `${rlRate('rl_recv_count_map')} / (${rlConfigured} > 0)`, legend: '{{host}} {{interface}}' }] },
      ],
    },
    {
      row: 'Counters',
      panels: [
        { title: 'Candidates since load', type: 'stat', w: 6, targets: [{ expr: `sum by (host, interface) (${rlMap('rl_recv_count_map')})`, legend: '{{host}} {{interface}}' }] },
        { title: 'Dropped since load', type: 'stat', w: 6, targets: [{ expr: `sum by (host, interface) (${rlMap('rl_drop_count_map')})`, legend: '{{host}} {{interface}}' }] },
        { title: 'Peak candidate rate (agent, max-rate)', type: 'timeseries', unit: 'cps', w: 12, description: 'Largest per-second increase of rl_recv_count_map[0] over the agent\'s last n-metric-samples intervals.', targets: [{ expr: `l3af_map_rate_max_per_second{${RL}, map="rl_recv_count_map", key="0"}`, legend: '{{host}} {{interface}}' }] },
        {
          title: 'Per interface', type: 'table', w: 24, targets: [
            { expr: rlConfigured, legend: 'configured rate' },
            { expr: 'sum by (host, interface) (interface:l3af_ratelimiting_candidates:rate1m{host=~"$host", interface=~"$interface"})', legend: 'candidates/s (1m)' },
            { expr: 'sum by (host, interface) (interface:l3af_ratelimiting_drops:rate1m{host=~"$host", interface=~"$interface"})', legend: 'dropped/s (1m)' },
            { expr: `sum by (host, interface) (${rlMap('rl_drop_count_map')})`, legend: 'dropped since load' },
          ],
        },
      ],
    },
  ],
};

const C = 'host=~"$host", interface=~"$interface", direction=~"$direction"';
const chains: DashboardSpec = {
  uid: 'l3af-chains',
  title: 'l3af / Chains',
  description: 'The programs chained on each hook (interface and direction), from the agent\'s metrics. The metrics carry no position in the chain (seq_id), and the kernel does not count runs of tail-called programs, so the order itself is in GET /l3af/chains/{iface} and the l3af app\'s Chains page.',
  tags: ['l3af', 'ebpf', 'chains'],
  variables: [
    ...agentVars,
    { name: 'direction', label: 'Direction', metric: 'l3af_program_running{host=~"$host", interface=~"$interface"}', labelName: 'direction' },
  ],
  rows: [
    {
      row: 'Chains',
      panels: [
        { title: 'Programs per chain', type: 'bargauge', w: 8, targets: [{ expr: `count by (host, interface, direction) (l3af_program_running{${C}})`, legend: '{{host}} {{interface}} {{direction}}' }] },
        { title: 'Chained programs', type: 'table', w: 16, targets: [{ expr: `max by (host, interface, direction, program, version) (l3af_program_running{${C}})` }], description: 'Value 1 = attached and running.' },
        { title: 'Kernel program ids', type: 'table', w: 12, targets: [{ expr: `max by (host, interface, direction, program, prog_id) (l3af_program_runs_total{${C}})` }], description: 'Entry program id of each chained program (changes when a program is replaced), with its run count.' },
        { title: 'Started at', type: 'table', w: 12, unit: 'dateTimeAsIso', targets: [{ expr: `max by (host, interface, direction, program) (l3af_program_start_time_seconds{${C}}) * 1000` }] },
      ],
    },
    {
      row: 'Changes',
      panels: [
        { title: 'Chain changes', type: 'timeseries', w: 24, description: 'Starts, stops and updates of the programs of each chain.', targets: [{ expr: `sum by (host, interface, direction) (increase(l3af_program_starts_total{${C}}[$__rate_interval]) + increase(l3af_program_stops_total{${C}}[$__rate_interval]) + increase(l3af_program_updates_total{${C}}[$__rate_interval]))`, legend: '{{host}} {{interface}} {{direction}}' }] },
      ],
    },
  ],
};

// ---------------------------------------------------------------------------------------------------
// host dashboards

const N = 'instance=~"$host"';
const linux: DashboardSpec = {
  uid: 'l3af-linux-host',
  title: 'l3af / Linux host',
  description: 'The Linux hosts the agents run on (node_exporter).',
  tags: ['l3af', 'node_exporter'],
  variables: [
    { name: 'host', label: 'Host', metric: 'node_uname_info', labelName: 'instance' },
    { name: 'interface', label: 'Interface', metric: 'node_network_receive_bytes_total{instance=~"$host"}', labelName: 'device' },
  ],
  rows: [
    {
      row: 'System',
      panels: [
        { title: 'CPU busy (1m)', type: 'stat', unit: 'percent', w: 4, h: 4, targets: [{ expr: `100 * instance:node_cpu_utilisation:rate1m{${N}}`, legend: '{{instance}}' }] },
        { title: 'Memory used', type: 'stat', unit: 'percent', w: 4, h: 4, targets: [{ expr: `100 * instance:node_memory_utilisation:ratio{${N}}`, legend: '{{instance}}' }] },
        { title: 'Load (1m)', type: 'stat', w: 4, h: 4, targets: [{ expr: `node_load1{${N}}`, legend: '{{instance}}' }] },
        { title: 'CPUs', type: 'stat', w: 4, h: 4, targets: [{ expr: `count by (instance) (node_cpu_seconds_total{${N}, mode="idle"})`, legend: '{{instance}}' }] },
        { title: 'Uptime', type: 'stat', unit: 's', w: 8, h: 4, targets: [{ expr: `time() - node_boot_time_seconds{${N}}`, legend: '{{instance}}' }] },
        { title: 'CPU by mode', type: 'timeseries', unit: 'percentunit', targets: [{ expr: `sum by (instance, mode) (rate(node_cpu_seconds_total{${N}, mode!="idle"}[$__rate_interval])) / on (instance) group_left count by (instance) (node_cpu_seconds_total{${N}, mode="idle"})`, legend: '{{instance}} {{mode}}' }] },
        {
          title: 'Memory', type: 'timeseries', unit: 'bytes', targets: [
            { expr: `node_memory_MemTotal_bytes{${N}}`, legend: 'total {{instance}}' },
            { expr: `node_memory_MemAvailable_bytes{${N}}`, legend: 'available {{instance}}' },
          ],
        },
      ],
    },
    {
      row: 'Network',
      panels: [
        {
          title: 'Traffic', type: 'timeseries', unit: 'bps', targets: [
            { expr: `rate(node_network_receive_bytes_total{${N}, device=~"$interface"}[$__rate_interval]) * 8`, legend: 'rx {{device}}' },
            { expr: `rate(node_network_transmit_bytes_total{${N}, device=~"$interface"}[$__rate_interval]) * 8`, legend: 'tx {{device}}' },
          ],
        },
        {
          title: 'Packets', type: 'timeseries', unit: 'pps', targets: [
            { expr: `rate(node_network_receive_packets_total{${N}, device=~"$interface"}[$__rate_interval])`, legend: 'rx {{device}}' },
            { expr: `rate(node_network_transmit_packets_total{${N}, device=~"$interface"}[$__rate_interval])`, legend: 'tx {{device}}' },
          ],
        },
        {
          title: 'Drops and errors', type: 'timeseries', unit: 'pps', targets: [
            { expr: `rate(node_network_receive_drop_total{${N}, device=~"$interface"}[$__rate_interval])`, legend: 'rx drop {{device}}' },
            { expr: `rate(node_network_receive_errs_total{${N}, device=~"$interface"}[$__rate_interval])`, legend: 'rx errors {{device}}' },
          ],
        },
        {
          title: 'Softnet (per CPU)', type: 'timeseries', unit: 'pps', description: 'Packets the kernel\'s receive path processed and dropped (backlog full) per CPU.', targets: [
            { expr: `sum by (instance, cpu) (rate(node_softnet_processed_total{${N}}[$__rate_interval]))`, legend: 'processed cpu {{cpu}}' },
            { expr: `sum by (instance, cpu) (rate(node_softnet_dropped_total{${N}}[$__rate_interval]))`, legend: 'dropped cpu {{cpu}}' },
          ],
        },
      ],
    },
    {
      row: 'Storage',
      panels: [
        { title: 'Filesystem used', type: 'bargauge', unit: 'percentunit', min: 0, max: 1, targets: [{ expr: `1 - node_filesystem_avail_bytes{${N}, fstype!~"tmpfs|ramfs|overlay|squashfs"} / node_filesystem_size_bytes{${N}, fstype!~"tmpfs|ramfs|overlay|squashfs"}`, legend: '{{mountpoint}}' }] },
        {
          title: 'Disk I/O', type: 'timeseries', unit: 'Bps', targets: [
            { expr: `rate(node_disk_read_bytes_total{${N}}[$__rate_interval])`, legend: 'read {{device}}' },
            { expr: `rate(node_disk_written_bytes_total{${N}}[$__rate_interval])`, legend: 'written {{device}}' },
          ],
        },
      ],
    },
  ],
};

const W = 'instance=~"$host"';
/** windows_exporter version whose metric names the Windows dashboard uses (deploy/windows pins it). */
export const WINDOWS_EXPORTER_VERSION = '0.31.8';
const windows: DashboardSpec = {
  uid: 'l3af-windows-host',
  title: 'l3af / Windows host',
  description: `Windows hosts the agents run on (windows_exporter ${WINDOWS_EXPORTER_VERSION} metric names: windows_memory_physical_*, no windows_cs_*).`,
  tags: ['l3af', 'windows_exporter'],
  variables: [
    { name: 'host', label: 'Host', metric: 'windows_os_hostname', labelName: 'instance' },
    { name: 'interface', label: 'Interface', metric: 'windows_net_bytes_received_total{instance=~"$host"}', labelName: 'nic' },
  ],
  rows: [
    {
      row: 'System',
      panels: [
        { title: 'CPU busy (1m)', type: 'stat', unit: 'percent', w: 4, h: 4, targets: [{ expr: `100 * instance:windows_cpu_utilisation:rate1m{${W}}`, legend: '{{instance}}' }] },
        { title: 'Memory used', type: 'stat', unit: 'percent', w: 4, h: 4, targets: [{ expr: `100 * instance:windows_memory_utilisation:ratio{${W}}`, legend: '{{instance}}' }] },
        { title: 'Logical processors', type: 'stat', w: 4, h: 4, targets: [{ expr: `count by (instance) (windows_cpu_time_total{${W}, mode="idle"})`, legend: '{{instance}}' }] },
        { title: 'Processes', type: 'stat', w: 4, h: 4, targets: [{ expr: `windows_system_processes{${W}}`, legend: '{{instance}}' }] },
        { title: 'Uptime', type: 'stat', unit: 's', w: 8, h: 4, targets: [{ expr: `time() - windows_system_boot_time_timestamp{${W}}`, legend: '{{instance}}' }] },
        { title: 'CPU by mode', type: 'timeseries', unit: 'percentunit', targets: [{ expr: `sum by (instance, mode) (rate(windows_cpu_time_total{${W}, mode!="idle"}[$__rate_interval])) / on (instance) group_left count by (instance) (windows_cpu_time_total{${W}, mode="idle"})`, legend: '{{instance}} {{mode}}' }] },
        {
          title: 'Memory', type: 'timeseries', unit: 'bytes', targets: [
            { expr: `windows_memory_physical_total_bytes{${W}}`, legend: 'total {{instance}}' },
            { expr: `windows_memory_physical_free_bytes{${W}}`, legend: 'free {{instance}}' },
            { expr: `windows_memory_committed_bytes{${W}}`, legend: 'committed {{instance}}' },
          ],
        },
        { title: 'Operating system', type: 'table', w: 16, targets: [{ expr: `windows_os_info{${W}}` }] },
        { title: 'Context switches', type: 'timeseries', unit: 'ops', w: 8, targets: [{ expr: `rate(windows_system_context_switches_total{${W}}[$__rate_interval])`, legend: '{{instance}}' }] },
      ],
    },
    {
      row: 'Network',
      panels: [
        {
          title: 'Traffic', type: 'timeseries', unit: 'bps', targets: [
            { expr: `rate(windows_net_bytes_received_total{${W}, nic=~"$interface"}[$__rate_interval]) * 8`, legend: 'rx {{nic}}' },
            { expr: `rate(windows_net_bytes_sent_total{${W}, nic=~"$interface"}[$__rate_interval]) * 8`, legend: 'tx {{nic}}' },
          ],
        },
        {
          title: 'Packets discarded and errors', type: 'timeseries', unit: 'pps', targets: [
            { expr: `rate(windows_net_packets_received_discarded_total{${W}, nic=~"$interface"}[$__rate_interval])`, legend: 'rx discarded {{nic}}' },
            { expr: `rate(windows_net_packets_received_errors_total{${W}, nic=~"$interface"}[$__rate_interval])`, legend: 'rx errors {{nic}}' },
            { expr: `rate(windows_net_packets_outbound_discarded_total{${W}, nic=~"$interface"}[$__rate_interval])`, legend: 'tx discarded {{nic}}' },
          ],
        },
      ],
    },
    {
      row: 'Storage',
      panels: [
        { title: 'Volume used', type: 'bargauge', unit: 'percentunit', min: 0, max: 1, targets: [{ expr: `1 - windows_logical_disk_free_bytes{${W}, volume!~"HarddiskVolume.*"} / windows_logical_disk_size_bytes{${W}, volume!~"HarddiskVolume.*"}`, legend: '{{volume}}' }] },
        {
          title: 'Disk I/O', type: 'timeseries', unit: 'Bps', targets: [
            { expr: `rate(windows_logical_disk_read_bytes_total{${W}, volume!~"HarddiskVolume.*"}[$__rate_interval])`, legend: 'read {{volume}}' },
            { expr: `rate(windows_logical_disk_write_bytes_total{${W}, volume!~"HarddiskVolume.*"}[$__rate_interval])`, legend: 'write {{volume}}' },
          ],
        },
      ],
    },
  ],
};

/** Every dashboard: file name under dashboards/ → spec. */
export const DASHBOARDS: Readonly<Record<string, DashboardSpec>> = {
  'l3af-overview.json': overview,
  'l3af-ratelimiting.json': ratelimiting,
  'l3af-program.json': program,
  'l3af-chains.json': chains,
  'linux-host.json': linux,
  'windows-host.json': windows,
};

/** The file text of a dashboard (2-space JSON, trailing newline). */
export function dashboardText(spec: DashboardSpec): string {
  return `${JSON.stringify(buildDashboard(spec), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  const dir = fileURLToPath(new URL('../../dashboards/', import.meta.url));
  for (const [file, spec] of Object.entries(DASHBOARDS)) {
    writeFileSync(join(dir, file), dashboardText(spec));
    console.log(`wrote dashboards/${file}`);
  }
}
