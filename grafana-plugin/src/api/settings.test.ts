import pluginJson from '../plugin.json';
import { MAX_AGENTS, agentBaseUrl, agentsOf, toJsonData, validateAgents } from './settings';

describe('settings', () => {
  it('plugin.json has a GET (Viewer) and a POST (Editor) route per agent slot, each to {{ .JsonData.agentNUrl }}', () => {
    for (let i = 0; i < MAX_AGENTS; i++) {
      const routes = pluginJson.routes.filter((r) => r.path === `agent${i}`);
      expect(routes.map((r) => [r.method, r.reqRole, r.url])).toEqual([
        ['GET', 'Viewer', `{{ .JsonData.agent${i}Url }}`],
        ['POST', 'Editor', `{{ .JsonData.agent${i}Url }}`],
      ]);
    }
    expect(pluginJson.routes).toHaveLength(2 * MAX_AGENTS);
  });

  it('a route whose path is a prefix of another comes after it (agent1 never catches agent10/...)', () => {
    const paths = pluginJson.routes.map((r) => r.path);
    const wrong = paths.flatMap((p, i) =>
      paths
        .slice(0, i)
        .filter((earlier) => p !== earlier && p.startsWith(earlier))
        .map((earlier) => `${earlier} before ${p}`)
    );
    expect(wrong).toEqual([]);
  });

  it('toJsonData writes one slot URL per agent and clears the others', () => {
    const j = toJsonData(
      [
        { name: 'a', url: 'http://a:53000/' },
        { name: 'b', url: 'https://b:53000', datasourceUid: 'ds-b' },
      ],
      { agent5Url: 'http://stale', prometheusUid: 'p' }
    );
    expect(j.agent0Url).toBe('http://a:53000');
    expect(j.agent1Url).toBeUndefined();
    expect(j.agent5Url).toBeUndefined();
    expect(j.prometheusUid).toBe('p');
    expect(agentsOf(j).map((a) => [a.name, a.slot, agentBaseUrl(a)])).toEqual([
      ['a', 0, 'api/plugin-proxy/l3af-chains-app/agent0'],
      ['b', -1, 'api/datasources/proxy/uid/ds-b'],
    ]);
    // data source agents take no slot: the next plain agent gets slot 1
    const k = toJsonData([
      { name: 'a', url: 'http://a:1' },
      { name: 'b', url: 'https://b:2', datasourceUid: 'ds-b' },
      { name: 'c', url: 'http://c:3' },
    ]);
    expect(agentsOf(k).map((a) => [a.name, a.slot])).toEqual([
      ['a', 0],
      ['b', -1],
      ['c', 1],
    ]);
    expect([k.agent0Url, k.agent1Url, k.agent2Url]).toEqual(['http://a:1', 'http://c:3', undefined]);
  });

  it('validateAgents names each problem', () => {
    expect(validateAgents([{ name: 'a', url: 'http://10.0.0.1:53000' }])).toEqual([]);
    expect(
      validateAgents([
        { name: '', url: 'http://x' },
        { name: 'a', url: 'nope' },
        { name: 'a', url: 'ftp://x' },
        { name: 'c', url: 'http://x/l3af' },
      ])
    ).toEqual([
      'agent 1: name is required',
      'agent 2: URL "nope" is not a URL (e.g. http://10.0.0.5:53000)',
      'agent 3: name "a" is used twice',
      'agent 3: URL must start with http:// or https://',
      'agent 4: URL must not have a path (the plugin appends /l3af/...)',
    ]);
    expect(
      validateAgents(Array.from({ length: MAX_AGENTS + 1 }, (_, i) => ({ name: `n${i}`, url: 'http://x' })))[0]
    ).toBe(
      `at most ${MAX_AGENTS} agents without a data source (got ${MAX_AGENTS + 1}); reach the others through data sources`
    );
    expect(
      validateAgents(
        Array.from({ length: MAX_AGENTS + 1 }, (_, i) => ({ name: `n${i}`, url: 'http://x', datasourceUid: `d${i}` }))
      )
    ).toEqual([]);
  });
});
