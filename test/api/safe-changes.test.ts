// The safe change API (issue 19, FLEET-API contract) through the REST server on the real engine and kernel:
// - If-Match: two clients that read the same ETag race; one wins, the other gets 412 with the current ETag and
//   changes nothing; it re-reads and its change then applies (nothing lost); without If-Match, as l3afd;
// - dry run under traffic: plan + verifier verdicts (a rejecting object reported), kernel (bpftool net/prog,
//   pins, prog ids) and store file byte-identical, every packet counted;
// - audit: entries with the mTLS client identity (and "anonymous" without TLS), paging, filter, the counter;
// - revert: the exact earlier kernel chain (names, versions, order) is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { buildServer } from '../../agent/src/api/server.ts';
import { AuditLog } from '../../agent/src/audit/audit-log.ts';
import { registerAuditEntries } from '../../agent/src/metrics/audit-metrics.ts';
import { PinLayout } from '../../agent/src/chain/index.ts';
import { createLogger } from '../../agent/src/log.ts';
import { platformName } from '../../agent/src/platform/platform-name.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import type { AuditEntry, AuditPage, DryRunResult } from '../../agent/src/payload/index.ts';
import { PrivateBpffs, VethLab, sendUdpReport, skipUnless } from '../harness/index.ts';
import { Counter } from '../chain/helpers.ts';
import { testObject } from '../bpf/fixtures.ts';
import { TestPki } from '../harness/pki.ts';
import { StateDir, countAndPass, countAndPassRepo, engineWithChains, ensurePackages, testConfig, xdpBody } from '../engine/helpers.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

/** Adds a package `reject` (the verifier-rejected kl_reject object, entry xdp_unchecked) to the file repository at `repoDir`. */
function addRejectPackage(repoDir: string): void {
  const dir = join(repoDir, 'reject', 'latest', platformName());
  const top = join(dir, 'l3af_reject');
  mkdirSync(top, { recursive: true });
  copyFileSync(testObject('kl_reject'), join(top, 'reject.bpf.o'));
  execFileSync('tar', ['czf', 'l3af_reject.tar.gz', 'l3af_reject'], { cwd: dir });
  const sum = createHash('sha256').update(readFileSync(join(dir, 'l3af_reject.tar.gz'))).digest('hex');
  writeFileSync(join(dir, 'l3af_reject.tar.gz.sha256'), `${sum}  l3af_reject.tar.gz\n`);
}

/** Every file under `dir` (pins), sorted. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

async function setUp(state: StateDir, fs: PrivateBpffs, opts: { registry?: Registry; https?: object } = {}) {
  ensurePackages();
  const config = testConfig(fs.path, state.path);
  const repo = countAndPassRepo(state.path, ['cap-a', 'cap-b', 'cap-c']);
  addRejectPackage(join(state.path, 'extra-repo'));
  const { engine, chains } = engineWithChains(config);
  const audit = new AuditLog({ dir: state.path });
  if (opts.registry) registerAuditEntries(opts.registry, () => audit.counts());
  const app = await buildServer({ engine, config, audit, logger: createLogger({ level: 'silent', env: {} }), ...(opts.https ? { https: opts.https } : {}) });
  await engine.start();
  const cap = (name: string, seq: number, extra: object = {}) => countAndPass(name, seq, { ebpf_package_repo_url: repo, ...extra });
  const reject = (seq: number) => ({
    name: 'reject', seq_id: seq, artifact: 'l3af_reject.tar.gz', version: 'latest', admin_status: 'enabled' as const, prog_type: 'xdp',
    map_name: 'xdp_reject_next', object_file: 'reject.bpf.o', entry_function_name: 'xdp_unchecked', ebpf_package_repo_url: repo,
  });
  const post = async (op: string, body: unknown, headers: Record<string, string> = {}) => {
    const r = await app.inject({ method: 'POST', url: `/l3af/configs/v1/${op}`, payload: body as object, headers });
    return { status: r.statusCode, etag: r.headers.etag as string | undefined, doc: r.json() as Record<string, unknown> };
  };
  const getEtag = async (): Promise<string> => (await app.inject({ method: 'GET', url: '/l3af/configs/v1' })).headers.etag as string;
  const chain = (iface: string): string[] => chains().programs(iface, 'xdp_ingress').map((p) => `${p.name}@${p.version}#${p.id}`);
  const close = async (): Promise<void> => {
    await app.close();
    await engine.stop({ unload: true });
  };
  return { config, engine, chains, audit, app, cap, reject, post, getEtag, chain, close };
}

test('If-Match: of two clients that read the same ETag one wins, the other gets 412 and the current ETag, nothing is lost', { skip, timeout: 120_000 }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using state = new StateDir();
  const s = await setUp(state, fs);
  const iface = lab.rootIfname;
  try {
    const first = await s.post('add', xdpBody(hostName(), iface, [s.cap('cap-a', 1)]));
    assert.equal(first.status, 200, JSON.stringify(first.doc));
    const read = await s.app.inject({ method: 'GET', url: `/l3af/configs/v1/${iface}` });
    const e1 = read.headers.etag as string;
    assert.match(e1, /^"[0-9a-f]{32}"$/);
    assert.equal(e1, first.etag, 'a write answers the ETag a GET then shows');
    assert.equal(await s.getEtag(), e1, 'one ETag for the whole agent, the same on both GET routes');

    // two operators, both from e1: one wins
    const [x, y] = await Promise.all([
      s.post('update', xdpBody(hostName(), iface, [s.cap('cap-a', 1), s.cap('cap-b', 2)]), { 'if-match': e1 }),
      s.post('update', xdpBody(hostName(), iface, [s.cap('cap-a', 1), s.cap('cap-c', 2)]), { 'if-match': e1 }),
    ]);
    const statuses = [x.status, y.status].sort();
    assert.deepEqual(statuses, [200, 412], JSON.stringify([x.doc, y.doc]));
    const [won, lost] = x.status === 200 ? [x, y] : [y, x];
    const winner = x.status === 200 ? 'cap-b' : 'cap-c';
    const loser = winner === 'cap-b' ? 'cap-c' : 'cap-b';
    const current = await s.getEtag();
    assert.notEqual(current, e1);
    assert.equal(won.etag, current);
    assert.equal(lost.etag, current, '412 carries the current ETag in its header');
    assert.deepEqual(lost.doc, { error: 'precondition failed: desired state changed', etag: current });
    assert.deepEqual(s.chain(iface).map((c) => c.split('@')[0]), ['cap-a', winner], 'the kernel holds the winner\'s change only');

    // the loser re-reads and applies its change: nothing lost
    const again = await s.post('update', xdpBody(hostName(), iface, [s.cap('cap-a', 1), s.cap(loser, 2)]), { 'if-match': current });
    assert.equal(again.status, 200, JSON.stringify(again.doc));
    assert.deepEqual(s.chain(iface).map((c) => c.split('@')[0]), ['cap-a', loser]);
    // a stale If-Match on delete: 412, nothing deleted
    const stale = await s.post('delete', [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['cap-a'] } }], { 'if-match': e1 });
    assert.equal(stale.status, 412);
    assert.deepEqual(s.chain(iface).map((c) => c.split('@')[0]), ['cap-a', loser]);
    // `*` always matches; without If-Match, as l3afd (no precondition)
    const star = await s.post('add', xdpBody(hostName(), iface, [s.cap('cap-b', 3)]), { 'if-match': '*' });
    assert.equal(star.status, 200, JSON.stringify(star.doc));
    const plain = await s.post('delete', [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['cap-b'] } }]);
    assert.equal(plain.status, 200);
    assert.equal(plain.etag, await s.getEtag());
  } finally {
    await s.close();
  }
});

test('dry run under traffic: plan and verifier verdicts (a rejection reported); kernel, pins and store byte-identical; every packet counted', { skip, timeout: 120_000 }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using state = new StateDir();
  const s = await setUp(state, fs);
  const iface = lab.rootIfname;
  try {
    assert.equal((await s.post('add', xdpBody(hostName(), iface, [s.cap('cap-a', 1)]))).status, 200);
    const counter = new Counter('cap-a', new PinLayout(fs.path).mapPath(iface, 'xdp_ingress', 'cap-a', 'latest', 'xdp_cap_count'));
    const storeFile = s.config.l3afConfigStore.filename;
    const snapshot = () => ({
      net: execFileSync('bpftool', ['net', 'show', 'dev', iface], { encoding: 'utf8' }),
      chain: s.chain(iface),
      progs: s.chains().programs(iface, 'xdp_ingress').map((p) => execFileSync('bpftool', ['prog', 'show', 'id', String(p.id)], { encoding: 'utf8' }).replace(/\s+run_time_ns \d+ run_cnt \d+/, '')),
      pins: tree(fs.path),
      store: readFileSync(storeFile).toString('base64'),
      storeMtime: statSync(storeFile).mtimeMs,
      etag: '',
    });
    const before = { ...snapshot(), etag: await s.getEtag() };
    const audited = s.audit.list().entries.length;
    const count0 = counter.read();
    const traffic = sendUdpReport(lab, { port: 9000, count: 20_000, ratePps: 5_000, maxMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    const body = xdpBody(hostName(), iface, [s.cap('cap-a', 1), s.cap('cap-b', 2), s.reject(3)]);
    const r = await s.app.inject({ method: 'POST', url: '/l3af/configs/v1/update?dry_run=true', payload: body });
    const sent = await traffic;
    assert.equal(r.statusCode, 200, r.body);
    const d = r.json() as DryRunResult;
    assert.equal(d.dry_run, true);
    assert.equal(d.ok, false, 'a program failed to verify');
    assert.equal(d.etag, before.etag);
    assert.equal(r.headers.etag, before.etag);
    const item = (n: string) => d.plan.find((p) => p.name === n);
    assert.equal(item('cap-a')?.action, 'unchanged');
    assert.equal(item('cap-a')?.direction, 'xdpingress');
    assert.equal(item('cap-b')?.action, 'load');
    assert.equal(item('cap-b')?.verifier?.ok, true, JSON.stringify(item('cap-b')));
    assert.ok((item('cap-b')?.verifier?.insns ?? 0) > 0, 'the verifier processed instructions');
    assert.match(item('cap-b')?.sha256 ?? '', /^[0-9a-f]{64}$/);
    assert.equal(item('reject')?.action, 'load');
    assert.equal(item('reject')?.verifier?.ok, false);
    assert.match(item('reject')?.verifier?.error ?? '', /load|Permission|verif|EACCES/i, JSON.stringify(item('reject')));
    assert.match(item('reject')?.verifier?.log ?? '', /invalid access to packet|R\d+ offset|pkt/i, 'the verifier log\'s last lines name the rejection');
    assert.deepEqual(d.chains, [{ iface, direction: 'xdpingress', before: ['cap-a'], after: ['cap-a', 'cap-b', 'reject'] }]);

    const after = { ...snapshot(), etag: await s.getEtag() };
    assert.deepEqual(after, before, 'kernel (bpftool net and prog), pins, prog ids, store file and ETag unchanged');
    assert.equal(s.audit.list().entries.length, audited, 'a dry run is not audited');
    assert.ok(sent.sent > 0);
    assert.equal(counter.read() - count0, BigInt(sent.sent), 'every datagram went through the chain during the dry run');
    counter.close();

    // a bad payload answers as the real write would
    const bad = await s.app.inject({ method: 'POST', url: '/l3af/configs/v1/update?dry_run=1', payload: [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: [{ name: 'x' }] } }] });
    assert.equal(bad.statusCode, 400, bad.body);
    // a dry run of a delete
    const del = await s.app.inject({ method: 'POST', url: '/l3af/configs/v1/delete?dry_run=true', payload: [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['cap-a'] } }] });
    assert.equal(del.statusCode, 200, del.body);
    assert.deepEqual((del.json() as DryRunResult).plan.map((p) => `${p.action}:${p.name}`), ['remove:cap-a']);
    assert.deepEqual(s.chain(iface), before.chain);
  } finally {
    await s.close();
  }
});

/** One HTTPS request with a client certificate. */
function httpsCall(port: number, method: string, path: string, tls: object, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({
      host: '127.0.0.1', port, method, path, agent: false, ...tls,
      headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

test('audit: entries carry the mTLS client identity, route, body digest, plan, outcome and ETags; paged, filtered, counted', { skip, timeout: 120_000 }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using state = new StateDir();
  const pki = new TestPki(join(state.path, 'pki'));
  pki.ca('ca');
  pki.leaf('server', 'ca', ['DNS:localhost', 'IP:127.0.0.1'], 'serverAuth');
  pki.leaf('operator-7', 'ca', ['DNS:ops7.l3af.test'], 'clientAuth');
  const ca = readFileSync(pki.path('ca.pem'));
  const registry = new Registry();
  const s = await setUp(state, fs, {
    registry,
    https: { key: readFileSync(pki.path('server.key')), cert: readFileSync(pki.path('server.crt')), ca, requestCert: true, rejectUnauthorized: true },
  });
  const iface = lab.rootIfname;
  try {
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (s.app.server.address() as { port: number }).port;
    const client = { ca, cert: readFileSync(pki.path('operator-7.crt')), key: readFileSync(pki.path('operator-7.key')) };
    const etag0 = s.engine.etag?.() as string;
    const body = xdpBody(hostName(), iface, [s.cap('cap-a', 1)]);
    const add = await httpsCall(port, 'POST', '/l3af/configs/v1/add', client, body);
    assert.equal(add.status, 200, add.body);
    const etag1 = s.engine.etag?.() as string;
    const upd = await httpsCall(port, 'POST', '/l3af/configs/v1/update', client, xdpBody(hostName(), iface, [s.cap('cap-a', 1), s.cap('cap-b', 2, { version: '9.9.9' })]));
    assert.equal(upd.status, 422, upd.body);
    // a dry run and a refused write (stale If-Match) are not audited
    await httpsCall(port, 'POST', '/l3af/configs/v1/add?dry_run=true', client, body);
    const page = await httpsCall(port, 'GET', '/l3af/audit', client);
    assert.equal(page.status, 200, page.body);
    const p = JSON.parse(page.body) as AuditPage;
    assert.equal(p.entries.length, 2);
    assert.equal(p.next_cursor, null);
    const [second, first] = p.entries as [AuditEntry, AuditEntry];
    assert.ok(second.id > first.id, 'newest first, ids monotonic');
    assert.equal(first.identity, 'operator-7', 'the client certificate\'s subject CN');
    assert.equal(first.route, 'add');
    assert.equal(first.outcome, 'ok');
    assert.equal(first.body_sha256, createHash('sha256').update(JSON.stringify(body)).digest('hex'));
    assert.equal(first.etag_before, etag0);
    assert.equal(first.etag_after, etag1);
    assert.deepEqual(first.ifaces, [iface]);
    assert.deepEqual(first.plan.map((i) => `${i.action}:${i.name}`), ['load:cap-a']);
    assert.ok(!('before' in first), 'the stored state before is not shown');
    assert.ok(Date.parse(first.time) > 0);
    assert.equal(second.route, 'update');
    assert.equal(second.outcome, 'failed', 'cap-b failed (no such version), nothing else changed');
    assert.deepEqual(second.plan.map((i) => `${i.action}:${i.name}`), ['unchanged:cap-a', 'load:cap-b']);

    // paging and filters
    const one = s.audit.list({ limit: 1 });
    assert.equal(one.entries[0]?.id, second.id);
    assert.equal(one.next_cursor, second.id);
    assert.deepEqual(s.audit.list({ limit: 1, cursor: one.next_cursor as string }).entries.map((e) => e.id), [first.id]);
    const none = await s.app.inject({ method: 'GET', url: '/l3af/audit?iface=nosuch0' });
    assert.deepEqual((none.json() as AuditPage).entries, []);
    const future = await s.app.inject({ method: 'GET', url: `/l3af/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}` });
    assert.deepEqual((future.json() as AuditPage).entries, []);
    const past = await s.app.inject({ method: 'GET', url: `/l3af/audit?iface=${iface}&until=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}&limit=5` });
    assert.equal((past.json() as AuditPage).entries.length, 2);
    const badTime = await s.app.inject({ method: 'GET', url: '/l3af/audit?since=yesterday' });
    assert.equal(badTime.statusCode, 400);
    // without TLS: anonymous (same log)
    const plainApp = await buildServer({ engine: s.engine, config: s.config, audit: s.audit, logger: createLogger({ level: 'silent', env: {} }) });
    const del = await plainApp.inject({ method: 'POST', url: '/l3af/configs/v1/delete', payload: [{ host_name: hostName(), iface, bpf_programs: { xdp_ingress: ['cap-a'] } }] });
    assert.equal(del.statusCode, 200, del.body);
    await plainApp.close();
    assert.equal(s.audit.list({ limit: 1 }).entries[0]?.identity, 'anonymous');
    // the file is under the state dir; the counter counts by route and outcome
    assert.ok(s.audit.path.startsWith(state.path));
    const text = await registry.metrics();
    assert.match(text, /l3af_audit_entries_total\{route="add",outcome="ok"\} 1/);
    assert.match(text, /l3af_audit_entries_total\{route="update",outcome="failed"\} 1/);
    assert.match(text, /l3af_audit_entries_total\{route="delete",outcome="ok"\} 1/);
  } finally {
    await s.close();
  }
});

test('audit log rotation by size keeps ids monotonic and entries readable across files and restarts', () => {
  using state = new StateDir();
  const log = new AuditLog({ dir: state.path, maxBytes: 2_000, keep: 2 });
  const entry = (i: number) => ({
    identity: 'anonymous', route: 'add' as const, body_sha256: String(i), plan: [], outcome: 'ok' as const,
    etag_before: '"a"', etag_after: '"b"', ifaces: [`if${i % 3}`], before: [],
  });
  for (let i = 0; i < 30; i++) log.append(entry(i));
  assert.ok(existsSync(`${log.path}.1`) && existsSync(`${log.path}.2`) && !existsSync(`${log.path}.3`), 'rotated, two kept');
  const all = log.list({ limit: 1000 }).entries;
  assert.ok(all.length < 30 && all.length > 10, `older entries dropped with the oldest file (${all.length} kept)`);
  assert.deepEqual(all.map((e) => e.id), [...all.map((e) => e.id)].sort().reverse());
  const again = new AuditLog({ dir: state.path, maxBytes: 2_000, keep: 2 });
  const next = again.append(entry(99));
  assert.ok(next.id > (all[0]?.id ?? ''), 'ids stay monotonic after a restart');
  assert.ok(again.list({ iface: 'if1' }).entries.every((e) => e.ifaces.includes('if1')));
});

test('revert: the exact earlier kernel chain (names, versions, order) and desired state are back; If-Match honoured; audited', { skip, timeout: 120_000 }, async () => {
  await using lab = await VethLab.create();
  await using fs = await PrivateBpffs.create();
  using state = new StateDir();
  const s = await setUp(state, fs);
  const iface = lab.rootIfname;
  try {
    assert.equal((await s.post('update', xdpBody(hostName(), iface, [s.cap('cap-a', 1), s.cap('cap-b', 2)]))).status, 200);
    const names = () => s.chain(iface).map((c) => c.split('#')[0]);
    const chainBefore = names();
    const desiredBefore = (await s.app.inject({ method: 'GET', url: `/l3af/configs/v1/${iface}` })).body;
    const netBefore = execFileSync('bpftool', ['net', 'show', 'dev', iface], { encoding: 'utf8' });
    // the change to revert: cap-a goes, cap-b moves first, cap-c joins
    const change = await s.post('update', xdpBody(hostName(), iface, [s.cap('cap-b', 1), s.cap('cap-c', 2)]));
    assert.equal(change.status, 200, JSON.stringify(change.doc));
    assert.deepEqual(names(), ['cap-b@latest', 'cap-c@latest']);
    const entry = s.audit.list({ limit: 1 }).entries[0] as AuditEntry;
    assert.equal(entry.route, 'update');
    assert.deepEqual(entry.plan.map((i) => `${i.action}:${i.name}`).sort(), ['load:cap-c', 'move:cap-b', 'remove:cap-a']);
    // stale If-Match: 412, nothing changes
    // (with a JSON content type and no body, as curl -H 'content-type: application/json' sends it: revert takes no body)
    const stale = await s.app.inject({ method: 'POST', url: `/l3af/audit/${entry.id}/revert`, headers: { 'if-match': entry.etag_before, 'content-type': 'application/json' }, payload: '' });
    assert.equal(stale.statusCode, 412, stale.body);
    assert.deepEqual(names(), ['cap-b@latest', 'cap-c@latest']);
    // revert with the current ETag
    const r = await s.app.inject({ method: 'POST', url: `/l3af/audit/${entry.id}/revert`, headers: { 'if-match': entry.etag_after } });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(names(), chainBefore, 'the earlier chain: same programs, versions and order');
    assert.equal((await s.app.inject({ method: 'GET', url: `/l3af/configs/v1/${iface}` })).body, desiredBefore, 'the earlier desired state, byte for byte');
    assert.equal(r.headers.etag, entry.etag_before, 'the ETag of the earlier state');
    const netAfter = execFileSync('bpftool', ['net', 'show', 'dev', iface], { encoding: 'utf8' });
    assert.equal(netAfter.replace(/id \d+/g, 'id N'), netBefore.replace(/id \d+/g, 'id N'), 'the same root program attached at the hook');
    const rev = s.audit.list({ limit: 1 }).entries[0] as AuditEntry;
    assert.equal(rev.route, 'revert');
    assert.equal(rev.reverts, entry.id);
    assert.equal(rev.outcome, 'ok');
    const missing = await s.app.inject({ method: 'POST', url: '/l3af/audit/999999/revert' });
    assert.equal(missing.statusCode, 404);
  } finally {
    await s.close();
  }
});


test('OpenAPI: the audit routes, revert, restart, ?dry_run and 412 are documented', async () => {
  using state = new StateDir();
  const config = testConfig(join(state.path, 'pins'), state.path);
  const { engine } = engineWithChains(config);
  const audit = new AuditLog({ dir: state.path });
  const restart = { handover: async () => { throw new Error('not in this test'); }, info: () => ({}) };
  const app = await buildServer({ engine, config, audit, restart, logger: createLogger({ level: 'silent', env: {} }) });
  try {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, unknown>; parameters?: { name: string; in: string }[] }>>;
    };
    assert.ok(doc.paths['/l3af/audit']?.get, 'GET /l3af/audit');
    assert.ok(doc.paths['/l3af/audit/{id}/revert']?.post, 'POST /l3af/audit/{id}/revert');
    assert.ok(doc.paths['/l3af/configs/{version}/restart']?.put, 'PUT /l3af/configs/{version}/restart');
    assert.deepEqual(doc.paths['/l3af/audit']?.get?.parameters?.map((p) => p.name).sort(), ['cursor', 'iface', 'limit', 'since', 'until']);
    for (const op of ['add', 'update', 'delete']) {
      const post = doc.paths[`/l3af/configs/{version}/${op}`]?.post;
      assert.ok(post?.responses['412'], `${op}: 412`);
      assert.ok(post?.parameters?.some((p) => p.name === 'dry_run' && p.in === 'query'), `${op}: ?dry_run`);
    }
    assert.ok(doc.paths['/l3af/audit/{id}/revert']?.post?.responses['412']);
  } finally {
    await app.close();
  }
});
