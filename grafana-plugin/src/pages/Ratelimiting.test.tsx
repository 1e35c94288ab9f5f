import React from 'react';
import { screen, waitFor } from '@testing-library/react';
import { of } from 'rxjs';
import {
  FieldType,
  LoadingState,
  PanelPlugin,
  getDefaultTimeRange,
  toDataFrame,
  type DataQueryRequest,
  type PanelProps,
} from '@grafana/data';
import { setDataSourceSrv, setPluginImportUtils, setRunRequest, type DataSourceSrv } from '@grafana/runtime';
import { SceneQueryRunner, VizPanel, sceneGraph } from '@grafana/scenes';
import Ratelimiting from './Ratelimiting';
import { ratelimitingScene } from './ratelimitingScene';
import { RATELIMITING_QUERIES } from '../api/queries';
import { renderPage } from '../test/backend';

// A stand-in for Grafana's built-in panels (they are not in any npm package): prints what it received.
function StubPanel(props: PanelProps) {
  return (
    <div data-testid="stub-panel">
      {props.data.series.map((s) => `${s.refId}=${String(s.fields[1]?.values[0])}`).join(' ')}
    </div>
  );
}
const stub = (id: string) => {
  const p = new PanelPlugin(StubPanel);
  p.meta = {
    id,
    name: id,
    type: 'panel',
    info: {},
    module: '',
    baseUrl: '',
    sort: 0,
  } as unknown as PanelPlugin['meta'];
  return p;
};

const prom = { uid: 'prom', type: 'prometheus', name: 'Prometheus', meta: { id: 'prometheus' } };
const requests: DataQueryRequest[] = [];

beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, 'offsetWidth', { configurable: true, value: 800 });
  Object.defineProperty(HTMLElement.prototype, 'offsetHeight', { configurable: true, value: 400 });
  const ds = {
    ...prom,
    getRef: () => ({ uid: 'prom', type: 'prometheus' }),
    query: jest.fn(),
    metricFindQuery: async () => [{ text: 'node-1' }],
  };
  setDataSourceSrv({
    get: async () => ds,
    getInstanceSettings: () => prom,
    getList: () => [prom],
    reload: async () => undefined,
  } as unknown as DataSourceSrv);
  setRunRequest((_ds, req) => {
    requests.push(req);
    return of({
      state: LoadingState.Done,
      timeRange: req.range ?? getDefaultTimeRange(),
      series: req.targets.map((t, i) =>
        toDataFrame({
          refId: t.refId,
          fields: [
            { name: 'time', type: FieldType.time, values: [1] },
            { name: 'v', type: FieldType.number, values: [i + 1] },
          ],
        })
      ),
    });
  });
  setPluginImportUtils({ importPanelPlugin: async (id: string) => stub(id), getPanelPluginFromCache: () => undefined });
});

describe('Ratelimiting scene', () => {
  it('queries candidates, drops and the configured rate per host and interface', () => {
    const scene = ratelimitingScene('prom');
    const runners = sceneGraph.findAllObjects(scene, (o) => o instanceof SceneQueryRunner) as SceneQueryRunner[];
    const exprs = runners.flatMap((r) => r.state.queries.map((q) => (q as unknown as { expr: string }).expr));
    expect(exprs).toEqual([
      RATELIMITING_QUERIES.candidates,
      RATELIMITING_QUERIES.dropped,
      RATELIMITING_QUERIES.configured,
      RATELIMITING_QUERIES.configured,
    ]);
    expect(RATELIMITING_QUERIES.dropped).toBe(
      'sum by (host, interface) (rate(l3af_map_value{program="ratelimiting",map="rl_drop_count_map",key="0",host=~"$host",interface=~"$interface"}[$__rate_interval]))'
    );
    const titles = (sceneGraph.findAllObjects(scene, (o) => o instanceof VizPanel) as VizPanel[]).map(
      (p) => p.state.title
    );
    expect(titles).toEqual([
      'Candidate vs dropped connections per second (and the configured rate)',
      'Configured rate (connections per second)',
    ]);
  });

  it('renders its panels with the data Prometheus returns', async () => {
    renderPage(<Ratelimiting />, []);
    await waitFor(() => expect(screen.getAllByTestId('stub-panel').length).toBe(2), { timeout: 5000 });
    await waitFor(() =>
      expect(screen.getAllByTestId('stub-panel')[0]).toHaveTextContent('candidates=1 dropped=2 configured=3')
    );
    const sent = requests.flatMap((r) => r.targets.map((t) => (t as unknown as { expr: string }).expr));
    expect(sent.some((e) => e.includes('rl_recv_count_map'))).toBe(true);
  });
});
