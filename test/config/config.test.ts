// Agent configuration: l3afd's shipped cfg (re-created), its YAML twin, code defaults, legacy
// sections, malformed values naming the key, unknown keys as warnings, the embedded default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, configFromObject, defaultConfig, loadConfigFile, parseConfig, projectRoot, type AgentConfig } from '../../agent/src/config/index.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const cfgPath = join(here, 'testdata', 'l3afd.cfg');
const yamlPath = join(here, 'testdata', 'l3afd.yaml');

/** What the shipped sample means, per the reference's option tables. */
const shipped: AgentConfig = {
  l3afd: {
    pidFile: '/var/run/l3afd.pid', datacenter: 'dummy', bpfDir: '/dev/shm', bpfLogDir: '', kernelMajorVersion: 5,
    kernelMinorVersion: 15, shutdownTimeoutMs: 25_000, httpClientTimeoutMs: 10_000, maxEbpfRestartCount: 3,
    bpfChainingEnabled: true, swaggerApiEnabled: true, environment: 'DEV', bpfMapDefaultPath: '/sys/fs/bpf',
    fileLogLocation: '', fileLogMaxSize: 100, fileLogMaxBackups: 10, fileLogMaxAge: 60, jsonFormatLogs: false,
  },
  ebpfRepo: { url: 'file:///srv/l3afd' },
  web: { metricsAddr: 'localhost:8898', ebpfPollIntervalMs: 30_000, nMetricSamples: 20 },
  xdpRoot: {
    packageName: 'xdp-root', artifact: 'l3af_xdp_root.tar.gz', ingressMapName: 'xdp_root_array', command: 'xdp_root',
    version: 'latest', objectFile: 'xdp_root.bpf.o', entryFunctionName: 'xdp_root',
  },
  tcRoot: {
    packageName: 'tc-root', artifact: 'l3af_tc_root.tar.gz', ingressMapName: 'tc_ingress_root_array',
    egressMapName: 'tc_egress_root_array', command: 'tc_root', version: 'latest',
    ingressObjectFile: 'tc_root_ingress.bpf.o', egressObjectFile: 'tc_root_egress.bpf.o',
    ingressEntryFunctionName: 'tc_ingress_root', egressEntryFunctionName: 'tc_egress_root',
  },
  ebpfChainDebug: { addr: 'localhost:8899', enabled: true },
  l3afConfigs: { restapiAddr: 'localhost:7080' },
  l3afConfigStore: { filename: '/var/l3afd/l3af-config.json' },
  mtls: {
    enabled: false, minTlsVersion: '1.3', certDir: '/etc/l3afd/certs', cacertFilename: 'ca.pem',
    serverCertFilename: 'server.crt', serverKeyFilename: 'server.key', certExpiryWarningDays: 30, sanMatchRules: [],
  },
  gracefulRestart: { restartArtifactsUrl: 'file:///srv/l3afd', timeToRestartS: 7, basepath: '/usr/local/l3afd', versionLimit: 100 },
  l3af: {
    stateDir: '/var/lib/l3af', platform: '', kernelStatsEnabled: false, logLevel: 'info', logFormat: 'auto', packageCacheDir: '/dev/shm',
    checksumRequiredHttp: false, checksumRequiredFile: false, downloadConnectTimeoutMs: 10_000, downloadTimeoutMs: 600_000,
    artifactMaxBytes: 512 * 1024 * 1024, artifactMaxEntries: 10_000, bodyLimit: 1024 * 1024, unloadOnStop: false,
    mtlsReaderSanMatchRules: [], l3afdMetricNames: true, mapSampleIntervalMs: 1000, metricsTls: 'off', tcAttach: 'auto', chainCounting: [],
  },
};

test('l3afd shipped cfg (re-created) parses to the expected values', async () => {
  const { config, warnings, notes } = await loadConfigFile(cfgPath);
  assert.deepEqual(config, shipped);
  // The sample spells the cert option as the docs do; l3afd's code never reads it: one warning.
  assert.deepEqual(warnings, ['unknown key mtls.server-crt-filename ignored']);
  // Absent optional keys are notes, not warnings.
  assert.ok(notes.includes('l3afd.file-log-location not set: default ""'), notes.join('\n'));
  assert.ok(notes.includes('l3af.state-dir not set: default "/var/lib/l3af"'));
  assert.ok(!notes.some((n) => n.startsWith('l3afd.pid-file')));
});

test('the YAML twin gives an identical configuration (but l3afd metric names, on by default only for an l3afd.cfg)', async () => {
  const ini = await loadConfigFile(cfgPath);
  const yaml = await loadConfigFile(yamlPath);
  assert.equal(yaml.config.l3af.l3afdMetricNames, false);
  assert.equal(yaml.config.l3afd.jsonFormatLogs, true, 'JSON lines unless an l3afd.cfg leaves json-format-logs out');
  assert.deepEqual(yaml.config, { ...ini.config, l3afd: { ...ini.config.l3afd, jsonFormatLogs: true }, l3af: { ...ini.config.l3af, l3afdMetricNames: false } });
  assert.deepEqual(yaml.warnings, ini.warnings);
});

const minimal = [
  '[l3afd]', 'pid-file: /run/l3afd.pid', 'datacenter: dc1', 'bpf-dir: /var/l3afd/bpf', 'bpf-chaining-enabled: yes',
  'BpfMapDefaultPath: /sys/fs/bpf', '[ebpf-repo]', 'url: https://repo.example.com/pkgs', '[l3af-config-store]', 'filename:',
].join('\n');

test('a minimal cfg takes config.go defaults for everything optional', () => {
  const { config, warnings } = parseConfig(minimal, 'ini');
  assert.deepEqual(warnings, []);
  assert.equal(config.l3afd.bpfChainingEnabled, true);
  assert.equal(config.l3afConfigStore.filename, '', 'empty store filename = no persistence (allowed)');
  assert.equal(config.l3afConfigs.restapiAddr, 'localhost:53000');
  assert.equal(config.web.metricsAddr, 'localhost:8898');
  assert.equal(config.ebpfChainDebug.addr, 'localhost:8899');
  assert.equal(config.ebpfChainDebug.enabled, false);
  assert.equal(config.l3afd.shutdownTimeoutMs, 25_000);
  assert.equal(config.l3afd.httpClientTimeoutMs, 30_000);
  assert.equal(config.l3afd.kernelMinorVersion, 15);
  assert.equal(config.l3afd.environment, 'PROD');
  assert.equal(config.l3afd.swaggerApiEnabled, false);
  assert.equal(config.mtls.enabled, true, 'l3afd code default');
  assert.equal(config.mtls.minTlsVersion, '1.3');
  assert.equal(config.mtls.serverCertFilename, 'server.crt');
  assert.equal(config.gracefulRestart.versionLimit, 100);
  assert.equal(config.l3af.packageCacheDir, '/var/l3afd/bpf', 'package cache follows bpf-dir');
  assert.equal(config.l3af.l3afdMetricNames, true, "an l3afd.cfg turns l3afd's metric names on");
  assert.equal(parseConfig(`${minimal}\n[l3af]\nl3afd-metric-names: false`, 'ini').config.l3af.l3afdMetricNames, false, 'unless it says otherwise');
  assert.equal(defaultConfig().l3af.l3afdMetricNames, false, 'the embedded default keeps only l3af names');
});

test('legacy sections: [kf-repo], [xdp-root-program] / [tc-root-program] win, [mTLS] spelling', () => {
  const text = minimal.replace('[ebpf-repo]\nurl: https://repo.example.com/pkgs', '[kf-repo]\nurl: file:///srv/kf') + [
    '', '[xdp-root]', 'package-name: new-root', 'object-file: root.o',
    '[xdp-root-program]', 'name: old-root', 'artifact: old.tar.gz', 'ingress-map-name: old_map', 'version: 1.0',
    '[tc-root-program]', 'name: old-tc', 'egress-map-name: old_egress',
    '[mTLS]', 'min-tls-version: TLS_1.2', 'san-match-rules: a.example.com, ^b[0-9]+\\.example\\.com$',
  ].join('\n');
  const { config, warnings } = parseConfig(text, 'ini');
  assert.equal(config.ebpfRepo.url, 'file:///srv/kf');
  assert.equal(config.xdpRoot.packageName, 'old-root');
  assert.equal(config.xdpRoot.artifact, 'old.tar.gz');
  assert.equal(config.xdpRoot.ingressMapName, 'old_map');
  assert.equal(config.xdpRoot.version, '1.0');
  assert.equal(config.xdpRoot.objectFile, 'root.o', 'keys the legacy section lacks come from [xdp-root]');
  assert.equal(config.xdpRoot.command, 'xdp_root');
  assert.equal(config.tcRoot.packageName, 'old-tc');
  assert.equal(config.tcRoot.egressMapName, 'old_egress');
  assert.equal(config.tcRoot.ingressMapName, 'tc_ingress_root_array');
  assert.equal(config.mtls.minTlsVersion, '1.2');
  assert.deepEqual(config.mtls.sanMatchRules, ['a.example.com', '^b[0-9]+\\.example\\.com$']);
  assert.equal(warnings.filter((w) => w.includes('legacy name')).length, 2);
});

test('DEFAULT fallback and interpolation reach the typed config', () => {
  const text = `[DEFAULT]\nbase: /srv/l3af\n${minimal.replace('bpf-dir: /var/l3afd/bpf', 'bpf-dir: %(base)s/bpf')}\n[graceful-restart]\nbasepath: %(base)s/builds\n`;
  const { config, warnings } = parseConfig(text, 'ini');
  assert.equal(config.l3afd.bpfDir, '/srv/l3af/bpf');
  assert.equal(config.gracefulRestart.basepath, '/srv/l3af/builds');
  assert.deepEqual(warnings, [], 'DEFAULT options are not unknown keys');
});

test('unknown sections and keys: one warning each, nothing else changes', () => {
  const { warnings } = parseConfig(`${minimal}\nbpf-dri: /typo\n[web]\nmetrics-adr: x\n[surprise]\na: 1\n`, 'ini');
  assert.deepEqual(warnings.sort(), [
    'unknown key l3af-config-store.bpf-dri ignored', 'unknown key web.metrics-adr ignored', 'unknown section [surprise] ignored',
  ]);
});

/** Each malformed case must fail and name `section.key` (and the value where there is one). */
const malformed: { title: string; text: string; key: string; value?: string; message: RegExp }[] = [
  { title: 'bad boolean', text: minimal.replace('bpf-chaining-enabled: yes', 'bpf-chaining-enabled: maybe'), key: 'l3afd.bpf-chaining-enabled', value: 'maybe', message: /boolean/ },
  { title: 'bad duration (no unit)', text: `${minimal}\n[web]\nebpf-poll-interval: 30`, key: 'web.ebpf-poll-interval', value: '30', message: /Go duration/ },
  { title: 'bad duration (unknown unit)', text: minimal.replace('[l3afd]', '[l3afd]\nshutdown-timeout: 1d'), key: 'l3afd.shutdown-timeout', value: '1d', message: /Go duration/ },
  { title: 'negative duration', text: minimal.replace('[l3afd]', '[l3afd]\nhttp-client-timeout: -5s'), key: 'l3afd.http-client-timeout', value: '-5s', message: /negative/ },
  { title: 'zero poll interval', text: `${minimal}\n[web]\nebpf-poll-interval: 0s`, key: 'web.ebpf-poll-interval', value: '0s', message: />= 1/ },
  { title: 'bad address (no port)', text: `${minimal}\n[l3af-configs]\nrestapi-addr: localhost`, key: 'l3af-configs.restapi-addr', value: 'localhost', message: /host:port/ },
  { title: 'bad address (port range)', text: `${minimal}\n[web]\nmetrics-addr: 127.0.0.1:70000`, key: 'web.metrics-addr', value: '127.0.0.1:70000', message: /0-65535/ },
  { title: 'bad URL scheme', text: minimal.replace('https://repo.example.com/pkgs', 'ftp://repo.example.com/pkgs'), key: 'ebpf-repo.url', value: 'ftp://repo.example.com/pkgs', message: /scheme "ftp"/ },
  { title: 'not a URL', text: minimal.replace('https://repo.example.com/pkgs', '/srv/l3afd'), key: 'ebpf-repo.url', value: '/srv/l3afd', message: /must be a URL/ },
  { title: 'bad restart URL scheme', text: `${minimal}\n[graceful-restart]\nrestart-artifacts-url: s3://bucket`, key: 'graceful-restart.restart-artifacts-url', value: 's3://bucket', message: /scheme/ },
  { title: 'missing required key', text: minimal.replace('pid-file: /run/l3afd.pid\n', ''), key: 'l3afd.pid-file', message: /required key is missing/ },
  { title: 'missing required section', text: minimal.replace('[ebpf-repo]\nurl: https://repo.example.com/pkgs\n', ''), key: 'ebpf-repo.url', message: /no \[ebpf-repo\] section/ },
  { title: 'missing store filename key', text: minimal.replace('\nfilename:', ''), key: 'l3af-config-store.filename', message: /required/ },
  { title: 'bad integer', text: minimal.replace('[l3afd]', '[l3afd]\nmax-ebpf-restart-count: three'), key: 'l3afd.max-ebpf-restart-count', value: 'three', message: /integer/ },
  { title: 'integer below minimum', text: `${minimal}\n[web]\nn-metric-samples: 0`, key: 'web.n-metric-samples', value: '0', message: />= 1/ },
  { title: 'bad TLS version', text: `${minimal}\n[mtls]\nmin-tls-version: TLS_1_1`, key: 'mtls.min-tls-version', value: 'TLS_1_1', message: /TLS_1\.2 or TLS_1\.3/ },
  { title: 'bad log level', text: `${minimal}\n[l3af]\nlog-level: loud`, key: 'l3af.log-level', value: 'loud', message: /one of: trace/ },
  { title: 'bad interpolation', text: minimal.replace('bpf-dir: /var/l3afd/bpf', 'bpf-dir: %(nope)s/bpf'), key: 'l3afd.bpf-dir', message: /nope/ },
  { title: 'syntax error', text: `${minimal}\n[web\n`, key: 'line 11', message: /malformed section header/ },
];

test(`${malformed.length} malformed configurations stop with a message naming the key`, async (t) => {
  for (const c of malformed) {
    await t.test(c.title, () => {
      assert.throws(() => parseConfig(c.text, 'ini', 'test.cfg'), (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        const p = e.problems.find((x) => x.key === c.key);
        assert.ok(p, `no problem for ${c.key} in: ${e.message}`);
        assert.match(p.message, c.message);
        if (c.value !== undefined) assert.equal(p.value, c.value);
        assert.ok(e.message.includes(c.key) && e.message.includes('test.cfg'));
        return true;
      });
    });
  }
});

test('YAML: native booleans/numbers, lists, and malformed values named the same way', () => {
  const yaml = [
    'l3afd: {pid-file: /run/p, datacenter: 1, bpf-dir: /b, bpf-chaining-enabled: false, BpfMapDefaultPath: /sys/fs/bpf}',
    'ebpf-repo: {url: "http://127.0.0.1:8000/repo"}',
    'l3af-config-store: {filename: /s.json}',
    'mtls: {san-match-rules: [a.example.com, "^b$"]}',
    'web: {n-metric-samples: 5, ebpf-poll-interval: 1m30s}',
  ].join('\n');
  const { config } = parseConfig(yaml, 'yaml');
  assert.equal(config.l3afd.bpfChainingEnabled, false);
  assert.equal(config.l3afd.datacenter, '1');
  assert.deepEqual(config.mtls.sanMatchRules, ['a.example.com', '^b$']);
  assert.equal(config.web.ebpfPollIntervalMs, 90_000);
  assert.throws(() => parseConfig(yaml.replace('n-metric-samples: 5', 'n-metric-samples: 2.5'), 'yaml'), /web\.n-metric-samples: must be an integer/);
  assert.throws(() => parseConfig(yaml.replace('bpf-chaining-enabled: false', 'bpf-chaining-enabled: [x]'), 'yaml'), /l3afd\.bpf-chaining-enabled: must be a boolean/);
  assert.throws(() => parseConfig(`${yaml}\nl3af: 7`, 'yaml'), /l3af: must be a mapping/);
  assert.throws(() => parseConfig('- a\n- b', 'yaml'), /must be a mapping of section names/);
  assert.throws(() => parseConfig('l3afd: {a: [unclosed', 'yaml'), ConfigError);
});

test('loadConfigFile: unreadable file is a ConfigError naming the path', async () => {
  await assert.rejects(loadConfigFile('/nonexistent/l3afd.cfg'), /nonexistent\/l3afd\.cfg[\s\S]*cannot read/);
});

test('defaultConfig: local repository, state under <project>/.state, localhost listeners, chaining on', () => {
  const root = projectRoot();
  assert.ok(existsSync(join(root, 'package.json')) && existsSync(join(root, 'agent')), root);
  const c = defaultConfig();
  assert.equal(c.l3afConfigs.restapiAddr, 'localhost:53000');
  assert.equal(c.web.metricsAddr, 'localhost:8898');
  assert.equal(c.ebpfRepo.url, new URL(`file://${join(root, 'programs', 'repo')}`).href);
  assert.equal(c.l3af.stateDir, join(root, '.state'));
  assert.equal(c.l3afConfigStore.filename, join(root, '.state', 'l3af-config.json'));
  assert.equal(c.l3afd.bpfMapDefaultPath, join(root, '.state', 'bpffs'));
  assert.equal(c.l3af.packageCacheDir, c.l3afd.bpfDir);
  assert.ok(c.l3afd.bpfDir.startsWith(join(root, '.state')));
  assert.equal(c.l3afd.bpfChainingEnabled, true);
  assert.equal(c.mtls.enabled, false);
  const dir = mkdtempSync(join(tmpdir(), `l3af-cfg-${process.pid}-`));
  try {
    const custom = defaultConfig({ stateDir: dir, repoUrl: 'http://127.0.0.1:9/repo' });
    assert.equal(custom.l3afd.pidFile, join(dir, 'l3afd.pid'));
    assert.equal(custom.ebpfRepo.url, 'http://127.0.0.1:9/repo');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => defaultConfig({ repoUrl: 'gopher://x' }), /ebpf-repo\.url/);
  assert.equal(configFromObject({ l3afd: { 'pid-file': '/p', datacenter: 'd', 'bpf-dir': '/b', 'bpf-chaining-enabled': 'on', BpfMapDefaultPath: '/f' }, 'ebpf-repo': { url: 'file:///r' }, 'l3af-config-store': { filename: '' } }).config.l3afd.bpfChainingEnabled, true);
});
