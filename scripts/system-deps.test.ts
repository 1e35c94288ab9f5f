import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REQUIREMENTS, aptListsPresent, missing, parseOsRelease, plan, present, requirementsFor, type Host, type Probe,
} from './system-deps.ts';

/** A machine that has exactly these programs and files. */
function machine(have: readonly string[]): Probe {
  const set = new Set(have);
  return { program: (n) => set.has(n), file: (p) => set.has(p) };
}
const everything = machine(REQUIREMENTS.flatMap((r) => r.anyOf));
const debianRoot: Host = { root: true, debianLike: true, aptGet: true, distro: 'Debian GNU/Linux 12 (bookworm)' };

test('a machine with everything: nothing missing for start or test, nothing to do', () => {
  assert.deepEqual(missing('start', everything), []);
  assert.deepEqual(missing('test', everything), []);
  assert.deepEqual(plan(missing('test', everything), debianRoot), { action: 'none' });
});

test('start needs only the build and run tools; test needs those and the test tools', () => {
  const start = requirementsFor('start').map((r) => r.pkg);
  assert.deepEqual(start, ['make', 'clang', 'llvm', 'libbpf-dev', 'linux-libc-dev', 'libc6-dev', 'bpftool', 'iproute2']);
  const testPkgs = requirementsFor('test').map((r) => r.pkg);
  for (const p of [...start, 'prometheus', 'prometheus-node-exporter', 'chromium', 'docker.io', 'docker-compose', 'mmdebstrap', 'wine64', 'gcc-mingw-w64-x86-64', 'mingw-w64-x86-64-dev']) {
    assert.ok(testPkgs.includes(p), `npm test needs ${p}`);
  }
  assert.equal(new Set(testPkgs).size, testPkgs.length, 'each package listed once');
});

test('clang missing on Debian as root: install exactly clang with apt-get', () => {
  const probe = machine(REQUIREMENTS.flatMap((r) => r.anyOf).filter((x) => x !== 'clang'));
  const gone = missing('start', probe);
  assert.deepEqual(gone.map((r) => r.pkg), ['clang']);
  const p = plan(gone, debianRoot);
  assert.equal(p.action, 'install');
  if (p.action !== 'install') return;
  assert.deepEqual(p.packages, ['clang']);
  assert.deepEqual(p.command, ['apt-get', '-o', 'DPkg::Lock::Timeout=900', 'install', '-y', '-q', '--no-install-recommends', 'clang']);
});

test('a fresh Debian with only Node: start installs the eight build/run packages, test adds the tools', () => {
  const bare = machine([]);
  const start = plan(missing('start', bare), debianRoot);
  assert.equal(start.action, 'install');
  if (start.action === 'install') assert.deepEqual(start.packages, ['make', 'clang', 'llvm', 'libbpf-dev', 'linux-libc-dev', 'libc6-dev', 'bpftool', 'iproute2']);
  const t = plan(missing('test', bare), debianRoot);
  assert.equal(t.action, 'install');
  if (t.action === 'install') assert.equal(t.packages.length, REQUIREMENTS.length);
});

test('a test-only tool missing does not stop npm start', () => {
  const probe = machine(REQUIREMENTS.flatMap((r) => r.anyOf).filter((x) => x !== 'dockerd' && x !== 'promtool'));
  assert.deepEqual(missing('start', probe), []);
  assert.deepEqual(missing('test', probe).map((r) => r.pkg), ['prometheus', 'docker.io']);
});

test('any one of the alternatives satisfies a requirement (wine64 on PATH or in /usr/lib/wine)', () => {
  const wine = REQUIREMENTS.find((r) => r.pkg === 'wine64');
  assert.ok(wine);
  assert.equal(present(wine, machine(['/usr/lib/wine/wine64'])), true);
  assert.equal(present(wine, machine(['wine64'])), true);
  assert.equal(present(wine, machine([])), false);
});

test('not root on Debian: one line with the sudo apt-get command, nothing installed', () => {
  const p = plan(missing('start', machine(['make', 'ip'])), { ...debianRoot, root: false });
  assert.equal(p.action, 'tell');
  if (p.action !== 'tell') return;
  assert.equal(p.line.split('\n').length, 1);
  assert.match(p.line, /^l3af: missing clang, .*; install them with: sudo apt-get install -y -q --no-install-recommends clang llvm libbpf-dev linux-libc-dev libc6-dev bpftool$/);
});

test('another distribution (even as root): one line naming the Debian packages, nothing installed', () => {
  const p = plan(missing('start', machine([])), { root: true, debianLike: false, aptGet: false, distro: 'Fedora Linux 41' });
  assert.equal(p.action, 'tell');
  if (p.action !== 'tell') return;
  assert.equal(p.line.split('\n').length, 1);
  assert.match(p.line, /Debian names: make clang llvm libbpf-dev linux-libc-dev libc6-dev bpftool iproute2/);
  assert.doesNotMatch(p.line, /sudo/);
});

test('os-release: Debian, Ubuntu (ID_LIKE debian) and Fedora are told apart', () => {
  assert.deepEqual(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'), { id: 'debian', idLike: [], pretty: 'Debian GNU/Linux 12 (bookworm)' });
  assert.deepEqual(parseOsRelease('ID=ubuntu\nID_LIKE=debian\n').idLike, ['debian']);
  assert.equal(parseOsRelease('ID="fedora"\n').id, 'fedora');
});

test('apt lists: a fresh container (no *_Packages) needs apt-get update first', () => {
  const dir = mkdtempSync(join(tmpdir(), 'l3af-apt-lists-'));
  try {
    writeFileSync(join(dir, 'lock'), '');
    assert.equal(aptListsPresent(dir), false);
    writeFileSync(join(dir, 'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4'), '');
    assert.equal(aptListsPresent(dir), true);
    assert.equal(aptListsPresent(join(dir, 'absent')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
