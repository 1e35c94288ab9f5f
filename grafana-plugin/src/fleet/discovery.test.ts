import { agentsFromTargets, fleetOf, selectAgents, validatePatterns, type TargetsAnswer } from './discovery';

const answer: TargetsAnswer = {
  status: 'success',
  data: {
    activeTargets: [
      { labels: { job: 'l3af', instance: '10.1.0.5:8898', host: 'edge-a', dc: 'fra' }, health: 'up' },
      { labels: { job: 'l3af', instance: '10.1.0.6:8898', host: 'edge-b', dc: 'ams' }, health: 'down' },
      {
        labels: { job: 'l3af-tls', instance: 'core-1.example:8898', l3af_api_url: 'https://core-1.example:7443/' },
        health: 'up',
      },
      { labels: { job: 'l3af', instance: '[fd00::7]:8898' }, health: 'up' },
      { labels: { job: 'node', instance: '10.1.0.5:9100' }, health: 'up' },
      // the same agent scraped by a second l3af job: listed once
      { labels: { job: 'l3af-slow', instance: '10.1.0.5:8898', host: 'edge-a' }, health: 'up' },
    ],
  },
};

describe('agentsFromTargets', () => {
  it('keeps the l3af jobs, derives the API URL (label or host + API port), keeps labels and health', () => {
    const a = agentsFromTargets(answer);
    expect(a.map((x) => [x.name, x.url, x.host, x.health])).toEqual([
      ['10.1.0.5:8898', 'http://10.1.0.5:53000', 'edge-a', 'up'],
      ['10.1.0.6:8898', 'http://10.1.0.6:53000', 'edge-b', 'down'],
      ['core-1.example:8898', 'https://core-1.example:7443', 'core-1.example', 'up'],
      ['[fd00::7]:8898', 'http://[fd00::7]:53000', 'fd00::7', 'up'],
    ]);
    expect(a[0].labels.dc).toBe('fra');
    expect(a.every((x) => x.source === 'prometheus')).toBe(true);
  });
  it('job regexp, API port and scheme are options', () => {
    expect(agentsFromTargets(answer, { job: 'l3af-tls' }).map((x) => x.url)).toEqual(['https://core-1.example:7443']);
    expect(agentsFromTargets(answer, { job: 'l3af', apiPort: 7080, scheme: 'https' })[0].url).toBe(
      'https://10.1.0.5:7080'
    );
  });
  it('a failed query is an error, not an empty fleet', () => {
    expect(() => agentsFromTargets({ status: 'error' })).toThrow(/status error/);
  });
});

describe('fleetOf', () => {
  it('static agents first (always allowed), discovered ones allowed only by a pattern, no duplicates', () => {
    const f = fleetOf([{ name: 'lab', url: 'http://10.1.0.6:53000/' }], agentsFromTargets(answer), [
      'http://10.1.*.*:53000',
    ]);
    expect(f.map((a) => [a.name, a.source, a.allowed])).toEqual([
      ['lab', 'static', true],
      ['10.1.0.5:8898', 'prometheus', true],
      ['core-1.example:8898', 'prometheus', false],
      ['[fd00::7]:8898', 'prometheus', false],
    ]);
  });
  it('a * stands for one label or octet: a pattern admits neither another port, nor a path, nor a longer host name', () => {
    const d = agentsFromTargets({
      data: {
        activeTargets: [
          { labels: { job: 'l3af', instance: 'x:1', l3af_api_url: 'http://10.1.0.9:8080' } },
          { labels: { job: 'l3af', instance: 'y:1', l3af_api_url: 'http://10.1.0.9.evil.example:53000' } },
          { labels: { job: 'l3af', instance: 'z:1', l3af_api_url: 'http://10.1.0.9:53000/x' } },
        ],
      },
    });
    expect(fleetOf([], d, ['http://10.1.0.*:53000']).map((a) => a.allowed)).toEqual([false, false, false]);
    expect(fleetOf([], d, ['http://10.1.0.9.*.example:53000']).map((a) => a.allowed)).toEqual([false, true, false]);
  });
});

describe('validatePatterns', () => {
  it('names each problem', () => {
    expect(validatePatterns(['http://10.1.*.*:53000', 'https://core-*.example:7443'])).toEqual([]);
    expect(validatePatterns(['10.1.*', 'http://*:53000', 'http://a:53000/l3af'])).toEqual([
      'pattern 1: "10.1.*" is not scheme://host:port (a * stands for one label or octet of the host)',
      'pattern 2: "http://*:53000" allows every host: name the network (e.g. http://10.1.*.*:53000)',
      'pattern 3: "http://a:53000/l3af" is not scheme://host:port (a * stands for one label or octet of the host)',
    ]);
  });
});

describe('selectAgents', () => {
  const fleet = fleetOf([], agentsFromTargets(answer), ['http://10.1.*.*:53000', 'https://core-*.example:7443']);
  it('by label, host pattern, names; never a disallowed agent', () => {
    expect(selectAgents(fleet, { labels: { dc: 'fra' } }).map((a) => a.host)).toEqual(['edge-a']);
    expect(selectAgents(fleet, { host: 'edge-*' }).map((a) => a.host)).toEqual(['edge-a', 'edge-b']);
    expect(selectAgents(fleet, { names: ['core-1.example:8898', '[fd00::7]:8898'] }).map((a) => a.host)).toEqual([
      'core-1.example',
    ]);
    expect(selectAgents(fleet, { host: 'edge-*', labels: { dc: 'a*' } }).map((a) => a.host)).toEqual(['edge-b']);
    expect(selectAgents(fleet, {}).length).toBe(3);
  });
});
