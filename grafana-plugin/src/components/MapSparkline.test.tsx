import React from 'react';
import { render, screen } from '@testing-library/react';
import { fakeBackend } from '../test/backend';
import { MapSparkline } from './MapSparkline';

const monitor = { name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' as const };

function answer(result: unknown[]) {
  return fakeBackend(() => ({ status: 200, data: { status: 'success', data: { resultType: 'matrix', result } } }));
}

describe('MapSparkline', () => {
  it('draws the series as an SVG path with the last value as text', async () => {
    const { calls } = answer([
      {
        metric: {},
        values: [
          [1, '0'],
          [2, '12'],
          [3, '30'],
        ],
      },
    ]);
    render(
      <MapSparkline
        uid="prom"
        program="ratelimiting"
        iface="veth0"
        direction="xdp_ingress"
        monitor={monitor}
        refresh={0}
      />
    );
    const path = await screen.findByTestId('sparkline-path');
    expect(path.getAttribute('d')).toBe('M0.0,18.0 L40.0,10.8 L80.0,0.0');
    expect(screen.getByTestId('sparkline-last').textContent).toBe('30');
    expect(screen.getByTestId('sparkline-rl_drop_count_map').textContent).toContain('rl_drop_count_map[0] scalar');
    expect(decodeURIComponent(calls[0]!.url)).toContain(
      'query=l3af_map_value{program="ratelimiting",interface="veth0",direction="xdp_ingress",map="rl_drop_count_map",key="0"}'
    );
  });
  it('says "no data" when Prometheus has no series', async () => {
    answer([]);
    render(
      <MapSparkline
        uid="prom"
        program="ratelimiting"
        iface="veth0"
        direction="xdp_ingress"
        monitor={monitor}
        refresh={0}
      />
    );
    expect((await screen.findByTestId('sparkline-no-data')).textContent).toBe('no data');
    expect(screen.queryByTestId('sparkline-path')).toBeNull();
  });
  it('shows a Prometheus error plainly', async () => {
    fakeBackend(() => ({ status: 200, data: { status: 'error', error: 'bad_data: parse error' } }));
    render(
      <MapSparkline
        uid="prom"
        program="ratelimiting"
        iface="veth0"
        direction="xdp_ingress"
        monitor={monitor}
        refresh={0}
      />
    );
    expect((await screen.findByTestId('sparkline-error')).textContent).toBe('Prometheus: bad_data: parse error');
  });
});
