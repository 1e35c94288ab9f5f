// l3afd.cfg dialect (robfig/config semantics on top of the `ini` package) and scalar syntaxes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IniError, parseIni } from '../../agent/src/config/ini.ts';
import { formatGoDuration, parseBool, parseGoDuration, parseHostPort, parseList } from '../../agent/src/config/values.ts';

test('both separators, comments anywhere, whitespace trimmed', () => {
  const doc = parseIni([
    '# full-line hash comment',
    '; full-line semicolon comment',
    '[web]   # comment after a header',
    'metrics-addr: localhost:8898   # trailing hash comment',
    '  ebpf-poll-interval = 30s ; trailing semicolon comment',
    'n-metric-samples=20',
    'url: file:///srv/l3afd',
  ].join('\n'));
  assert.equal(doc.get('web', 'metrics-addr'), 'localhost:8898');
  assert.equal(doc.get('web', 'ebpf-poll-interval'), '30s');
  assert.equal(doc.get('web', 'n-metric-samples'), '20');
  assert.equal(doc.get('web', 'url'), 'file:///srv/l3afd', 'only the first ":" separates key and value');
  assert.deepEqual(doc.sectionNames(), ['web']);
});

test('values come back as the exact strings (no boolean, quote, array or dotted-section magic of `ini`)', () => {
  const doc = parseIni('[a.b]\nflag: true\nnone: null\nquoted: "x y"\nlist[]: 1\nempty:\nback: ^.*\\.example\\.com$\n');
  assert.deepEqual(doc.sectionNames(), ['a.b']);
  assert.equal(doc.get('a.b', 'flag'), 'true');
  assert.equal(doc.get('a.b', 'none'), 'null');
  assert.equal(doc.get('a.b', 'quoted'), '"x y"');
  assert.equal(doc.get('a.b', 'list[]'), '1');
  assert.equal(doc.get('a.b', 'empty'), '');
  assert.equal(doc.get('a.b', 'back'), '^.*\\.example\\.com$');
});

test('a line without a separator continues the previous value', () => {
  const doc = parseIni('[s]\nrules: first\n   second\n\tthird\nnext: 1\n');
  assert.equal(doc.get('s', 'rules'), 'first\nsecond\nthird');
  assert.equal(doc.get('s', 'next'), '1');
});

test('%(name)s interpolation from the same section, then [DEFAULT], nested', () => {
  const doc = parseIni([
    '[DEFAULT]',
    'root: /var/l3afd',
    'store: %(root)s/store',
    '[l3afd]',
    'bpf-dir: %(root)s/bpf',
    'name: pkg',
    'log: %(store)s/%(name)s.log',
    '[other]',
  ].join('\n'));
  assert.equal(doc.get('l3afd', 'bpf-dir'), '/var/l3afd/bpf');
  assert.equal(doc.get('l3afd', 'log'), '/var/l3afd/store/pkg.log');
  // [DEFAULT] fallback for a section that exists, none for one that does not.
  assert.equal(doc.get('other', 'root'), '/var/l3afd');
  assert.equal(doc.get('missing', 'root'), undefined);
  assert.equal(doc.hasOwn('other', 'root'), false);
});

test('bad interpolation names the option', () => {
  const doc = parseIni('[l3afd]\nbpf-dir: %(nowhere)s/bpf\nloop: %(loop)s\n');
  assert.throws(() => doc.get('l3afd', 'bpf-dir'), (e: unknown) => e instanceof IniError && /l3afd\.bpf-dir/.test(e.message) && /nowhere/.test(e.message));
  assert.throws(() => doc.get('l3afd', 'loop'), /deeper than 10/);
});

test('duplicate sections merge (the last value of a key wins); names are case-sensitive', () => {
  const doc = parseIni('[store]\nfilename: /a\nx: 1\n[mtls]\nenabled: false\n[store]\nfilename: /b\n[mTLS]\nmin-tls-version: TLS_1_2\n');
  assert.equal(doc.get('store', 'filename'), '/b');
  assert.equal(doc.get('store', 'x'), '1');
  assert.deepEqual(doc.sectionNames(), ['store', 'mtls', 'mTLS']);
  assert.equal(doc.get('mtls', 'min-tls-version'), undefined);
  assert.equal(doc.get('mTLS', 'min-tls-version'), 'TLS_1_2');
  assert.equal(doc.get('store', 'Filename'), undefined, 'option names are exact');
});

test('options before the first header belong to [DEFAULT]', () => {
  const doc = parseIni('base: /srv\n[ebpf-repo]\nurl: file://%(base)s/l3afd\n');
  assert.equal(doc.get('ebpf-repo', 'url'), 'file:///srv/l3afd');
  assert.deepEqual(doc.sectionNames(), ['ebpf-repo']);
});

test('syntax errors carry line numbers', () => {
  assert.throws(() => parseIni('[l3afd\npid-file: x\n'), (e: unknown) => e instanceof IniError && e.problems[0]?.line === 1);
  assert.throws(() => parseIni('[]\n'), /line 1: malformed section header/);
  assert.throws(() => parseIni('# c\nstray words\n[s]\n'), /line 2: expected "key: value"/);
  assert.throws(() => parseIni('[s]\n: value\n'), /line 2: option without a name/);
});

test('Go durations', () => {
  assert.equal(parseGoDuration('30s'), 30_000);
  assert.equal(parseGoDuration('1m30s'), 90_000);
  assert.equal(parseGoDuration('500ms'), 500);
  assert.equal(parseGoDuration('1.5h'), 5_400_000);
  assert.equal(parseGoDuration('2us'), 0.002);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('-2s'), -2000);
  for (const bad of ['30', '', 's', '1d', '1 s', '30sec', '1m30', 'abc']) assert.equal(parseGoDuration(bad), undefined, bad);
  assert.equal(formatGoDuration(90_000), '1m30s');
  assert.equal(formatGoDuration(25_000), '25s');
  assert.equal(formatGoDuration(500), '500ms');
});

test('configparser booleans', () => {
  for (const t of ['t', 'true', 'TRUE', 'y', 'Yes', 'on', '1']) assert.equal(parseBool(t), true, t);
  for (const f of ['f', 'False', 'n', 'no', 'OFF', '0']) assert.equal(parseBool(f), false, f);
  for (const bad of ['', 'enabled', '2', 'truthy']) assert.equal(parseBool(bad), undefined, bad);
});

test('listen addresses and lists', () => {
  assert.deepEqual(parseHostPort('localhost:53000'), { host: 'localhost', port: 53000 });
  assert.deepEqual(parseHostPort('0.0.0.0:7080'), { host: '0.0.0.0', port: 7080 });
  assert.deepEqual(parseHostPort('[::1]:8898'), { host: '::1', port: 8898 });
  assert.deepEqual(parseHostPort(':8080'), { host: '', port: 8080 });
  for (const bad of ['localhost', 'localhost:', 'localhost:65536', 'local host:80', '::1:80', '[::1]8080', 'a_b:80', 'http://x:80']) {
    assert.equal(parseHostPort(bad), undefined, bad);
  }
  assert.deepEqual(parseList(' a.example.com, ^b.*$ ,,'), ['a.example.com', '^b.*$']);
  assert.deepEqual(parseList(''), []);
});
