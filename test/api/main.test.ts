// The agent end to end: main.ts as a child process with a YAML config (pins in a private bpffs, state in a temp
// dir, the bundled package repository), the ratelimiting payload POSTed over HTTP for a veth, GET back, SIGTERM:
// the agent exits 0 and the XDP chain stays attached (the data plane outlives the agent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { filesystemOf, queryXdp } from '../../agent/src/bpf/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { normalizeL3afBpfPrograms, type NormalizedL3afBpfPrograms } from '../../agent/src/payload/index.ts';
import { PrivateBpffs, VethLab, run, skipUnless } from '../harness/index.ts';
import { ROOT, StateDir, ensurePackages, ratelimiting, ratelimitingMaps, withoutStatus, xdpBody } from '../engine/helpers.ts';
import { freePort } from '../harness/net.ts';
import { agentConfig, spawnAgent } from '../harness/agent-process.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

test('npm start equivalent: agent with a YAML config serves the API, SIGTERM exits 0 and leaves XDP attached', { skip, timeout: 240_000 }, async () => {
  ensurePackages();
  await using bpffs = await PrivateBpffs.create();
  // Unmounted again: the agent must mount a bpffs at BpfMapDefaultPath itself (as l3afd does); the harness
  // unmounts whatever is mounted there on dispose.
  await run('umount', [bpffs.path]);
  assert.notEqual(filesystemOf(bpffs.path), 'bpf');
  await using lab = await VethLab.create();
  using state = new StateDir();
  const iface = lab.rootIfname;
  const port = await freePort();
  const metricsPort = await freePort();
  const configFile = agentConfig({
    stateDir: state.path, pinRoot: bpffs.path, port, metricsPort,
    l3afd: ['swagger-api-enabled: true'],
    l3af: ['map-sample-interval: 200ms', 'l3afd-metric-names: true', 'colour-of-the-bikeshed: blue'],
  });
  const agent = spawnAgent(configFile);
  try {
    await agent.waitFor((l) => l.msg === 'REST API listening', 60_000, 'the REST API to listen');
    const base = `http://127.0.0.1:${port}/l3af/configs/v1`;
    assert.equal(filesystemOf(bpffs.path), 'bpf', 'the agent mounted a bpffs at BpfMapDefaultPath');
    const warned = agent.lines.filter((l) => l.level === 40 && String(l.msg).includes('colour-of-the-bikeshed'));
    assert.equal(warned.length, 1, 'an unknown key is one warning line');
    assert.ok(agent.lines.some((l) => l.level === 20 && /web\.n-metric-samples not set: default/.test(String(l.msg))), 'absent optional keys: notes at debug');
    assert.ok(!agent.lines.some((l) => l.level === 40 && /not set: default/.test(String(l.msg))), 'no warning flood for absent optional keys');

    // A bad request first: refused with its field path, nothing attached.
    const bad = await fetch(`${base}/add`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(xdpBody(hostName(), 'lo', [ratelimiting(1, 2, [8080])])) });
    assert.equal(bad.status, 400);
    assert.deepEqual(((await bad.json()) as { problems: { path: string }[] }).problems.map((p) => p.path), ['/0/iface']);
    assert.equal(queryXdp(iface).progId, 0, 'nothing attached by a rejected request');

    const body = xdpBody(hostName(), iface, [ratelimiting(1, 2, [8080, 8081])]);
    const res = await fetch(`${base}/add`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': `e2e-${process.pid}` }, body: JSON.stringify(body) });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.deepEqual(JSON.parse(text), { results: [{ iface, direction: 'xdp_ingress', name: 'ratelimiting', outcome: 'added' }] });
    assert.ok(agent.lines.some((l) => l.reqId === `e2e-${process.pid}`), 'the request id is in the agent log');

    const plain = await fetch(`${base}/${iface}`);
    assert.equal(plain.status, 200);
    const [expected] = withoutStatus([normalizeL3afBpfPrograms(body[0] as never)]);
    assert.deepEqual(await plain.json(), expected, 'GET returns exactly the payload in l3afd shape (no status)');
    const got = await fetch(`${base}/${iface}?status=true`);
    assert.equal(got.status, 200);
    const doc = (await got.json()) as NormalizedL3afBpfPrograms;
    assert.deepEqual(withoutStatus([doc])[0], expected, 'GET ?status=true: the same, each program with its status');
    const status = (doc.bpf_programs.xdp_ingress?.[0] as unknown as { status: { attached: boolean; kernel_prog_id: number } }).status;
    assert.equal(status.attached, true);
    assert.ok(status.kernel_prog_id > 0);
    assert.deepEqual(ratelimitingMaps(bpffs.path, iface), { rate: 2n, window: 0n, ports: [8080, 8081] }, 'map_args reached the kernel');
    const all = await fetch(base);
    assert.deepEqual(withoutStatus((await all.json()) as NormalizedL3afBpfPrograms[]), [expected]);
    assert.equal((await fetch(`http://127.0.0.1:${port}/openapi.json`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}/swagger/`)).status, 200, 'swagger-api-enabled serves the UI');

    const rootId = queryXdp(iface).progId;
    assert.ok(rootId > 0, 'the XDP root is attached');

    // observability wired in: /metrics on [web] metrics-addr, host facts, the package listing
    const labels = `program="ratelimiting",direction="xdp_ingress",interface="${iface}"`;
    let metrics = '';
    const deadline = Date.now() + 10_000;
    while (!metrics.includes('l3afd_BPFMonitorMap{') && Date.now() < deadline) {
      metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(metrics, new RegExp(`l3af_program_running\\{[^}]*${labels}[^}]*\\} 1`), 'running gauge for the added program');
    assert.match(metrics, new RegExp(`l3af_program_starts_total\\{[^}]*${labels}[^}]*\\} 1`));
    assert.match(metrics, /l3af_map_value\{[^}]*map="rl_drop_count_map"[^}]*\} 0/, 'monitor_maps scalar sampled from the kernel map');
    assert.match(metrics, /l3afd_BPFMonitorMap\{[^}]*map_name="rl_drop_count_map_0_scalar"/, "l3afd's names when l3afd-metric-names is on");
    const hostFacts = (await (await fetch(`http://127.0.0.1:${port}/l3af/host`)).json()) as { hostname: string };
    assert.equal(hostFacts.hostname, hostName());
    const pkgs = (await (await fetch(`http://127.0.0.1:${port}/l3af/packages`)).json()) as { packages: { name: string }[] };
    assert.ok(pkgs.packages.some((p) => p.name === 'ratelimiting'), 'the repository listing offers ratelimiting');

    agent.child.kill('SIGTERM');
    const exit = await agent.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${agent.stderr.join('')}`);
    assert.ok(agent.lines.some((l) => l.msg === 'stopped'), 'logged its stop');
    assert.equal(queryXdp(iface).progId, rootId, 'the data plane keeps running after the agent stopped');
  } finally {
    await agent.kill();
  }
});

test('an unusable configuration exits 2 naming each section.key; a usage error exits 2', { timeout: 60_000 }, async () => {
  using state = new StateDir();
  const cfg = join(state.path, 'bad.cfg');
  writeFileSync(cfg, [
    '[l3afd]', 'pid-file: /tmp/never.pid', 'datacenter: dc', 'bpf-dir: /tmp', 'BpfMapDefaultPath: /sys/fs/bpf',
    'bpf-chaining-enabled: perhaps', 'shutdown-timeout: 5 parsecs',
    '[ebpf-repo]', 'url: gopher://repo',
    '[l3af-config-store]', 'filename: /tmp/never.json', '',
  ].join('\n'));
  const runMain = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'agent', 'src', 'main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    c.once('exit', (code) => resolve({ code, stderr }));
  });
  const bad = await runMain(['--config', cfg]);
  assert.equal(bad.code, 2, bad.stderr);
  for (const key of ['l3afd.bpf-chaining-enabled', 'l3afd.shutdown-timeout', 'ebpf-repo.url']) assert.match(bad.stderr, new RegExp(`^  ${key.replace('.', '\\.')}: `, 'm'));
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  const missing = await runMain(['--config', join(state.path, 'absent.yaml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read/);
  const usage = await runMain(['--no-such-option']);
  assert.equal(usage.code, 2);
});
