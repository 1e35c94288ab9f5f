// mTLS on a running agent (main.ts as a child with a YAML config; certificates made with openssl in the test):
// the TLS matrix (no client cert, other CA, SAN mismatch, TLS 1.1, TLS 1.2 against a 1.3 minimum, writer, reader),
// the expiry warning for a server certificate inside the warning days, and certificate reload without a restart
// (on a file change and on SIGHUP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, copyFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect, type PeerCertificate } from 'node:tls';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, skipUnless } from '../harness/index.ts';
import { StateDir } from '../engine/helpers.ts';
import { agentConfig, listening, spawnAgent } from '../harness/agent-process.ts';
import { freePort } from '../harness/net.ts';
import { TestPki } from '../harness/pki.ts';

const skip = await skipUnless('root', 'bpffs', 'netns', 'veth');

interface Answer { status?: number; body?: string; error?: string; peer?: PeerCertificate }

/** One request on a fresh connection; a TLS failure is returned as its error code. */
function call(port: number, method: string, path: string, tlsOpts: Record<string, unknown>, body?: unknown): Promise<Answer> {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({
      host: '127.0.0.1', port, method, path, agent: false, ...tlsOpts,
      headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      const peer = (res.socket as unknown as { getPeerCertificate(): PeerCertificate }).getPeerCertificate();
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: text, peer }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

/** The protocol a bare handshake with these options ends in, or its error code. */
function handshake(port: number, opts: Record<string, unknown>): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, ...opts }, () => {
      // TLS 1.3: the server judges the client certificate after the client finished; give it a moment to refuse.
      s.once('data', () => undefined);
      setTimeout(() => { resolve(`ok ${s.getProtocol() ?? ''}`); s.destroy(); }, 300);
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

test('mTLS matrix, roles, expiry warning and reload without restart on a running agent', { skip, timeout: 180_000 }, async (t) => {
  await using bpffs = await PrivateBpffs.create();
  await using lab = await VethLab.create();
  using state = new StateDir();
  const pki = new TestPki(join(state.path, 'pki'));
  pki.ca('ca');
  pki.ca('other-ca');
  pki.leaf('server', 'ca', ['DNS:localhost', 'IP:127.0.0.1'], 'serverAuth', 5); // inside the 30 warning days
  pki.leaf('writer', 'ca', ['DNS:writer.l3af.test'], 'clientAuth');
  pki.leaf('admin', 'ca', ['DNS:admin-7.l3af.test'], 'clientAuth');
  pki.leaf('reader', 'ca', ['DNS:reader.ops.test'], 'clientAuth');
  pki.leaf('stranger', 'ca', ['DNS:stranger.example'], 'clientAuth');
  pki.leaf('foreign', 'other-ca', ['DNS:writer.l3af.test'], 'clientAuth');
  const port = await freePort();
  const cfg = agentConfig({
    stateDir: state.path, pinRoot: bpffs.path, port,
    mtls: ['mtls:', '  enabled: true', '  min-tls-version: TLS_1.3', `  cert-dir: ${pki.dir}`, '  cacert-filename: ca.pem',
      '  server-cert-filename: server.crt', '  server-key-filename: server.key', '  cert-expiry-warning-days: 30',
      '  san-match-rules: writer.l3af.test, admin-[0-9]+\\.l3af\\.test'],
    l3af: ['  mtls-reader-san-match-rules: reader\\..*\\.test'],
  });
  const agent = spawnAgent(cfg);
  try {
    await listening(agent);
    const ca = readFileSync(pki.path('ca.pem'));
    const client = (name: string) => ({ ca, cert: readFileSync(pki.path(`${name}.crt`)), key: readFileSync(pki.path(`${name}.key`)) });
    const base = '/l3af/configs/v1';
    const outcomes: string[] = [];
    const note = (what: string, got: Answer | string) => outcomes.push(`${what}: ${typeof got === 'string' ? got : got.error ?? got.status}`);

    // expiry: the 5-day server certificate is inside the 30 warning days: a warn line, no shutdown
    const warn = await agent.waitFor((l) => l.msg === 'TLS certificate expires soon' && l.role === 'server', 5_000, 'the expiry warning');
    assert.equal(warn.level, 40);
    assert.ok(Number(warn.daysLeft) > 4 && Number(warn.daysLeft) <= 5, `daysLeft ${String(warn.daysLeft)}`);

    // no client certificate: refused in the handshake
    const none = await call(port, 'GET', base, { ca });
    note('no client certificate', none);
    assert.ok(none.error !== undefined && /CERTIFICATE_REQUIRED|ECONNRESET|EPIPE|HANDSHAKE/.test(none.error), JSON.stringify(none));
    // a client certificate from another CA (with a writer's SAN): unknown CA
    const foreign = await call(port, 'GET', base, client('foreign'));
    note('client signed by another CA', foreign);
    assert.ok(foreign.error !== undefined && /UNKNOWN_CA|ECONNRESET/.test(foreign.error), JSON.stringify(foreign));
    // TLS 1.2 when 1.3 is required, TLS 1.1: the server refuses the protocol
    const v12 = await handshake(port, { ...client('writer'), maxVersion: 'TLSv1.2' });
    note('TLS 1.2 client, 1.3 required', v12);
    assert.match(v12, /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION|NO_PROTOCOLS/);
    const v11 = await handshake(port, { ...client('writer'), minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    note('TLS 1.1 client', v11);
    assert.match(v11, /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION|NO_PROTOCOLS/);
    assert.equal(await handshake(port, client('writer')), 'ok TLSv1.3', 'a valid writer completes a TLS 1.3 handshake');

    // SAN matching neither rule set: the chain is valid, the request is forbidden
    const stranger = await call(port, 'GET', base, client('stranger'));
    note('SAN matching no rule, GET', stranger);
    assert.equal(stranger.status, 403);
    assert.match(stranger.body ?? '', /stranger\.example.*matches neither/);

    // writers (a literal and a regex rule): read and write
    const delBody = [{ host_name: hostName(), iface: lab.rootIfname, bpf_programs: { xdp_ingress: ['not-there'] } }];
    for (const w of ['writer', 'admin']) {
      const get = await call(port, 'GET', base, client(w));
      note(`${w} GET`, get);
      assert.equal(get.status, 200, get.body);
      const del = await call(port, 'POST', `${base}/delete`, client(w), delBody);
      note(`${w} POST delete`, del);
      assert.equal(del.status, 200, del.body);
      assert.equal((JSON.parse(del.body ?? '{}') as { results: { outcome: string }[] }).results[0]?.outcome, 'unchanged');
    }
    // reader: GET 200; add/update/delete/restart 403 with a clear body
    const rget = await call(port, 'GET', `${base}/${lab.rootIfname}`, client('reader'));
    note('reader GET', rget);
    assert.equal(rget.status, 200);
    for (const [method, path, body] of [['POST', `${base}/add`, []], ['POST', `${base}/update`, []], ['POST', `${base}/delete`, delBody],
      ['PUT', `${base}/restart`, { hostname: hostName(), version: 'v1.0.0' }]] as const) {
      const r = await call(port, method, path, client('reader'), body);
      note(`reader ${method} ${path.split('/').pop() ?? ''}`, r);
      assert.equal(r.status, 403, r.body);
      const doc = JSON.parse(r.body ?? '{}') as { error: string; problems: { message: string }[] };
      assert.equal(doc.error, 'forbidden');
      assert.match(doc.problems[0]?.message ?? '', /reader\.ops\.test\) is read-only .*san-match-rules/);
    }
    // the expiry is readable (for the metrics side) through GET /l3af/agent
    const info = JSON.parse((await call(port, 'GET', '/l3af/agent', client('reader'))).body ?? '{}') as { tls: boolean; certificateExpiry: { daysLeft: number } };
    assert.equal(info.tls, true);
    assert.ok(info.certificateExpiry.daysLeft > 4 && info.certificateExpiry.daysLeft <= 5);

    // reload without restart: new server certificate files are served to new connections
    const before = (await call(port, 'GET', base, client('writer'))).peer?.fingerprint256;
    assert.equal(before, new X509Certificate(readFileSync(pki.path('server.crt'))).fingerprint256);
    const swap = (name: string): string => {
      pki.leaf(name, 'ca', ['DNS:localhost', 'IP:127.0.0.1'], 'serverAuth', 90);
      copyFileSync(pki.path(`${name}.key`), pki.path('server.key.tmp'));
      copyFileSync(pki.path(`${name}.crt`), pki.path('server.crt.tmp'));
      renameSync(pki.path('server.key.tmp'), pki.path('server.key'));
      renameSync(pki.path('server.crt.tmp'), pki.path('server.crt'));
      return new X509Certificate(readFileSync(pki.path(`${name}.crt`))).fingerprint256;
    };
    const fp2 = swap('server2');
    await agent.waitFor((l) => l.msg === 'TLS certificates reloaded' && l.reason === 'file change', 10_000, 'a reload on the file change');
    const after = await call(port, 'GET', base, client('writer'));
    assert.equal(after.status, 200);
    assert.equal(after.peer?.fingerprint256, fp2, 'a new connection sees the new certificate');
    assert.notEqual(fp2, before);
    // SIGHUP reloads too (same pid: no restart)
    const reloads = agent.lines.filter((l) => l.msg === 'TLS certificates reloaded').length;
    const fp3 = swap('server3');
    agent.child.kill('SIGHUP');
    await agent.waitFor((l) => l.msg === 'TLS certificates reloaded' && agent.lines.filter((x) => x.msg === 'TLS certificates reloaded').length > reloads, 10_000, 'a reload');
    const third = await call(port, 'GET', base, client('writer'));
    assert.equal(third.peer?.fingerprint256, fp3);
    assert.equal(agent.child.exitCode, null, 'the agent kept running');
    t.diagnostic(outcomes.join('\n'));

    agent.child.kill('SIGTERM');
    assert.deepEqual(await agent.exited, { code: 0, signal: null });
  } finally {
    await agent.kill();
  }
});

test('min-tls-version TLS_1.2 admits a TLS 1.2 client; a missing cert-dir file stops start-up naming the key', { skip, timeout: 120_000 }, async () => {
  await using bpffs = await PrivateBpffs.create();
  using state = new StateDir();
  const pki = new TestPki(join(state.path, 'pki'));
  pki.ca('ca');
  pki.leaf('server', 'ca', ['DNS:localhost', 'IP:127.0.0.1'], 'serverAuth', 90);
  pki.leaf('any', 'ca', ['DNS:whoever.example'], 'clientAuth');
  const port = await freePort();
  const mtls = (dir: string) => ['mtls:', '  enabled: true', '  min-tls-version: TLS_1_2', `  cert-dir: ${dir}`, '  server-cert-filename: server.crt'];
  const bad = spawnAgent(agentConfig({ stateDir: state.path, pinRoot: bpffs.path, port, mtls: mtls(join(state.path, 'nowhere')) }));
  const exit = await bad.exited;
  assert.equal(exit.code, 2);
  assert.match(bad.stderr.join(''), /\[mtls\] server-key-filename: cannot read .*nowhere\/server\.key: ENOENT/);

  const agent = spawnAgent(agentConfig({ stateDir: state.path, pinRoot: bpffs.path, port, mtls: mtls(pki.dir) }));
  try {
    await listening(agent);
    const opts = { ca: readFileSync(pki.path('ca.pem')), cert: readFileSync(pki.path('any.crt')), key: readFileSync(pki.path('any.key')) };
    assert.equal(await handshake(port, { ...opts, maxVersion: 'TLSv1.2' }), 'ok TLSv1.2');
    // no SAN rules: any certificate signed by the CA is a writer (l3afd refused every client here)
    const r = await call(port, 'POST', '/l3af/configs/v1/add', opts, []);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body ?? ''), { results: [] });
    const v11 = await handshake(port, { ...opts, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    assert.match(v11, /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION|NO_PROTOCOLS/);
  } finally {
    await agent.kill();
  }
});
