/**
 * Monitored-map series for the Chains page's sparklines: the PromQL of one `monitor_maps` entry (metric names
 * and labels of agent/src/metrics/map-monitor.ts) and its recent values, read through Grafana's data source
 * proxy from the configured Prometheus data source.
 */
import { lastValueFrom } from 'rxjs';
import { getBackendSrv } from '@grafana/runtime';
import type { Direction, MonitorMap } from './types';

/** The agent's metric for each aggregator. */
export const MAP_METRICS: Record<MonitorMap['aggregator'], string> = {
  scalar: 'l3af_map_value',
  'max-rate': 'l3af_map_rate_max_per_second',
  avg: 'l3af_map_rate_avg_per_second',
  // a log2 histogram map: its sample count (the map has no key label)
  histogram: 'l3af_map_log2_distribution_count',
};

/** A PromQL label value: backslashes and double quotes escaped. */
function quote(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The series selector of one monitored map key of a program on an interface and hook. */
export function mapSeriesQuery(program: string, iface: string, direction: Direction, m: MonitorMap): string {
  const metric = MAP_METRICS[m.aggregator];
  if (!metric) {
    throw new Error(`unknown aggregator ${JSON.stringify(m.aggregator)} of monitored map ${m.name}`);
  }
  const labels = [
    `program=${quote(program)}`,
    `interface=${quote(iface)}`,
    `direction=${quote(direction)}`,
    `map=${quote(m.name)}`,
    ...(m.aggregator === 'histogram' ? [] : [`key=${quote(typeof m.key === 'object' ? JSON.stringify(m.key) : String(m.key))}`]),
  ];
  return `${metric}{${labels.join(',')}}`;
}

/** A series' points: unix seconds and values, oldest first. */
export interface MapSeries {
  times: number[];
  values: number[];
}

interface RangeResponse {
  status: string;
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> };
}

/**
 * The last `seconds` of `expr` (one point per `step` seconds) from the Prometheus data source `uid`;
 * undefined when Prometheus has no such series.
 */
export async function fetchMapSeries(
  uid: string,
  expr: string,
  seconds = 300,
  step = 5,
  now = Date.now() / 1000
): Promise<MapSeries | undefined> {
  const end = Math.floor(now);
  const params = new URLSearchParams({
    query: expr,
    start: String(end - seconds),
    end: String(end),
    step: String(step),
  });
  const res = await lastValueFrom(
    getBackendSrv().fetch<RangeResponse>({
      url: `/api/datasources/proxy/uid/${encodeURIComponent(uid)}/api/v1/query_range?${params.toString()}`,
      method: 'GET',
      showErrorAlert: false,
      showSuccessAlert: false,
    })
  );
  const body = res.data;
  if (body.status !== 'success' || !body.data) {
    throw new Error(`Prometheus: ${body.error ?? 'query failed'}`);
  }
  const first = body.data.result[0];
  if (!first || first.values.length === 0) {
    return undefined;
  }
  return { times: first.values.map((v) => Number(v[0])), values: first.values.map((v) => Number(v[1])) };
}

/** An SVG path through `values` scaled into a `width` × `height` box (y grows downwards); '' when empty. */
export function sparklinePath(values: number[], width: number, height: number): string {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) {
    return '';
  }
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  const span = max - min;
  const n = values.length;
  const x = (i: number) => (n === 1 ? width / 2 : (i * width) / (n - 1));
  const y = (v: number) => (span === 0 ? height / 2 : height - ((v - min) / span) * height);
  const parts: string[] = [];
  let pen = false;
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) {
      pen = false;
      return;
    }
    parts.push(`${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    pen = true;
  });
  if (n === 1) {
    parts.push(`L${(width / 2 + 0.1).toFixed(1)},${y(values[0]!).toFixed(1)}`);
  }
  return parts.join(' ');
}
