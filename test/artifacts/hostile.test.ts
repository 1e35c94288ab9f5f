// ArtifactStore against a hostile http repository on 127.0.0.1, in process (issue 14): a body the store refuses,
// answered with Connection: close, used to kill the process from undici's socket 'end' handler
// (assert(!this.paused), nodejs/undici#5360) — the loop below ran the process into it within a few fetches;
// redirects still followed; extraction bounded by the expansion ratio; gzip of zeros stops at the tar end marker;
// a link chain leading out refused (tar: node-tar's own check; zip: the real-path check after extraction).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, gzipSync } from 'node:zlib';
import { ArtifactError, ArtifactStore, type ArtifactErrorCode } from '../../agent/src/artifacts/index.ts';

const PLATFORM = 'jammy';
let work = '';
let server: Server;
let base = '';
const bodies = new Map<string, { body: Buffer; close?: boolean }>();

function header(name: string, size: number, type = '0', linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  const oct = (off: number, len: number, v: number): void => void h.write(`${v.toString(8).padStart(len - 1, '0')}\0`, off, len, 'ascii');
  oct(100, 8, type === '5' ? 0o755 : 0o644); oct(108, 8, 0); oct(116, 8, 0); oct(124, 12, size); oct(136, 12, 1_700_000_000);
  h.write('        ', 148, 8, 'ascii');
  h.write(type, 156, 1, 'ascii');
  if (linkname) h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii'); h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'l3af-hostile-unit-'));
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path.endsWith('.sha256')) { res.writeHead(404); res.end(); return; }
    if (path.startsWith('/redirect/')) { res.writeHead(302, { location: path.replace('/redirect/', '/') }); res.end(); return; }
    const name = path.split('/')[1] ?? '';
    const b = bodies.get(name);
    if (!b) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-length': b.body.length, ...(b.close ? { connection: 'close' } : {}) });
    res.end(b.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(work, { recursive: true, force: true });
});

function store(extra: Partial<ConstructorParameters<typeof ArtifactStore>[0]> = {}): ArtifactStore {
  return new ArtifactStore({ cacheDir: join(work, 'cache'), repoUrl: base, platform: PLATFORM, checksumRequiredHttp: false, ...extra });
}

async function expectCode(p: Promise<unknown>, code: ArtifactErrorCode, pattern?: RegExp): Promise<ArtifactError> {
  const e = await p.then(() => assert.fail(`expected ${code}`), (err: unknown) => err);
  assert.ok(e instanceof ArtifactError, String(e));
  assert.equal(e.code, code, e.message);
  if (pattern) assert.match(e.message, pattern);
  return e;
}

test('refused bodies answered with Connection: close, 15 times each: named errors, the process lives on (undici #5360)', { timeout: 120_000 }, async () => {
  const s = store({ maxBytes: 1024 * 1024 });
  for (let i = 0; i < 15; i++) {
    bodies.set(`garbage${i}`, { body: Buffer.alloc(512 * 1024 + i, 0x41), close: true });
    await expectCode(s.fetch({ name: `garbage${i}`, version: '1', artifact: 'x.tar.gz' }), 'BAD_ARCHIVE', /not a readable/);
    bodies.set(`big${i}`, { body: Buffer.alloc(2 * 1024 * 1024 + i, 0x41), close: i % 2 === 0 });
    await expectCode(s.fetch({ name: `big${i}`, version: '1', artifact: 'x.tar.gz' }), 'TOO_LARGE');
  }
  await new Promise((r) => setTimeout(r, 200)); // the crash came from a later socket event
  assert.deepEqual(readdirSync(join(work, 'cache', '.tmp')), [], 'no download or staging left');
  await s.close();
});

test('redirects are still followed (up to 5)', async () => {
  const tgz = gzipSync(Buffer.concat([header('l3af_r/', 0, '5'), header('l3af_r/a.txt', 2), Buffer.from('hi'), Buffer.alloc(510), Buffer.alloc(1024)]));
  bodies.set('redir', { body: tgz });
  const s = store({ repoUrl: `${base}redirect/` });
  const got = await s.fetch({ name: 'redir', version: '1', artifact: 'l3af_r.tar.gz' });
  assert.equal(got.downloaded, true);
  await s.close();
});

test('expansion ratio bounded as bytes flow; gzip of zeros stops at the tar end marker', { timeout: 60_000 }, async () => {
  const MiB = 1024 * 1024;
  // a real tar holding 64 MiB of zeros: expands ~1000 times, refused past the 32 MiB floor
  const bomb = gzipSync(Buffer.concat([header('l3af_b/', 0, '5'), header('l3af_b/z', 64 * MiB), Buffer.alloc(64 * MiB), Buffer.alloc(1024)]));
  bodies.set('ratio', { body: bomb });
  const s = store({ maxBytes: 512 * MiB });
  await expectCode(s.fetch({ name: 'ratio', version: '1', artifact: 'l3af_b.tar.gz' }), 'TOO_LARGE', /expands more than 200 times/);
  bodies.set('zeros', { body: gzipSync(Buffer.alloc(256 * MiB)) });
  await expectCode(s.fetch({ name: 'zeros', version: '1', artifact: 'l3af_b.tar.gz' }), 'BAD_ARCHIVE', /Unrecognized archive format/);
  bodies.set('nested', { body: gzipSync(gzipSync(Buffer.alloc(1024))) });
  await expectCode(s.fetch({ name: 'nested', version: '1', artifact: 'l3af_b.tar.gz' }), 'BAD_ARCHIVE', /another compressed stream/);
  await s.close();
});

/** A stored zip; `link` entries are unix symlinks whose data is the target. */
function zipOf(entries: { name: string; data?: string; link?: boolean }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const data = Buffer.from(e.data ?? '');
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt32LE(crc32(data), 14);
    lh.writeUInt32LE(data.length, 18); lh.writeUInt32LE(data.length, 22); lh.writeUInt16LE(name.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE((3 << 8) | 20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt32LE(crc32(data), 16);
    ch.writeUInt32LE(data.length, 20); ch.writeUInt32LE(data.length, 24); ch.writeUInt16LE(name.length, 28);
    const mode = e.link ? 0o120777 : e.name.endsWith('/') ? 0o040755 : 0o100644;
    ch.writeUInt32LE((mode << 16) >>> 0, 38); ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, data);
    centrals.push(ch, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

test('a chain of links that each look inside but lead out is refused (zip and tar); nothing kept', async () => {
  // l3af_c/sub/up -> ..  ;  l3af_c/obj.o -> sub/up/ x12 then ../ x12 then etc/hostname: lexically inside, really /etc/hostname
  const link = `${'sub/up/'.repeat(12)}${'../'.repeat(12)}etc/hostname`;
  bodies.set('chainzip', { body: zipOf([
    { name: 'l3af_c/' }, { name: 'l3af_c/sub/' }, { name: 'l3af_c/sub/up', data: '..', link: true }, { name: 'l3af_c/obj.o', data: link, link: true },
  ]) });
  const s = store();
  await expectCode(s.fetch({ name: 'chainzip', version: '1', artifact: 'l3af_c.zip' }), 'UNSAFE_ENTRY', /link "l3af_c\/obj\.o" resolves outside the package/);
  bodies.set('chaintar', { body: gzipSync(Buffer.concat([
    header('l3af_c/', 0, '5'), header('l3af_c/sub/', 0, '5'), header('l3af_c/sub/up', 0, '2', '..'), header('l3af_c/obj.o', 0, '2', link), Buffer.alloc(1024),
  ])) });
  await expectCode(s.fetch({ name: 'chaintar', version: '1', artifact: 'l3af_c.tar.gz' }), 'UNSAFE_ENTRY');
  const kept = readdirSync(join(work, 'cache'), { recursive: true }).map(String);
  assert.ok(!kept.some((f) => f.includes('l3af_c')), `nothing of the refused packages kept in the cache: ${kept.join(', ')}`);
  await s.close();
});
