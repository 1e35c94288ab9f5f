/**
 * The Ratelimiting scene: candidate vs dropped connections per second and the configured rate, per host and
 * interface, from Prometheus (whichever Prometheus data source the user picks).
 */
import {
  DataSourceVariable,
  EmbeddedScene,
  PanelBuilders,
  QueryVariable,
  SceneControlsSpacer,
  SceneFlexItem,
  SceneFlexLayout,
  SceneQueryRunner,
  SceneRefreshPicker,
  SceneTimePicker,
  SceneTimeRange,
  SceneVariableSet,
  VariableValueSelectors,
} from '@grafana/scenes';
import { HOST_VALUES, INTERFACE_VALUES, RATELIMITING_QUERIES } from '../api/queries';

const DS = { type: 'prometheus', uid: '${ds}' };

/** Builds the scene; `prometheusUid` preselects a data source (else Grafana's default Prometheus). */

/** A multi-value variable over a Prometheus label (All = any value). */
function labelVariable(name: string, label: string, query: string): QueryVariable {
  return new QueryVariable({
    name,
    label,
    datasource: DS,
    query: { query, refId: name },
    includeAll: true,
    defaultToAll: true,
    allValue: '.*',
    isMulti: true,
  });
}

export function ratelimitingScene(prometheusUid?: string): EmbeddedScene {
  const ds = new DataSourceVariable({
    name: 'ds',
    label: 'Prometheus',
    pluginId: 'prometheus',
    ...(prometheusUid ? { value: prometheusUid } : {}),
  });
  const host = labelVariable('host', 'Host', HOST_VALUES);
  const iface = labelVariable('interface', 'Interface', INTERFACE_VALUES);
  const traffic = new SceneQueryRunner({
    datasource: DS,
    queries: [
      { refId: 'candidates', expr: RATELIMITING_QUERIES.candidates, legendFormat: 'candidates {{host}} {{interface}}' },
      { refId: 'dropped', expr: RATELIMITING_QUERIES.dropped, legendFormat: 'dropped {{host}} {{interface}}' },
      {
        refId: 'configured',
        expr: RATELIMITING_QUERIES.configured,
        legendFormat: 'configured rate {{host}} {{interface}}',
      },
    ],
  });
  const configured = new SceneQueryRunner({
    datasource: DS,
    queries: [
      {
        refId: 'configured',
        expr: RATELIMITING_QUERIES.configured,
        legendFormat: '{{host}} {{interface}}',
        instant: true,
      },
    ],
  });
  return new EmbeddedScene({
    $timeRange: new SceneTimeRange({ from: 'now-15m', to: 'now' }),
    $variables: new SceneVariableSet({ variables: [ds, host, iface] }),
    controls: [
      new VariableValueSelectors({}),
      new SceneControlsSpacer(),
      new SceneTimePicker({}),
      new SceneRefreshPicker({ intervals: ['5s', '10s', '30s', '1m'], refresh: '10s' }),
    ],
    body: new SceneFlexLayout({
      direction: 'column',
      children: [
        new SceneFlexItem({
          minHeight: 320,
          body: PanelBuilders.timeseries()
            .setTitle('Candidate vs dropped connections per second (and the configured rate)')
            .setData(traffic)
            .setUnit('cps')
            .build(),
        }),
        new SceneFlexItem({
          minHeight: 160,
          body: PanelBuilders.stat()
            .setTitle('Configured rate (connections per second)')
            .setData(configured)
            .setUnit('cps')
            .build(),
        }),
      ],
    }),
  });
}
