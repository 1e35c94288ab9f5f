// ArtifactStore against a file: repository and a local node:http server on 127.0.0.1, with archives
// built byte by byte in the test (tiny tar and zip writers) so hostile entries can be expressed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { crc32, gzipSync } from 'node:zlib';
import { defaultConfig } from '../../agent/src/config/index.ts';
import { ArtifactError, ArtifactStore, artifactStoreOptions, type ArtifactErrorCode, type ArtifactStoreOptions } from '../../agent/src/artifacts/index.ts';
import { unverifiedCounts } from '../../agent/src/artifacts/unverified.ts';
import type { Logger } from '../../agent/src/logger.ts';

// ---------- archive writers ----------

interface TarSpec { name: string; type?: '0' | '1' | '2' | '3' | '5' | '6'; data?: string | Buffer; linkname?: string; mode?: number }

function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(`${value.toString(8).padStart(len - 1, '0')}\0`, off, len, 'ascii');
}

function tarEntry(s: TarSpec): Buffer {
  const data = s.data === undefined ? Buffer.alloc(0) : Buffer.from(s.data);
  const type = s.type ?? '0';
  const h = Buffer.alloc(512);
  h.write(s.name, 0, 100, 'utf8');
  octal(h, 100, 8, s.mode ?? (type === '5' ? 0o755 : 0o644));
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, type === '0' ? data.length : 0);
  octal(h, 136, 12, 1_700_000_000);
  h.write('        ', 148, 8, 'ascii');
  h.write(type, 156, 1, 'ascii');
  if (s.linkname) h.write(s.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, type === '0' ? data : Buffer.alloc(0), type === '0' ? pad : Buffer.alloc(0)]);
}

function tarGz(entries: TarSpec[]): Buffer {
  return gzipSync(Buffer.concat([...entries.map(tarEntry), Buffer.alloc(1024)]));
}

interface ZipSpec { name: string; data?: string | Buffer; mode?: number }

/** A stored (uncompressed) zip with unix modes in the external attributes. */
function zip(entries: ZipSpec[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const data = Buffer.from(e.data ?? '');
    const crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0x0800, 6); lh.writeUInt16LE(0, 8);
    lh.writeUInt16LE(0, 10); lh.writeUInt16LE(0x21, 12); lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(data.length, 22); lh.writeUInt16LE(name.length, 26); lh.writeUInt16LE(0, 28);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE((3 << 8) | 20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(0x0800, 8);
    ch.writeUInt16LE(0, 10); ch.writeUInt16LE(0, 12); ch.writeUInt16LE(0x21, 14); ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(data.length, 20); ch.writeUInt32LE(data.length, 24); ch.writeUInt16LE(name.length, 28);
    ch.writeUInt16LE(0, 30); ch.writeUInt16LE(0, 32); ch.writeUInt16LE(0, 34); ch.writeUInt16LE(0, 36);
    const mode = e.mode ?? (e.name.endsWith('/') ? 0o040755 : 0o100644);
    ch.writeUInt32LE((mode << 16) >>> 0, 38); ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, data);
    centrals.push(ch, name);
    offset += lh.length + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ---------- fixtures: a file: repository, an http server, a cache ----------

const work = mkdtempSync(join(tmpdir(), `l3af-artifacts-${process.pid}-`));
const repoDir = join(work, 'repo');
const repoUrl = pathToFileURL(repoDir).href;
const PLATFORM = 'jammy';
let cacheN = 0;
const newCache = () => join(work, `cache-${++cacheN}`);

/** Puts an artifact into the file: repository and the http server (optionally with a .sha256). */
const served = new Map<string, Buffer>();
function publish(name: string, version: string, artifact: string, bytes: Buffer, sum: string | null = sha(bytes)): void {
  const rel = `${name}/${version}/${PLATFORM}/${artifact}`;
  mkdirSync(join(repoDir, name, version, PLATFORM), { recursive: true });
  writeFileSync(join(repoDir, rel), bytes);
  served.set(`/repo/${rel}`, bytes);
  const sumPath = join(repoDir, `${rel}.sha256`);
  if (sum === null) {
    rmSync(sumPath, { force: true });
    served.delete(`/repo/${rel}.sha256`);
  } else {
    writeFileSync(sumPath, `${sum}  ${artifact}\n`);
    served.set(`/repo/${rel}.sha256`, Buffer.from(`${sum}  ${artifact}\n`));
  }
}

let server: Server;
let httpBase = '';
const openResponses = new Set<ServerResponse>();
before(async () => {
  server = createServer((req, res) => {
    openResponses.add(res);
    res.on('close', () => openResponses.delete(res));
    const path = req.url ?? '';
    if (path.startsWith('/stall-') && path.endsWith('.sha256')) {
      res.writeHead(404).end(); // so the stall hits the artifact transfer itself
      return;
    }
    if (path.startsWith('/stall-body/')) {
      // Headers and a first chunk, then silence: the idle (body) timeout must fire.
      res.writeHead(200, { 'content-length': '1000000' });
      res.write(Buffer.alloc(1000));
      return;
    }
    if (path.startsWith('/stall-headers/')) return; // never answers
    if (path.startsWith('/huge/') && !path.endsWith('.sha256')) {
      res.writeHead(200, { 'content-length': String(50 * 1024 * 1024) });
      res.end();
      return;
    }
    const body = served.get(path);
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': String(body.length), 'content-type': 'application/octet-stream' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  httpBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const r of openResponses) r.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(work, { recursive: true, force: true });
});

function store(extra: Partial<ArtifactStoreOptions> = {}): ArtifactStore {
  return new ArtifactStore({ cacheDir: newCache(), repoUrl, platform: PLATFORM, ...extra });
}

async function expectCode(p: Promise<unknown>, code: ArtifactErrorCode, re?: RegExp): Promise<ArtifactError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ArtifactError, `not an ArtifactError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.url.length > 0);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected ${code}`);
}

const goodTar = () => tarGz([
  { name: 'l3af_counter/', type: '5' },
  { name: 'l3af_counter/counter.bpf.o', data: 'ELF-ish bytes' },
  { name: 'l3af_counter/bin/helper', data: '#!/bin/sh\necho RUNNING\n', mode: 0o4755 },
  { name: 'l3af_counter/current', type: '2', linkname: 'counter.bpf.o' },
]);

// ---------- tests ----------

test('tar.gz from a file: repository: verified, extracted, modes sanitised, then served from the cache', async () => {
  const bytes = goodTar();
  publish('counter', '1.0.0', 'l3af_counter.tar.gz', bytes);
  const s = store();
  const a = await s.fetch({ name: 'counter', version: '1.0.0', artifact: 'l3af_counter.tar.gz' });
  assert.equal(a.sha256, sha(bytes));
  assert.equal(a.cached, false);
  assert.equal(a.downloaded, true);
  assert.equal(a.url, `${repoUrl}/counter/1.0.0/jammy/l3af_counter.tar.gz`);
  assert.equal(a.dir, join(a.root, 'l3af_counter'));
  assert.equal(readFileSync(join(a.dir, 'counter.bpf.o'), 'utf8'), 'ELF-ish bytes');
  assert.equal(readlinkSync(join(a.dir, 'current')), 'counter.bpf.o');
  const mode = statSync(join(a.dir, 'bin', 'helper')).mode & 0o7777;
  assert.equal(mode, 0o755, 'setuid dropped, execute kept');
  // Second fetch: the .sha256 names a cached folder, nothing is transferred.
  const b = await s.fetch({ name: 'counter', version: '1.0.0', artifact: 'l3af_counter.tar.gz' });
  assert.deepEqual({ ...b, cached: true, downloaded: false }, b);
  assert.equal(b.root, a.root);
  // No leftovers in the temporary area.
  assert.deepEqual(readdirSync(join(a.root, '..', '.tmp')), []);
  await s.close();
});

test('zip over http from a local server, checksum required and present', async () => {
  const bytes = zip([
    { name: 'l3af_zipped/' },
    { name: 'l3af_zipped/prog.bpf.o', data: 'object' },
    { name: 'l3af_zipped/run.sh', data: 'echo hi', mode: 0o100755 },
    { name: 'l3af_zipped/link', data: 'prog.bpf.o', mode: 0o120777 },
  ]);
  publish('zipped', 'latest', 'l3af_zipped.zip', bytes);
  const s = store({ repoUrl: `${httpBase}/repo/` });
  const a = await s.fetch({ name: 'zipped', version: 'latest', artifact: 'l3af_zipped.zip' });
  assert.equal(a.url, `${httpBase}/repo/zipped/latest/jammy/l3af_zipped.zip`);
  assert.equal(readFileSync(join(a.dir, 'prog.bpf.o'), 'utf8'), 'object');
  assert.equal(statSync(join(a.dir, 'run.sh')).mode & 0o777, 0o755);
  assert.equal(readlinkSync(join(a.dir, 'link')), 'prog.bpf.o');
  await s.close();
});

test('per-program repository URL overrides the store default', async () => {
  const bytes = goodTar();
  publish('counter', '2.0.0', 'l3af_counter.tar.gz', bytes);
  const s = store({ repoUrl: 'http://127.0.0.1:9/unused' });
  const a = await s.fetch({ name: 'counter', version: '2.0.0', artifact: 'l3af_counter.tar.gz', repoUrl: `${httpBase}/repo` });
  assert.ok(a.url.startsWith(httpBase));
  await s.close();
});

test('bad sha256 → CHECKSUM_MISMATCH (http and file), malformed .sha256 too', async () => {
  const bytes = goodTar();
  publish('tampered', '1', 'l3af_counter.tar.gz', bytes, sha(Buffer.from('other bytes')));
  const h = store({ repoUrl: `${httpBase}/repo` });
  await expectCode(h.fetch({ name: 'tampered', version: '1', artifact: 'l3af_counter.tar.gz' }), 'CHECKSUM_MISMATCH', /differs/);
  await h.close();
  const f = store();
  await expectCode(f.fetch({ name: 'tampered', version: '1', artifact: 'l3af_counter.tar.gz' }), 'CHECKSUM_MISMATCH');
  publish('tampered', '2', 'l3af_counter.tar.gz', bytes, 'not-a-digest');
  await expectCode(f.fetch({ name: 'tampered', version: '2', artifact: 'l3af_counter.tar.gz' }), 'CHECKSUM_MISMATCH', /hex digest/);
  await f.close();
});

test('missing .sha256: accepted over http by default with a warning and a count (as l3afd), refused when required; optional for file:', async () => {
  publish('nosum', '1', 'l3af_counter.tar.gz', goodTar(), null);
  const warned: string[] = [];
  const logger: Logger = { debug: () => undefined, info: () => undefined, warn: (o, msg) => warned.push(`${msg} ${String(o.url)}`), error: () => undefined };
  const before = unverifiedCounts().get('http') ?? 0;
  const h = store({ repoUrl: `${httpBase}/repo`, logger });
  assert.ok((await h.fetch({ name: 'nosum', version: '1', artifact: 'l3af_counter.tar.gz' })).dir);
  await h.close();
  assert.equal(unverifiedCounts().get('http'), before + 1, 'counted as unverified');
  assert.equal(warned.length, 1);
  assert.match(warned[0] ?? '', /no \.sha256 .* unverified .*\/repo\/nosum\/1\//);
  const strict = store({ repoUrl: `${httpBase}/repo`, checksumRequiredHttp: true });
  await expectCode(strict.fetch({ name: 'nosum', version: '1', artifact: 'l3af_counter.tar.gz' }), 'CHECKSUM_MISSING');
  await strict.close();
  const f = store();
  assert.ok((await f.fetch({ name: 'nosum', version: '1', artifact: 'l3af_counter.tar.gz' })).dir);
  await f.close();
  const strictFile = store({ checksumRequiredFile: true });
  await expectCode(strictFile.fetch({ name: 'nosum', version: '1', artifact: 'l3af_counter.tar.gz' }), 'CHECKSUM_MISSING');
  await strictFile.close();
});

const hostile: { title: string; artifact: string; bytes: () => Buffer; code: ArtifactErrorCode; re: RegExp }[] = [
  { title: 'tar ".." entry', artifact: 'l3af_x.tar.gz', bytes: () => tarGz([{ name: 'l3af_x/' , type: '5' }, { name: 'l3af_x/../../escape.txt', data: 'x' }]), code: 'UNSAFE_ENTRY', re: /"\.\."/ },
  { title: 'tar absolute path', artifact: 'l3af_x.tar.gz', bytes: () => tarGz([{ name: '/tmp/l3af-abs.txt', data: 'x' }]), code: 'UNSAFE_ENTRY', re: /absolute/ },
  { title: 'tar symlink escaping the folder', artifact: 'l3af_x.tar.gz', bytes: () => tarGz([{ name: 'l3af_x/', type: '5' }, { name: 'l3af_x/etc', type: '2', linkname: '../../../etc' }]), code: 'UNSAFE_ENTRY', re: /points outside/ },
  { title: 'tar absolute symlink', artifact: 'l3af_x.tar.gz', bytes: () => tarGz([{ name: 'l3af_x/passwd', type: '2', linkname: '/etc/passwd' }]), code: 'UNSAFE_ENTRY', re: /points outside/ },
  { title: 'tar hardlink escaping the folder', artifact: 'l3af_x.tar.gz', bytes: () => tarGz([{ name: 'l3af_x/h', type: '1', linkname: '../outside' }]), code: 'UNSAFE_ENTRY', re: /points outside/ },
  { title: 'tar write through an in-archive symlink', artifact: 'l3af_x.tar.gz', bytes: () => tarGz([{ name: 'l3af_x/', type: '5' }, { name: 'l3af_x/up', type: '2', linkname: '.' }, { name: 'l3af_x/up/file', data: 'x' }]), code: 'UNSAFE_ENTRY', re: /under symbolic link/ },
  { title: 'tar character device', artifact: 'l3af_x.tar.gz', bytes: () => tarGz([{ name: 'l3af_x/null', type: '3' }]), code: 'UNSAFE_ENTRY', re: /device/ },
  { title: 'zip ".." entry', artifact: 'l3af_x.zip', bytes: () => zip([{ name: 'l3af_x/../../escape.txt', data: 'x' }]), code: 'UNSAFE_ENTRY', re: /invalid relative path/ },
  { title: 'zip absolute path', artifact: 'l3af_x.zip', bytes: () => zip([{ name: '/tmp/l3af-abs.txt', data: 'x' }]), code: 'UNSAFE_ENTRY', re: /absolute path/ },
  { title: 'zip symlink escaping the folder', artifact: 'l3af_x.zip', bytes: () => zip([{ name: 'l3af_x/etc', data: '../../etc', mode: 0o120777 }]), code: 'UNSAFE_ENTRY', re: /points outside/ },
  { title: 'zip FIFO', artifact: 'l3af_x.zip', bytes: () => zip([{ name: 'l3af_x/fifo', mode: 0o010644 }]), code: 'UNSAFE_ENTRY', re: /device or FIFO/ },
  { title: 'garbage .tar.gz', artifact: 'l3af_x.tar.gz', bytes: () => Buffer.from('this is not gzip at all'.repeat(40)), code: 'BAD_ARCHIVE', re: /tar\.gz/ },
  { title: 'garbage .zip', artifact: 'l3af_x.zip', bytes: () => Buffer.from('PK but not really'.repeat(10)), code: 'BAD_ARCHIVE', re: /zip/ },
  { title: 'archive without the expected top folder', artifact: 'l3af_x.tar.gz', bytes: () => tarGz([{ name: 'other/', type: '5' }, { name: 'other/f', data: 'x' }]), code: 'MISSING_TOPDIR', re: /l3af_x\// },
];

test(`${hostile.length} hostile or broken archives are refused with the right code, leaving nothing behind`, async (t) => {
  let n = 0;
  for (const c of hostile) {
    await t.test(c.title, async () => {
      const version = `h${++n}`;
      publish('hostile', version, c.artifact, c.bytes());
      const cacheDir = newCache();
      const s = new ArtifactStore({ cacheDir, repoUrl, platform: PLATFORM });
      await expectCode(s.fetch({ name: 'hostile', version, artifact: c.artifact }), c.code, c.re);
      await s.close();
      assert.equal(existsSync('/tmp/l3af-abs.txt'), false);
      assert.equal(existsSync(join(work, 'escape.txt')), false);
      assert.deepEqual(readdirSync(join(cacheDir, '.tmp')), [], 'no staging or download left');
      if (c.code !== 'MISSING_TOPDIR') assert.deepEqual(readdirSync(cacheDir), ['.tmp'], 'nothing cached');
    });
  }
});

test('size bounds: extracted bytes, entry count, download size (file and Content-Length)', async () => {
  const bomb = tarGz([{ name: 'l3af_big/', type: '5' }, { name: 'l3af_big/zeros', data: Buffer.alloc(4 * 1024 * 1024) }]);
  assert.ok(bomb.length < 64 * 1024, 'compresses small');
  publish('big', '1', 'l3af_big.tar.gz', bomb);
  const s = store({ maxBytes: 1024 * 1024 });
  await expectCode(s.fetch({ name: 'big', version: '1', artifact: 'l3af_big.tar.gz' }), 'TOO_LARGE', /expands to more than/);
  const many = zip(Array.from({ length: 30 }, (_, i) => ({ name: `l3af_many/f${i}`, data: 'x' })));
  publish('many', '1', 'l3af_many.zip', many);
  const few = store({ maxEntries: 10 });
  await expectCode(few.fetch({ name: 'many', version: '1', artifact: 'l3af_many.zip' }), 'TOO_LARGE', /entries/);
  const tiny = store({ maxBytes: 100 });
  await expectCode(tiny.fetch({ name: 'many', version: '1', artifact: 'l3af_many.zip' }), 'TOO_LARGE', /limit 100/);
  const h = store({ repoUrl: `${httpBase}/huge`, checksumRequiredHttp: false, maxBytes: 1024 * 1024 });
  await expectCode(h.fetch({ name: 'x', version: '1', artifact: 'l3af_x.tar.gz' }), 'TOO_LARGE', /Content-Length/);
  await Promise.all([s.close(), few.close(), tiny.close(), h.close()]);
});

test('missing artifact → NOT_FOUND (file: and http 404)', async () => {
  const f = store();
  await expectCode(f.fetch({ name: 'absent', version: '1', artifact: 'l3af_absent.tar.gz' }), 'NOT_FOUND');
  await f.close();
  const h = store({ repoUrl: `${httpBase}/repo`, checksumRequiredHttp: false });
  await expectCode(h.fetch({ name: 'absent', version: '1', artifact: 'l3af_absent.tar.gz' }), 'NOT_FOUND', /HTTP 404/);
  await h.close();
});

test('unreachable repository (closed localhost port) → UNREACHABLE', async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const s = store({ repoUrl: `http://127.0.0.1:${port}/repo` });
  await expectCode(s.fetch({ name: 'x', version: '1', artifact: 'l3af_x.tar.gz' }), 'UNREACHABLE', /ECONNREFUSED/);
  await s.close();
});

// undici checks its timers about once a second, so a 300 ms idle timeout fires after 0.3-1.5 s.
test('stalled server → TIMEOUT within the idle timeout (body stall and header stall)', async () => {
  const s = store({ repoUrl: `${httpBase}/stall-body`, checksumRequiredHttp: false, idleTimeoutMs: 300 });
  let t0 = Date.now();
  const bodyErr = await expectCode(s.fetch({ name: 'x', version: '1', artifact: 'l3af_x.tar.gz' }), 'TIMEOUT', /UND_ERR_BODY_TIMEOUT/);
  assert.ok(bodyErr.url.endsWith('/l3af_x.tar.gz'), 'the artifact transfer itself stalled');
  const bodyMs = Date.now() - t0;
  assert.ok(bodyMs >= 250 && bodyMs < 3000, `body stall detected after ${bodyMs} ms`);
  const h = store({ repoUrl: `${httpBase}/stall-headers`, checksumRequiredHttp: false, idleTimeoutMs: 300 });
  t0 = Date.now();
  await expectCode(h.fetch({ name: 'x', version: '1', artifact: 'l3af_x.tar.gz' }), 'TIMEOUT', /UND_ERR_HEADERS_TIMEOUT/);
  const headerMs = Date.now() - t0;
  assert.ok(headerMs >= 250 && headerMs < 3000, `header stall detected after ${headerMs} ms`);
  // The overall deadline also holds when the idle timeout is long.
  const total = store({ repoUrl: `${httpBase}/stall-body`, checksumRequiredHttp: false, idleTimeoutMs: 60_000, totalTimeoutMs: 400 });
  t0 = Date.now();
  await expectCode(total.fetch({ name: 'x', version: '1', artifact: 'l3af_x.tar.gz' }), 'TIMEOUT');
  assert.ok(Date.now() - t0 < 3000);
  await Promise.all([s.close(), h.close(), total.close()]);
});

test('content-addressed cache: unchanged latest reused, changed latest fetched and extracted again', async () => {
  const v1 = tarGz([{ name: 'l3af_rolling/', type: '5' }, { name: 'l3af_rolling/VERSION', data: 'one' }]);
  const v2 = tarGz([{ name: 'l3af_rolling/', type: '5' }, { name: 'l3af_rolling/VERSION', data: 'two' }]);
  const cacheDir = newCache();
  const s = new ArtifactStore({ cacheDir, repoUrl, platform: PLATFORM });
  const ref = { name: 'rolling', version: 'latest', artifact: 'l3af_rolling.tar.gz' };
  // Without .sha256 (file: repo): the bytes are read each time, but extraction happens once per content.
  publish('rolling', 'latest', ref.artifact, v1, null);
  const a = await s.fetch(ref);
  const a2 = await s.fetch(ref);
  assert.equal(a.cached, false);
  assert.equal(a2.cached, true);
  assert.equal(a2.downloaded, true);
  assert.equal(a2.dir, a.dir);
  assert.equal(readFileSync(join(a.dir, 'VERSION'), 'utf8'), 'one');
  publish('rolling', 'latest', ref.artifact, v2);
  const b = await s.fetch(ref);
  assert.equal(b.cached, false, 'new content is extracted');
  assert.notEqual(b.sha256, a.sha256);
  assert.equal(readFileSync(join(b.dir, 'VERSION'), 'utf8'), 'two');
  assert.equal(readFileSync(join(a.dir, 'VERSION'), 'utf8'), 'one', 'the old content stays for programs still using it');
  // Back to v1 with a .sha256: recognised from the checksum alone, no transfer.
  publish('rolling', 'latest', ref.artifact, v1);
  const c = await s.fetch(ref);
  assert.deepEqual([c.cached, c.downloaded, c.sha256], [true, false, a.sha256]);
  // Concurrent fetches of one URL share one operation.
  publish('rolling', 'latest', ref.artifact, tarGz([{ name: 'l3af_rolling/VERSION', data: 'three' }]));
  const [d1, d2] = await Promise.all([s.fetch(ref), s.fetch(ref)]);
  assert.equal(d1, d2);
  await s.close();
});

test('large downloads report progress (every step or 10 %) to the logger', async () => {
  // Random bytes do not compress: the archive is about 3.5 MiB.
  const padded = tarGz([{ name: 'l3af_large/', type: '5' }, { name: 'l3af_large/blob', data: randomBytes(3.5 * 1024 * 1024) }]);
  publish('large', '1', 'l3af_large.tar.gz', padded);
  const lines: { msg: string; obj: Record<string, unknown> }[] = [];
  const logger: Logger = {
    info: (obj, msg) => lines.push({ obj, msg }),
    debug: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  // Step 256 KiB < 10 % of the size: one line per 10 %.
  const step = 256 * 1024;
  const s = store({ repoUrl: `${httpBase}/repo`, logger, progressStepBytes: step });
  await s.fetch({ name: 'large', version: '1', artifact: 'l3af_large.tar.gz' });
  await s.close();
  const progress = lines.filter((l) => l.msg === 'downloading package');
  assert.ok(progress.length >= 8 && progress.length <= 10, `${progress.length} progress lines`);
  const received = progress.map((l) => l.obj.receivedBytes as number);
  assert.deepEqual([...received].sort((x, y) => x - y), received, 'monotonic');
  assert.ok(progress.every((l) => l.obj.totalBytes === padded.length && typeof l.obj.percent === 'number'));
  const done = lines.filter((l) => l.msg === 'package downloaded');
  assert.equal(done.length, 1);
  assert.equal(done[0]?.obj.receivedBytes, padded.length);
  assert.equal(done[0]?.obj.percent, 100);
  // A small file produces no progress lines.
  lines.length = 0;
  const quiet = store({ logger });
  await quiet.fetch({ name: 'counter', version: '1.0.0', artifact: 'l3af_counter.tar.gz' });
  await quiet.close();
  assert.deepEqual(lines, []);
});

test('artifact not .tar.gz/.zip: the folder l3afd would use ({bpf-dir}/{name}/{version}/{top}) when present, else l3afd\'s "unknown artifact format"', async () => {
  const bpfDir = join(work, 'provisioned');
  const top = join(bpfDir, 'legacy', 'latest', 'l3af_legacy');
  mkdirSync(top, { recursive: true });
  writeFileSync(join(top, 'legacy.bpf.o'), 'ELF-ish');
  const s = store({ provisionedDir: bpfDir });
  const a = await s.fetch({ name: 'legacy', version: 'latest', artifact: 'l3af_legacy.bin' });
  assert.equal(a.dir, top);
  assert.equal(a.sha256, undefined);
  assert.equal(a.cached, true);
  assert.equal(a.downloaded, false);
  await expectCode(s.fetch({ name: 'absent', version: 'latest', artifact: 'l3af_absent.tgz' }), 'BAD_ARCHIVE', /unknown artifact format.*absent\/latest\/l3af_absent/);
  await s.close();
});

test('URL building: path-joined, segments validated', () => {
  const s = store({ repoUrl: 'https://repo.example.com/base/' });
  assert.equal(s.artifactUrl({ name: 'ratelimiting', version: 'latest', artifact: 'l3af_ratelimiting.tar.gz' }).href,
    'https://repo.example.com/base/ratelimiting/latest/jammy/l3af_ratelimiting.tar.gz');
  assert.equal(s.artifactUrl({ name: 'a', version: '1', artifact: 'b.zip', repoUrl: 'file:///srv/l3afd' }).href, 'file:///srv/l3afd/a/1/jammy/b.zip');
  assert.throws(() => s.artifactUrl({ name: '..', version: '1', artifact: 'b.zip' }), ArtifactError);
  assert.throws(() => s.artifactUrl({ name: 'a', version: 'x/y', artifact: 'b.zip' }), ArtifactError);
  void s.close();
});

test('artifactStoreOptions maps the agent configuration', async () => {
  const config = defaultConfig({ stateDir: join(work, 'state'), repoUrl });
  const o = artifactStoreOptions(config, PLATFORM);
  assert.equal(o.cacheDir, config.l3afd.bpfDir);
  assert.equal(o.idleTimeoutMs, 30_000);
  assert.equal(o.connectTimeoutMs, 10_000);
  assert.equal(o.totalTimeoutMs, 600_000, '[l3af] download-timeout');
  assert.equal(o.checksumRequiredHttp, false, 'as l3afd: no checksum required by default');
  assert.equal(o.provisionedDir, config.l3afd.bpfDir);
  const s = new ArtifactStore(o);
  const a = await s.fetch({ name: 'counter', version: '1.0.0', artifact: 'l3af_counter.tar.gz' });
  assert.ok(a.dir.startsWith(config.l3afd.bpfDir));
  await s.close();
});
