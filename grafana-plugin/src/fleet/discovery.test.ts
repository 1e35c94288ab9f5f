import {
  adopt,
  agentsFromTargets,
  fleetOf,
  parseSelector,
  parseStaticList,
  selectAgents,
  validatePatterns,
  type TargetsAnswer,
} from './discovery';

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
      'pattern 1: "10.1.*" is not scheme://host:port (a * stands for one label or octet of the host, or for the port)',
      'pattern 2: "http://*:53000" allows every host: name the network (e.g. http://10.1.*.*:53000)',
      'pattern 3: "http://a:53000/l3af" is not scheme://host:port (a * stands for one label or octet of the host, or for the port)',
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

describe('allow patterns with a port wildcard', () => {
  it('admit any port of a named host, never another host', () => {
    expect(validatePatterns(['http://127.0.0.1:*'])).toEqual([]);
    expect(validatePatterns(['http://*:*'])).toHaveLength(1);
    const f = fleetOf(
      [],
      [
        { name: 'a', url: 'http://127.0.0.1:41234', host: 'h', labels: {}, source: 'prometheus' },
        { name: 'b', url: 'http://127.0.0.2:41234', host: 'h', labels: {}, source: 'prometheus' },
        { name: 'c', url: 'http://127.0.0.1:4/x', host: 'h', labels: {}, source: 'prometheus' },
      ],
      ['http://127.0.0.1:*']
    );
    expect(f.map((a) => a.allowed)).toEqual([true, false, false]);
  });
});

describe('parseSelector and selectAgents over configured agents', () => {
  const configured = [
    { name: 'lab-00', url: 'http://127.0.0.1:1000', host: 'edge-a', labels: { fleet: 'lab', rack: 'r1' } },
    { name: 'lab-01', url: 'http://127.0.0.1:1001', host: 'edge-b', labels: { fleet: 'lab', rack: 'r2' } },
    { name: 'typed', url: 'http://10.0.0.9:53000' },
  ];
  it('name pattern, host pattern (the URL host when none is known) and labels', () => {
    const pick = (n: string, h: string, l: string) =>
      selectAgents(configured, parseSelector(n, h, l)).map((a) => a.name);
    expect(pick('*', '', '')).toEqual(['lab-00', 'lab-01', 'typed']);
    expect(pick('lab-*', '', '')).toEqual(['lab-00', 'lab-01']);
    expect(pick('', 'edge-b', '')).toEqual(['lab-01']);
    expect(pick('', '10.0.0.*', '')).toEqual(['typed']);
    expect(pick('', '', 'fleet=lab, rack=r*')).toEqual(['lab-00', 'lab-01']);
    expect(pick('', '', 'rack = r2')).toEqual(['lab-01']);
  });
  it('refuses a label that is not key=value', () => {
    expect(() => parseSelector('', '', 'fleet')).toThrow('label "fleet" is not key=value');
  });
});

describe('parseStaticList', () => {
  it('name url or url a line, comments and blanks skipped', () => {
    expect(parseStaticList('edge-a http://10.0.0.1:53000/\n# old\n\n  http://10.0.0.2:53000 ')).toEqual([
      { name: 'edge-a', url: 'http://10.0.0.1:53000' },
      { name: '10.0.0.2:53000', url: 'http://10.0.0.2:53000' },
    ]);
  });
  it('names the bad line', () => {
    expect(() => parseStaticList('a http://x:1\nb nope')).toThrow('line 2: "nope" is not a URL');
    expect(() => parseStaticList('a ftp://x:1')).toThrow(/line 1: write/);
  });
});

describe('adopt', () => {
  const fleet = fleetOf([{ name: 'typed', url: 'http://10.9.0.1:53000' }], agentsFromTargets(answer), [
    'http://10.1.*.*:53000',
  ]);
  it('appends the chosen allowed agents with host and labels, keeps the listed ones, renames a clash', () => {
    const existing = [{ name: '10.1.0.6:8898', url: 'http://10.2.0.1:53000' }];
    const out = adopt(
      existing,
      fleet.filter((a) => a.allowed)
    );
    expect(out).toEqual([
      { name: '10.1.0.6:8898', url: 'http://10.2.0.1:53000' },
      { name: 'typed', url: 'http://10.9.0.1:53000', host: '10.9.0.1' },
      {
        name: '10.1.0.5:8898',
        url: 'http://10.1.0.5:53000',
        host: 'edge-a',
        labels: { job: 'l3af', instance: '10.1.0.5:8898', host: 'edge-a', dc: 'fra' },
      },
      {
        name: '10.1.0.6:53000',
        url: 'http://10.1.0.6:53000',
        host: 'edge-b',
        labels: { job: 'l3af', instance: '10.1.0.6:8898', host: 'edge-b', dc: 'ams' },
      },
    ]);
    // adopting again changes nothing
    expect(
      adopt(
        out,
        fleet.filter((a) => a.allowed)
      )
    ).toEqual(out);
  });
  it('refuses an agent the allow list does not admit', () => {
    expect(() => adopt([], fleet)).toThrow(
      'not admitted by the allow list: https://core-1.example:7443, http://[fd00::7]:53000'
    );
  });
});
