import { fakeBackend } from '../test/backend';
import { fetchMapSeries, mapSeriesQuery, sparklinePath } from './map-series';

describe('mapSeriesQuery', () => {
  it('picks the metric of the aggregator and selects program, interface, direction, map and key', () => {
    expect(
      mapSeriesQuery('ratelimiting', 'veth0', 'xdp_ingress', {
        name: 'rl_drop_count_map',
        key: 0,
        aggregator: 'scalar',
      })
    ).toBe(
      'l3af_map_value{program="ratelimiting",interface="veth0",direction="xdp_ingress",map="rl_drop_count_map",key="0"}'
    );
    expect(mapSeriesQuery('p', 'e', 'tc_egress', { name: 'm', key: 3, aggregator: 'max-rate' })).toMatch(
      /^l3af_map_rate_max_per_second\{.*key="3"\}$/
    );
    expect(mapSeriesQuery('p', 'e', 'tc_ingress', { name: 'm', key: 1, aggregator: 'avg' })).toMatch(
      /^l3af_map_rate_avg_per_second\{/
    );
  });
  it('escapes quotes in label values and refuses an unknown aggregator', () => {
    expect(mapSeriesQuery('a"b', 'e', 'xdp_ingress', { name: 'm', key: 0, aggregator: 'scalar' })).toContain(
      'program="a\\"b"'
    );
    expect(() => mapSeriesQuery('p', 'e', 'xdp_ingress', { name: 'm', key: 0, aggregator: 'median' as never })).toThrow(
      /unknown aggregator "median" of monitored map m/
    );
  });
});

describe('fetchMapSeries', () => {
  it('asks the data source proxy for a range query and returns the first series', async () => {
    const { calls } = fakeBackend(() => ({
      status: 200,
      data: {
        status: 'success',
        data: {
          resultType: 'matrix',
          result: [
            {
              metric: {},
              values: [
                [1000, '1'],
                [1005, '4'],
              ],
            },
          ],
        },
      },
    }));
    const s = await fetchMapSeries('prom1', 'l3af_map_value{map="x"}', 300, 5, 1300.7);
    expect(s).toEqual({ times: [1000, 1005], values: [1, 4] });
    const url = new URL(calls[0]!.url, 'http://g');
    expect(url.pathname).toBe('/api/datasources/proxy/uid/prom1/api/v1/query_range');
    expect(url.searchParams.get('query')).toBe('l3af_map_value{map="x"}');
    expect(url.searchParams.get('start')).toBe('1000');
    expect(url.searchParams.get('end')).toBe('1300');
    expect(url.searchParams.get('step')).toBe('5');
  });
  it('returns undefined when Prometheus has no series, and throws its error', async () => {
    fakeBackend(() => ({ status: 200, data: { status: 'success', data: { resultType: 'matrix', result: [] } } }));
    expect(await fetchMapSeries('p', 'x')).toBeUndefined();
    fakeBackend(() => ({ status: 200, data: { status: 'error', error: 'parse error' } }));
    await expect(fetchMapSeries('p', 'x')).rejects.toThrow('Prometheus: parse error');
  });
});

describe('sparklinePath', () => {
  it('scales the values into the box, lowest at the bottom', () => {
    expect(sparklinePath([0, 5, 10], 100, 20)).toBe('M0.0,20.0 L50.0,10.0 L100.0,0.0');
  });
  it('draws a flat series in the middle, breaks at gaps, and is empty without values', () => {
    expect(sparklinePath([3, 3], 10, 10)).toBe('M0.0,5.0 L10.0,5.0');
    expect(sparklinePath([1, NaN, 2], 10, 10)).toBe('M0.0,10.0 M10.0,0.0');
    expect(sparklinePath([], 10, 10)).toBe('');
    expect(sparklinePath([7], 10, 10)).toBe('M5.0,5.0 L5.1,5.0');
  });
});
