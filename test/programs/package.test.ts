// Packaging: the l3afd repository layout, deterministic archives with one top-level folder, sha256 files,
// and the platform segment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { list as tarList, type ReadEntry } from 'tar';
import { PACKAGES, type PackageSpec } from '../../programs/packages.ts';
import { ARCHIVE_MTIME, artifactFolder, buildArtifact, writeRepository } from '../../programs/repository.ts';
import { codenameFromOsRelease, platformName } from '../../agent/src/platform/platform-name.ts';

async function entries(file: string): Promise<Array<{ path: string; type: string; mode: number; mtime: number; size: number }>> {
  const out: Array<{ path: string; type: string; mode: number; mtime: number; size: number }> = [];
  await tarList({
    file,
    onReadEntry: (e: ReadEntry) => {
      out.push({ path: e.path, type: e.type, mode: (e.mode ?? 0) & 0o7777, mtime: e.mtime?.getTime() ?? 0, size: e.size ?? 0 });
    },
  });
  return out;
}

test('package: every package lands at {repo}/{name}/{version}/{platform}/{artifact} with a sha256sum line', async () => {
  const repo = await mkdtemp(join(tmpdir(), `l3af-repo-${process.pid}-`));
  try {
    const written = await writeRepository(repo, 'testplat', PACKAGES);
    assert.equal(written.length, PACKAGES.length * 2, 'latest and the semver of each package');
    for (const spec of PACKAGES) {
      for (const version of ['latest', spec.version]) {
        const dir = join(repo, spec.name, version, 'testplat');
        assert.deepEqual((await readdir(dir)).sort(), [spec.artifact, `${spec.artifact}.sha256`]);
        const data = await readFile(join(dir, spec.artifact));
        const hex = createHash('sha256').update(data).digest('hex');
        assert.equal(await readFile(join(dir, `${spec.artifact}.sha256`), 'utf8'), `${hex}  ${spec.artifact}\n`);
        const folder = artifactFolder(spec.artifact);
        assert.equal(folder, `l3af_${spec.artifact.slice('l3af_'.length, -'.tar.gz'.length)}`);
        const list = await entries(join(dir, spec.artifact));
        const inTree = (path: string): boolean => (spec.trees ?? []).some((t) => path.startsWith(`${folder}/${t.name}/`));
        assert.deepEqual(list.map((e) => e.path).filter((p) => !inTree(p)), [`${folder}/`, ...spec.files.map((f) => `${folder}/${f.name}`).sort()], 'one top-level folder, sorted');
        assert.deepEqual(list.map((e) => e.path), [...list.map((e) => e.path)].sort(), 'every entry sorted');
        for (const t of spec.trees ?? []) assert.ok(list.some((e) => e.path === `${folder}/${t.name}/` && e.type === 'Directory'), `${t.name}/ packed`);
        for (const e of list.slice(1).filter((x) => !inTree(x.path))) {
          const src = spec.files.find((f) => `${folder}/${f.name}` === e.path);
          assert.deepEqual([e.type, e.mode, e.mtime], ['File', src?.mode ?? 0o644, ARCHIVE_MTIME.getTime()], e.path);
          assert.equal(e.size, (await readFile(src!.source)).length);
        }
      }
    }
    assert.deepEqual(PACKAGES.map((p) => p.artifact), [
      'l3af_xdp_root.tar.gz', 'l3af_tc_root.tar.gz', 'l3af_ratelimiting.tar.gz', 'l3af_count_and_pass.tar.gz',
    ]);
  } finally {
    await rm(repo, { recursive: true, force: true });
  }
});

test('package: archives are byte-for-byte reproducible', async () => {
  for (const spec of PACKAGES) {
    const [a, b] = [await buildArtifact(spec), await buildArtifact(spec)];
    assert.ok(a.equals(b), `${spec.name}: same bytes twice`);
  }
});

test('package: bad specs and missing objects fail with a clear message', async () => {
  const tmp = await mkdtemp(join(tmpdir(), `l3af-pkg-bad-${process.pid}-`));
  try {
    const obj = join(tmp, 'x.bpf.o');
    await writeFile(obj, 'x');
    const base: PackageSpec = { name: 'x', artifact: 'l3af_x.tar.gz', version: '1.0.0', files: [{ source: obj, name: 'x.bpf.o' }] };
    await assert.rejects(buildArtifact({ ...base, files: [{ source: join(tmp, 'nope.bpf.o'), name: 'nope.bpf.o' }] }), /nope\.bpf\.o is missing.*make -C programs/);
    await assert.rejects(buildArtifact({ ...base, artifact: 'l3af_x.zip' }), /must end in \.tar\.gz/);
    await assert.rejects(buildArtifact({ ...base, name: '../up' }), /not a plain path segment/);
    await assert.rejects(buildArtifact({ ...base, files: [{ source: obj, name: '../x.bpf.o' }] }), /not a plain file name/);
    await assert.rejects(buildArtifact({ ...base, files: [] }), /no files/);
    await assert.rejects(writeRepository(tmp, 'a/b', [base]), /platform "a\/b"/);
    assert.equal((await entries(await writeTmp(tmp, await buildArtifact(base)))).length, 2);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

async function writeTmp(dir: string, data: Buffer): Promise<string> {
  const p = join(dir, 'out.tar.gz');
  await writeFile(p, data);
  return p;
}

test('platform name: Linux codename from os-release (as lsb_release -cs), fallback linux, Windows', async () => {
  assert.equal(codenameFromOsRelease('NAME="Debian GNU/Linux"\nVERSION_CODENAME=bookworm\nID=debian\n'), 'bookworm');
  assert.equal(codenameFromOsRelease('VERSION_CODENAME="jammy"\nUBUNTU_CODENAME=jammy\n'), 'jammy');
  assert.equal(codenameFromOsRelease('# comment\nUBUNTU_CODENAME=\'noble\'\n'), 'noble');
  assert.equal(codenameFromOsRelease('VERSION_CODENAME=\nUBUNTU_CODENAME=focal\n'), 'focal', 'empty codename falls through');
  assert.equal(codenameFromOsRelease('ID=arch\n'), undefined);
  assert.equal(codenameFromOsRelease('VERSION_CODENAME=a/b\n'), undefined, 'never a path');
  assert.equal(platformName({ os: 'linux', osRelease: 'ID=arch\n' }), 'linux');
  assert.equal(platformName({ os: 'linux', osRelease: 'VERSION_CODENAME=bookworm\n' }), 'bookworm');
  assert.equal(platformName({ os: 'win32' }), 'Windows');
  if (process.platform === 'linux') {
    const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
    assert.equal(platformName(), codenameFromOsRelease(text) ?? 'linux', 'this host');
  }
});
