// `[l3af] metrics-tls` on a running agent (main.ts as a child; certificates made with openssl in the test):
// - tls: /metrics over https with the REST certificate of [mtls] cert-dir, checked against the CA (no client
//   certificate needed), plain http refused, an untrusting client refused; the certificate reloads on SIGHUP;
// - mtls (with mTLS on the REST API too): a client certificate of the CA is required on /metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { PrivateBpffs, skipUnless } from '../harness/index.ts';
import { StateDir } from '../engine/helpers.ts';
import { agentConfig, listening, spawnAgent, type AgentProcess } from '../harness/agent-process.ts';
import { freePort } from '../harness/net.ts';
import { TestPki } from '../harness/pki.ts';

const skip = await skipUnless('root', 'bpffs');

interface Answer { status?: number; body?: string; contentType?: string; serial?: string; error?: string }

/** GET on a fresh connection; a failure is returned as its error code. */
function get(url: string, tls: Record<string, unknown> = {}): Promise<Answer> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, agent: false, ...tls }, (res) => {
      const peer: PeerCertificate | undefined = u.protocol === 'https:' ? (res.socket as TLSSocket).getPeerCertificate() : undefined;
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, contentType: String(res.headers['content-type']), ...(peer ? { serial: peer.serialNumber } : {}) }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.setTimeout(10_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.end();
  });
}

/** The metrics URL the agent logged. */
async function metricsUrl(agent: AgentProcess): Promise<string> {
  const line = await agent.waitFor((l) => l.msg === 'metrics listening', 60_000, 'metrics to listen');
  return String(line.url);
}

function makePki(dir: string): TestPki {
  const pki = new TestPki(dir);
  pki.ca('ca');
  pki.ca('other');
  pki.leaf('server', 'ca', ['DNS:localhost', 'IP:127.0.0.1'], 'serverAuth', 60);
  pki.leaf('server2', 'ca', ['DNS:localhost', 'IP:127.0.0.1'], 'serverAuth', 60);
  pki.leaf('writer', 'ca', ['DNS:writer.l3af.test'], 'clientAuth');
  pki.leaf('foreign', 'other', ['DNS:writer.l3af.test'], 'clientAuth');
  return pki;
}

test('metrics-tls = tls: https with the REST certificate, plain http refused, reload on SIGHUP', { skip, timeout: 120_000 }, async () => {
  await using bpffs = await PrivateBpffs.create();
  using state = new StateDir();
  const pki = makePki(join(state.path, 'pki'));
  const port = await freePort();
  const mport = await freePort();
  // REST API without TLS (loopback): the certificates are used by the metrics listener alone
  const agent = spawnAgent(agentConfig({
    stateDir: state.path, pinRoot: bpffs.path, port, metricsPort: mport,
    mtls: ['mtls:', '  enabled: false', `  cert-dir: ${pki.dir}`, '  min-tls-version: "1.2"'],
    l3af: ['  metrics-tls: tls'],
  }));
  try {
    await listening(agent);
    const url = await metricsUrl(agent);
    assert.equal(url, `https://127.0.0.1:${mport}/metrics`);
    const ca = readFileSync(pki.path('ca.pem'));
    const serial = (f: string) => new X509Certificate(readFileSync(pki.path(f))).serialNumber;

    const ok = await get(url, { ca });
    assert.equal(ok.status, 200, JSON.stringify(ok));
    assert.match(ok.contentType ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(ok.body ?? '', /^# TYPE l3af_tls_certificate_expiry_seconds gauge$/m);
    assert.match(ok.body ?? '', /^l3af_host_info\{/m);
    assert.equal(ok.serial, serial('server.crt'));
    // no client certificate asked: also none needed with a client certificate of another CA
    assert.equal((await get(url, { ca, cert: readFileSync(pki.path('foreign.crt')), key: readFileSync(pki.path('foreign.key')) })).status, 200);

    // plain http on the https port: no HTTP answer
    const plain = await get(`http://127.0.0.1:${mport}/metrics`);
    assert.equal(plain.status, undefined, `plain http answered: ${JSON.stringify(plain)}`);
    assert.match(plain.error ?? '', /^(?:ECONNRESET|HPE_INVALID_CONSTANT|HPE_\w+)$/);
    // a client that does not trust the CA
    assert.match((await get(url, { ca: readFileSync(pki.path('other.pem')) })).error ?? '', /^(?:SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/);
    // the REST API stays plain http
    assert.equal((await get(`http://127.0.0.1:${port}/l3af/configs/v1`)).status, 200);

    // a new server certificate + SIGHUP: the metrics listener serves it without a restart
    copyFileSync(pki.path('server2.crt'), pki.path('server.crt'));
    copyFileSync(pki.path('server2.key'), pki.path('server.key'));
    agent.child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    let now = await get(url, { ca });
    while (now.serial !== serial('server2.crt') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      now = await get(url, { ca });
    }
    assert.equal(now.serial, serial('server2.crt'), 'reloaded certificate served');
    assert.equal(now.status, 200);
    assert.equal(agent.lines.filter((l) => l.msg === 'TLS certificates reloaded').length, 1);

    agent.child.kill('SIGTERM');
    assert.equal((await agent.exited).code, 0);
  } finally {
    await agent.kill();
  }
});

test('metrics-tls = mtls: a client certificate of the CA is required on /metrics', { skip, timeout: 120_000 }, async () => {
  await using bpffs = await PrivateBpffs.create();
  using state = new StateDir();
  const pki = makePki(join(state.path, 'pki'));
  const port = await freePort();
  const agent = spawnAgent(agentConfig({
    stateDir: state.path, pinRoot: bpffs.path, port,
    mtls: ['mtls:', '  enabled: true', `  cert-dir: ${pki.dir}`, '  san-match-rules: writer.l3af.test'],
    l3af: ['  metrics-tls: mtls'],
  }));
  try {
    await listening(agent);
    const url = await metricsUrl(agent);
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const ca = readFileSync(pki.path('ca.pem'));
    const client = (n: string) => ({ ca, cert: readFileSync(pki.path(`${n}.crt`)), key: readFileSync(pki.path(`${n}.key`)) });

    const ok = await get(url, client('writer'));
    assert.equal(ok.status, 200, JSON.stringify(ok));
    assert.match(ok.body ?? '', /^l3af_tls_certificate_expiry_seconds \d+/m);
    // TLS 1.3: the refusal of a missing or foreign client certificate arrives after the handshake
    const none = await get(url, { ca });
    assert.equal(none.status, undefined);
    assert.match(none.error ?? '', /CERTIFICATE_REQUIRED|ECONNRESET/);
    const foreign = await get(url, client('foreign'));
    assert.equal(foreign.status, undefined);
    assert.match(foreign.error ?? '', /UNKNOWN_CA|ECONNRESET/);
    const plain = await get(url.replace('https:', 'http:'));
    assert.equal(plain.status, undefined);
  } finally {
    await agent.kill();
  }
});
