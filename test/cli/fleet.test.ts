// l3afctl's safe change commands against a real agent process (main.ts: the audit log wired under its state dir,
// the counter on its metrics endpoint) over mTLS: `add --dry-run` changes nothing, `update --if-match` with a stale
// ETag exits 1 and changes nothing, `audit` lists the changes with the client certificate's CN, `revert` brings the
// earlier chain back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, VethLab, skipUnless } from '../harness/index.ts';
import { ROOT, StateDir, countAndPass, ensurePackages, xdpBody } from '../engine/helpers.ts';
import { agentConfig, listening, spawnAgent } from '../harness/agent-process.ts';
import { TestPki } from '../harness/pki.ts';
import { freePort } from '../harness/net.ts';

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

function fetchTls(url: string, tls: object): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, ...tls }, (res) => {
      let t = '';
      res.setEncoding('utf8').on('data', (c: string) => { t += c; });
      res.on('end', () => resolve(t));
    });
    req.on('error', reject);
    req.end();
  });
}

test('l3afctl --dry-run, --if-match, audit and revert against a running agent over mTLS', { skip, timeout: 300_000 }, async () => {
  ensurePackages();
  await using bpffs = await PrivateBpffs.create();
  await using lab = await VethLab.create();
  using state = new StateDir();
  const iface = lab.rootIfname;
  const pki = new TestPki(join(state.path, 'pki'));
  pki.ca('ca');
  pki.leaf('server', 'ca', ['DNS:localhost', 'IP:127.0.0.1'], 'serverAuth', 90);
  pki.leaf('fleet-operator', 'ca', ['DNS:writer.l3af.test'], 'clientAuth');
  const port = await freePort();
  const mport = await freePort();
  const agent = spawnAgent(agentConfig({
    stateDir: state.path, pinRoot: bpffs.path, port, metricsPort: mport,
    mtls: ['mtls:', '  enabled: true', `  cert-dir: ${pki.dir}`, '  server-cert-filename: server.crt', '  san-match-rules: writer.l3af.test'],
    l3af: ['  metrics-tls: mtls'],
  }));
  try {
    await listening(agent);
    const W = ['--agent', `https://127.0.0.1:${port}`, '--ca', pki.path('ca.pem'), '--cert', pki.path('fleet-operator.crt'), '--key', pki.path('fleet-operator.key')];
    const file = (name: string, body: unknown): string => {
      const f = join(state.path, name);
      writeFileSync(f, JSON.stringify(body));
      return f;
    };
    const one = file('one.json', xdpBody(hostName(), iface, [countAndPass('count-and-pass', 1)]));
    const add = await ctl([...W, 'add', one]);
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const etag = /ETag ("[0-9a-f]{32}")/.exec(add.stderr)?.[1];
    assert.ok(etag, add.stderr);

    // dry run of a delete: the plan, nothing changes
    const dry = await ctl([...W, 'delete', '--iface', iface, '--name', 'count-and-pass', '--dry-run']);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, new RegExp(`^${iface}\\s+xdpingress\\s+count-and-pass\\s+latest\\s+1\\s+remove`, 'm'));
    assert.match(dry.stdout, new RegExp(`${iface} xdpingress: \\[count-and-pass\\] -> \\[\\]`));
    assert.match(dry.stdout, /dry run: nothing changed/);
    const still = await ctl([...W, 'get', iface]);
    assert.match(still.stdout, /count-and-pass/);

    // a conditional update with the ETag read: applied; again with the same (now stale) ETag: exit 1, nothing changes
    const empty = file('empty.json', xdpBody(hostName(), iface, []));
    const upd = await ctl([...W, 'update', '--if-match', etag, empty]);
    assert.equal(upd.code, 0, upd.stdout + upd.stderr);
    const stale = await ctl([...W, 'update', '--if-match', etag, one]);
    assert.equal(stale.code, 1, stale.stdout + stale.stderr);
    assert.match(stale.stderr, /desired state changed since it was read \(current ETag "[0-9a-f]{32}"\); nothing was changed/);

    // audit: newest first, the client certificate's CN
    const audit = await ctl([...W, 'audit', '--iface', iface]);
    assert.equal(audit.code, 0, audit.stderr);
    const rows = audit.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 2, audit.stdout);
    assert.match(rows[0] ?? '', /fleet-operator\s+update\s+ok\s+\S+\s+remove count-and-pass/);
    assert.match(rows[1] ?? '', /fleet-operator\s+add\s+ok\s+\S+\s+load count-and-pass/);
    assert.ok(existsSync(join(state.path, 'audit.jsonl')), 'recorded under the agent\'s state dir');

    // revert the update: count-and-pass is back
    const id = (rows[0] ?? '').split(/\s+/)[0] as string;
    const rev = await ctl([...W, 'revert', id]);
    assert.equal(rev.code, 0, rev.stdout + rev.stderr);
    assert.match(rev.stdout, /count-and-pass\s+added/);
    const back = await ctl([...W, 'audit', '--limit', '1', '--json']);
    const entry = (JSON.parse(back.stdout) as { entries: { route: string; reverts: string; identity: string }[] }).entries[0];
    assert.deepEqual([entry?.route, entry?.reverts, entry?.identity], ['revert', id, 'fleet-operator']);
    // the counter on the agent's metrics endpoint
    const metrics = await fetchTls(`https://127.0.0.1:${mport}/metrics`, { ca: readFileSync(pki.path('ca.pem')), cert: readFileSync(pki.path('fleet-operator.crt')), key: readFileSync(pki.path('fleet-operator.key')) });
    assert.match(metrics, /l3af_audit_entries_total\{route="add",outcome="ok"\} 1/);
    assert.match(metrics, /l3af_audit_entries_total\{route="revert",outcome="ok"\} 1/);
  } finally {
    await agent.kill();
  }
});
