/** A small sparkline of one monitored map key, with its last value, from Prometheus. */
import React from 'react';
import { Spinner } from '@grafana/ui';
import { fetchMapSeries, mapSeriesQuery, sparklinePath } from '../api/map-series';
import type { Direction, MonitorMap } from '../api/types';
import { useAsync } from '../hooks/useAsync';

const W = 80;
const H = 18;

/** A number for a table cell: integers as they are, others to 3 significant digits. */
function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(3);
}

/** The sparkline of `monitor` of `program` on `iface`/`direction`; `refresh` changes re-query. */
export function MapSparkline({
  uid,
  program,
  iface,
  direction,
  monitor,
  refresh,
}: {
  uid: string;
  program: string;
  iface: string;
  direction: Direction;
  monitor: MonitorMap;
  refresh: number;
}) {
  const expr = mapSeriesQuery(program, iface, direction, monitor);
  const series = useAsync(() => fetchMapSeries(uid, expr), [uid, expr, refresh]);
  const label = `${monitor.name}[${monitor.key}] ${monitor.aggregator}`;
  let body: React.ReactNode;
  if (series.loading && !series.value) {
    body = <Spinner inline />;
  } else if (series.error !== undefined) {
    body = (
      <span data-testid="sparkline-error" style={{ color: 'red' }}>
        {series.error instanceof Error ? series.error.message : 'Prometheus query failed'}
      </span>
    );
  } else if (!series.value) {
    body = <span data-testid="sparkline-no-data">no data</span>;
  } else {
    const values = series.value.values;
    body = (
      <>
        <svg width={W} height={H} viewBox={`0 0 ${W} ${H}`} style={{ verticalAlign: 'middle' }}>
          <path
            data-testid="sparkline-path"
            d={sparklinePath(values, W, H)}
            fill="none"
            stroke="currentColor"
            strokeWidth={1.2}
          />
        </svg>{' '}
        <span data-testid="sparkline-last">{formatValue(values[values.length - 1]!)}</span>
      </>
    );
  }
  return (
    <div data-testid={`sparkline-${monitor.name}`} title={expr} style={{ whiteSpace: 'nowrap' }}>
      <small>{label}</small> {body}
    </div>
  );
}
