/**
 * PromQL of the stack: every expression of every dashboard panel (with Grafana's macros and template
 * variables substituted, as Grafana would send it) and of every rule file, for the static checks
 * (promtool) and the live evaluation against a real Prometheus.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DASHBOARD_DIR = join(ROOT, 'dashboards');
export const PROMETHEUS_DIR = join(ROOT, 'prometheus');
export const RULE_FILES = ['rules/recording.yml', 'rules/alerts.yml'].map((f) => join(PROMETHEUS_DIR, f));

/** One query of one dashboard panel. */
export interface PanelQuery {
  readonly dashboard: string;
  readonly panelId: number;
  readonly title: string;
  readonly refId: string;
  readonly expr: string;
}

interface PanelJson { id: number; type: string; title: string; targets?: { refId: string; expr?: string }[]; panels?: PanelJson[] }
/** The parts of a dashboard file the checks read. */
export interface DashboardJson {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: PanelJson[];
  templating: { list: { name: string; type: string; query?: unknown; definition?: string; datasource?: { type: string; uid: string } }[] };
}

/** dashboards/*.json file names. */
export function dashboardFiles(): string[] {
  return readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json')).sort();
}

/** A dashboard file, parsed. */
export function readDashboard(file: string): DashboardJson {
  return JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) as DashboardJson;
}

/** Every panel (rows' nested panels included). */
export function allPanels(d: DashboardJson): PanelJson[] {
  const out: PanelJson[] = [];
  const walk = (ps: PanelJson[]): void => {
    for (const p of ps) {
      out.push(p);
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  return out;
}

/** Every query of every panel of a dashboard file. */
export function dashboardQueries(file: string): PanelQuery[] {
  const d = readDashboard(file);
  return allPanels(d).flatMap((p) => (p.targets ?? []).filter((t) => t.expr !== undefined).map((t) => ({
    dashboard: file, panelId: p.id, title: p.title, refId: t.refId, expr: t.expr!,
  })));
}

/** The selectors of a dashboard's query variables (`label_values(<selector>, label)`). */
export function variableSelectors(file: string): { name: string; selector: string; label: string }[] {
  const d = readDashboard(file);
  return d.templating.list.filter((v) => v.type === 'query').map((v) => {
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(v.definition ?? '');
    if (!m) throw new Error(`${file}: variable ${v.name}: not label_values(selector, label): ${v.definition}`);
    return { name: v.name, selector: m[1]!, label: m[2]! };
  });
}

/**
 * An expression as Grafana sends it: `$__rate_interval`/`$__interval`/`$__range` become `window`,
 * and every template variable (used as `label=~"$var"`) becomes `.*` (the "All" value).
 */
export function substitute(expr: string, window = '1m', vars: Readonly<Record<string, string>> = {}): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)(_ms|_s)?\b/g, window)
    .replace(/\$\{(\w+)(:\w+)?\}|\$(\w+)/g, (_m, a: string | undefined, _f: string | undefined, b: string | undefined) => vars[a ?? b ?? ''] ?? '.*');
}

/** A rule of the rule files. */
export interface RuleInfo {
  readonly file: string;
  readonly group: string;
  readonly name: string;
  readonly kind: 'record' | 'alert';
  readonly expr: string;
}

/** Every rule of prometheus/rules. */
export function rules(): RuleInfo[] {
  return RULE_FILES.flatMap((file) => {
    const doc = parse(readFileSync(file, 'utf8')) as { groups: { name: string; rules: { record?: string; alert?: string; expr: string }[] }[] };
    return doc.groups.flatMap((g) => g.rules.map((r) => ({
      file, group: g.name, name: (r.record ?? r.alert)!, kind: r.record ? 'record' as const : 'alert' as const, expr: r.expr.trim(),
    })));
  });
}

/**
 * An alert expression ends in `<comparison> <number>`; this turns it into the same comparison with
 * `bool`, which returns every series behind the alert (0 or 1) instead of only the firing ones.
 */
export function alertSignal(expr: string): string {
  const m = /^([\s\S]*\S)\s*(==|!=|>=|<=|>|<)\s*(-?[0-9.]+)$/.exec(expr.trim());
  if (!m) throw new Error(`alert expression does not end in "<comparison> <number>": ${expr}`);
  return `${m[1]} ${m[2]} bool ${m[3]}`;
}
