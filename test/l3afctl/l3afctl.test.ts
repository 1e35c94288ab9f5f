// l3afctl against a real agent over mTLS (writer and reader certificates made with openssl): every command, with
// the exit codes scripts rely on (0 ok, 1 refused/failed programs, 2 usage/bad input, 3 unreachable, 4 TLS/403).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { queryXdp } from '../../agent/src/bpf/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, skipUnless } from '../harness/index.ts';
import { ROOT, StateDir, countAndPass, ensurePackages, xdpBody } from '../engine/helpers.ts';
import { TestPki, agentConfig, freePort, listening, spawnAgent } from '../security/agent.ts';

const skip = await skipUnless('root', 'bpffs', 'netns', 'veth');

interface Run { code: number | null; stdout: string; stderr: string }

function ctl(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'agent', 'src', 'cli', 'l3afctl.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    c.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('l3afctl: every command against a running agent over mTLS, with exit codes', { skip, timeout: 240_000 }, async () => {
  ensurePackages();
  await using bpffs = await PrivateBpffs.create();
  await using lab = await VethLab.create();
  using state = new StateDir();
  const iface = lab.rootIfname;
  const pki = new TestPki(join(state.path, 'pki'));
  pki.ca('ca');
  pki.ca('other');
  pki.leaf('server', 'ca', ['DNS:localhost', 'IP:127.0.0.1'], 'serverAuth', 90);
  pki.leaf('writer', 'ca', ['DNS:writer.l3af.test'], 'clientAuth');
  pki.leaf('reader', 'ca', ['DNS:reader.l3af.test'], 'clientAuth');
  pki.leaf('foreign', 'other', ['DNS:writer.l3af.test'], 'clientAuth');
  const port = await freePort();
  const agent = spawnAgent(agentConfig({
    stateDir: state.path, pinRoot: bpffs.path, port,
    mtls: ['mtls:', '  enabled: true', `  cert-dir: ${pki.dir}`, '  server-cert-filename: server.crt', '  san-match-rules: writer.l3af.test'],
    l3af: ['  mtls-reader-san-match-rules: reader.l3af.test'],
  }));
  // a metrics endpoint stand-in (the agent's metrics server is wired elsewhere): Prometheus text
  const metricsText = ['# HELP l3afd_nf_running eBPF program running', '# TYPE l3afd_nf_running gauge',
    `l3afd_nf_running{iface="${iface}",name="count-and-pass"} 1`, `l3afd_nf_running{iface="${iface}",name="ratelimiting"} 0`,
    '# TYPE l3afd_nf_start_count counter', 'l3afd_nf_start_count{name="count-and-pass"} 3', '# TYPE process_cpu_seconds_total counter', 'process_cpu_seconds_total 0.5', ''].join('\n');
  const metricsSrv = createServer((req, res) => {
    if (req.url === '/metrics') res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metricsText);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => metricsSrv.listen(0, '127.0.0.1', r));
  const mport = (metricsSrv.address() as { port: number }).port;
  try {
    await listening(agent);
    const tls = (who: string) => ['--agent', `https://127.0.0.1:${port}`, '--ca', pki.path('ca.pem'), '--cert', pki.path(`${who}.crt`), '--key', pki.path(`${who}.key`)];
    const W = tls('writer');
    const R = tls('reader');

    const empty = await ctl([...W, 'status']);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout.trim(), 'no programs');

    const payload = join(state.path, 'add.json');
    writeFileSync(payload, JSON.stringify(xdpBody(hostName(), iface, [countAndPass('count-and-pass', 1)])));
    const add = await ctl([...W, 'add', payload]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, new RegExp(`^${iface}\\s+xdp_ingress\\s+count-and-pass\\s+added`, 'm'));

    const get = await ctl([...R, 'get', iface]);
    assert.equal(get.code, 0, get.stderr);
    const doc = JSON.parse(get.stdout) as { bpf_programs: { xdp_ingress: { name: string; status: { kernel_prog_id: number } }[] } };
    const progId = doc.bpf_programs.xdp_ingress[0]?.status.kernel_prog_id ?? 0;
    assert.ok(progId > 0);
    assert.ok(queryXdp(iface).progId > 0);

    const status = await ctl([...R, 'status']);
    assert.equal(status.code, 0, status.stderr);
    const lines = status.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^INTERFACE\s+DIRECTION\s+SEQ\s+PROGRAM\s+VERSION\s+STATUS\s+KERNEL ID\s+RESTARTS$/);
    assert.match(lines[1] ?? '', new RegExp(`^${iface}\\s+xdp_ingress\\s+1\\s+count-and-pass\\s+latest\\s+attached\\s+${progId}\\s+0$`));
    const sj = await ctl([...R, '--json', 'status']);
    assert.deepEqual(JSON.parse(sj.stdout), [{ iface, direction: 'xdp_ingress', seq: '1', program: 'count-and-pass', version: 'latest', status: 'attached', kernelId: String(progId), restarts: '0' }]);

    // a program whose package does not exist: processed, failed → 1
    const bad = join(state.path, 'bad.json');
    writeFileSync(bad, JSON.stringify(xdpBody(hostName(), iface, [countAndPass('count-and-pass', 1), countAndPass('no-such-package', 2)])));
    const upd = await ctl([...W, 'update', bad]);
    assert.equal(upd.code, 1, upd.stdout + upd.stderr);
    assert.match(upd.stdout, /no-such-package\s+failed/);
    assert.match(upd.stderr, /some programs failed/);
    // an invalid payload: the agent refuses it → 1, with the field path
    writeFileSync(bad, JSON.stringify([{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: [{ name: 'x' }] } }]));
    const inval = await ctl([...W, 'add', bad]);
    assert.equal(inval.code, 1);
    assert.match(inval.stderr, /answered 400: invalid request\n\s+\/0\/bpf_programs\/xdp_ingress\/0/);
    // bad input files and usage → 2
    writeFileSync(bad, '{ not json');
    const notJson = await ctl([...W, 'add', bad]);
    assert.equal(notJson.code, 2);
    assert.match(notJson.stderr, /not JSON/);
    assert.equal((await ctl([...W, 'add', join(state.path, 'absent.json')])).code, 2);
    assert.equal((await ctl([...W, 'delete', '--iface', iface])).code, 2);
    assert.equal((await ctl([...W, 'frobnicate'])).code, 2);
    assert.equal((await ctl(['--agent', 'not a url', 'status'])).code, 2);

    // permission and TLS → 4
    const readerAdd = await ctl([...R, 'add', payload]);
    assert.equal(readerAdd.code, 4);
    assert.match(readerAdd.stderr, /answered 403: forbidden\n.*read-only/);
    const noCert = await ctl(['--agent', `https://127.0.0.1:${port}`, '--ca', pki.path('ca.pem'), 'status']);
    assert.equal(noCert.code, 4);
    assert.match(noCert.stderr, /TLS with 127\.0\.0\.1:\d+ failed: .*pass --cert and --key/);
    const foreign = await ctl(['--agent', `https://127.0.0.1:${port}`, '--ca', pki.path('ca.pem'), '--cert', pki.path('foreign.crt'), '--key', pki.path('foreign.key'), 'status']);
    assert.equal(foreign.code, 4, foreign.stderr);
    const untrusted = await ctl(['--agent', `https://127.0.0.1:${port}`, '--ca', pki.path('other.pem'), '--cert', pki.path('writer.crt'), '--key', pki.path('writer.key'), 'status']);
    assert.equal(untrusted.code, 4);
    assert.match(untrusted.stderr, /not trusted: pass --ca/);

    // events: this agent has no stream yet → 1 with a clear line
    const ev = await ctl([...R, 'events', '--max', '1']);
    assert.equal(ev.code, 1);
    assert.match(ev.stderr, /this agent has no event stream/);

    // metrics summary
    const m = await ctl(['--metrics', `http://127.0.0.1:${mport}/metrics`, 'metrics']);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /3 metric families, 4 samples \(2 l3af families\)/);
    assert.match(m.stdout, /^l3afd_nf_running\s+gauge\s+2\s+1$/m);
    assert.match(m.stdout, /^l3afd_nf_start_count\s+counter\s+1\s+3$/m);

    // packages: the agent has no listing → read the repository of a config, or a --repo, directly
    const noList = await ctl([...R, 'packages']);
    assert.equal(noList.code, 2);
    assert.match(noList.stderr, /no package listing .*--repo/);
    const pk = await ctl(['packages', '--repo', pathToFileURL(join(ROOT, 'programs', 'repo')).href]);
    assert.equal(pk.code, 0, pk.stderr);
    assert.match(pk.stdout, /^count-and-pass\s+latest\s+\S+\s+l3af_count_and_pass\.tar\.gz\s+\d+\s+yes$/m);
    const pkj = JSON.parse((await ctl(['--json', 'packages', '--config', join(state.path, 'agent.yaml')])).stdout) as { name: string }[];
    assert.deepEqual([...new Set(pkj.map((p) => p.name))].sort(), ['count-and-pass', 'ratelimiting', 'tc-root', 'xdp-root']);

    // delete by flags → 0, then the table is empty
    const del = await ctl([...W, 'delete', '--iface', iface, '--direction', 'xdp_ingress', '--name', 'count-and-pass']);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /count-and-pass\s+removed/);
    assert.equal((await ctl([...R, 'status'])).stdout.trim(), 'no programs');

    // unreachable → 3 (agent stopped; metrics endpoint closed)
    agent.child.kill('SIGTERM');
    assert.equal((await agent.exited).code, 0);
    const gone = await ctl([...W, 'status']);
    assert.equal(gone.code, 3);
    assert.match(gone.stderr, /cannot reach https:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    await new Promise<void>((r) => metricsSrv.close(() => r()));
    assert.equal((await ctl(['--metrics', `http://127.0.0.1:${mport}/metrics`, 'metrics'])).code, 3);
  } finally {
    metricsSrv.close();
    await agent.kill();
  }
});
