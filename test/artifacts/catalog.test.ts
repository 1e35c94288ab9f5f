import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CatalogError, listPackages } from '../../agent/src/artifacts/catalog.ts';

test('a file: repository is walked: name/version/platform/artifact with its sha256', async () => {
  const root = mkdtempSync(join(tmpdir(), 'l3af-catalog-'));
  try {
    for (const [n, v, p] of [['ratelimiting', 'latest', 'bookworm'], ['ratelimiting', '1.0.0', 'bookworm'], ['xdp-root', 'latest', 'jammy']]) {
      const d = join(root, n!, v!, p!);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `l3af_${n!.replace('-', '_')}.tar.gz`), 'x');
      writeFileSync(join(d, `l3af_${n!.replace('-', '_')}.tar.gz.sha256`), `${'ab'.repeat(32)}  l3af_x.tar.gz\n`);
      writeFileSync(join(d, 'README'), 'not an artifact');
    }
    const all = await listPackages(pathToFileURL(root).href);
    assert.deepEqual(all.map((e) => `${e.name}/${e.version}/${e.platform}/${e.artifact}`), [
      'ratelimiting/1.0.0/bookworm/l3af_ratelimiting.tar.gz', 'ratelimiting/latest/bookworm/l3af_ratelimiting.tar.gz', 'xdp-root/latest/jammy/l3af_xdp_root.tar.gz',
    ]);
    assert.equal(all[0]?.sha256, 'ab'.repeat(32));
    assert.equal((await listPackages(pathToFileURL(root).href, { platform: 'jammy' })).length, 1);
    await assert.rejects(listPackages(pathToFileURL(join(root, 'nope')).href), CatalogError);
    await assert.rejects(listPackages('ftp://x/'), /unsupported repository scheme/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an http repository is read from its index.json; none is a clear error', async () => {
  const index = [{ name: 'ratelimiting', version: 'latest', platform: 'bookworm', artifact: 'l3af_ratelimiting.tar.gz' }];
  const server = createServer((req, res) => {
    if (req.url === '/with/index.json') res.end(JSON.stringify(index));
    else if (req.url === '/bad/index.json') res.end('{"x":1}');
    else { res.statusCode = 404; res.end(); }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    assert.deepEqual(await listPackages(`http://127.0.0.1:${port}/with/`), index);
    await assert.rejects(listPackages(`http://127.0.0.1:${port}/without`), /answered 404: this repository publishes no index/);
    await assert.rejects(listPackages(`http://127.0.0.1:${port}/bad`), /not a JSON array/);
  } finally {
    server.close();
  }
});
