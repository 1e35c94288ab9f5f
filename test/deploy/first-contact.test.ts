/**
 * First contact, end to end: the README's `npm ci && npm start` in a fresh container — Debian
 * bookworm (minbase) with only Node and npm added, the checkout copied in, none of clang, llvm,
 * libbpf, bpftool, iproute2 or make present — installs what it needs (scripts/system-deps.ts) and
 * the agent answers the seed payload and its GET. The container gets Docker's default capabilities
 * plus the agent's SYS_ADMIN and NET_ADMIN (privileged is refused on this VM: its bounding set lacks
 * CAP_SYS_RESOURCE) and the host's network (to reach Debian and npm, and to see the test's veth).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostName } from '../../agent/src/platform/host.ts';
import { ROOT } from '../engine/helpers.ts';
import { VethLab, skipUnless } from '../harness/index.ts';
import { LOCAL_IMAGES, PrivateDocker, cacheDir, ensureLocalBaseImages, runEnv } from '../harness/docker.ts';
import { http, portFree, until, xdpProgId } from './containers.ts';
import { seedPayload } from './seed.ts';

const skip = await skipUnless('root', 'netns', 'veth');
// Docker's default capabilities (apt-get and npm install as root need them) plus the agent's two
const CAPS = ['SYS_ADMIN', 'NET_ADMIN'];

/** A tarball of the checkout as git sees it (tracked and new files, not the ignored ones: no node_modules, no builds). */
async function checkoutTarball(dir: string): Promise<string> {
  const list = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(list.status, 0, list.stderr);
  const files = list.stdout.split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)));
  const tar = join(dir, 'checkout.tar');
  await runEnv('tar', ['-C', ROOT, '--null', '-T', '-', '-cf', tar], { input: `${files.join('\0')}\0`, timeoutMs: 120_000 });
  return tar;
}

test('fresh Debian + Node: `npm ci && npm start` installs clang & co. and the agent answers the seed payload', { skip, timeout: 1_500_000 }, async (t) => {
  for (const port of [53000, 8898]) assert.ok(await portFree(port), `127.0.0.1:${port} is taken (npm start's embedded default uses it)`);
  const docker = await PrivateDocker.start();
  const lab = await VethLab.create();
  const dir = mkdtempSync(join(tmpdir(), 'l3af-first-contact-'));
  const name = `l3af-first-contact-${process.pid}`;
  t.after(async () => {
    await docker.docker(['rm', '-f', name]).catch(() => undefined);
    await docker.dispose();
    await lab.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  await ensureLocalBaseImages(docker);
  // the base really lacks what npm start needs
  const bare = await docker.docker(['run', '--rm', '--network', 'none', LOCAL_IMAGES.node, 'sh', '-c', 'for p in clang llvm-strip bpftool ip make; do command -v $p || echo "no $p"; done; ls /usr/include/bpf 2>&1 | head -1; node --version'], { timeoutMs: 60_000 });
  t.diagnostic(`fresh container: ${bare.stdout.trim().split('\n').join('; ')}`);
  for (const p of ['clang', 'llvm-strip', 'bpftool', 'ip', 'make']) assert.match(bare.stdout, new RegExp(`^no ${p}$`, 'm'));

  const tar = await checkoutTarball(dir);
  const downloads = { apt: join(cacheDir(), 'first-contact', 'apt-archives'), npm: join(cacheDir(), 'first-contact', 'npm-cache') };
  for (const d of Object.values(downloads)) mkdirSync(join(d, 'partial'), { recursive: true });
  const t0 = Date.now();
  await docker.docker([
    'run', '-d', '--name', name, '--network', 'host', ...CAPS.flatMap((c) => ['--cap-add', c]),
    '--security-opt', 'apparmor=unconfined',
    '--mount', `type=bind,source=${tar},target=/checkout.tar,readonly`,
    // downloads only (Debian's .deb files, npm's tarballs) are kept between runs: what is installed
    // is still decided and done by the two commands in the fresh container
    '--mount', `type=bind,source=${downloads.apt},target=/var/cache/apt/archives`,
    '--mount', `type=bind,source=${downloads.npm},target=/root/.npm`,
    '-e', 'CI=', '-w', '/src', LOCAL_IMAGES.node,
    'sh', '-c', 'exec 2>&1; tar -xf /checkout.tar -C /src && echo "$ npm ci && npm start" && npm ci --no-audit --no-fund && npm start',
  ], { timeoutMs: 60_000 });
  const logs = async (): Promise<string> => {
    const r = await docker.docker(['logs', name], { timeoutMs: 30_000 });
    return r.stdout + r.stderr;
  };
  const api = 'http://127.0.0.1:53000/l3af/configs/v1';
  let exited = '';
  await until('the agent in the fresh container serving its REST API', 900_000, async () => {
    const state = (await docker.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name])).stdout.trim();
    if (!state.startsWith('running')) {
      exited = state;
      return false;
    }
    return (await http(api)).status === 200 ? true : undefined;
  }, 2_000).catch(async (err: unknown) => assert.fail(`${String(err)}\n${(await logs()).slice(-3000)}`));
  if (exited !== '') assert.fail(`the container stopped (${exited}):\n${(await logs()).slice(-3000)}`);
  const readyMs = Date.now() - t0;
  const transcript = await logs();
  // what the deps step did: one line naming what was missing, then the apt-get command it ran
  const lines = transcript.split('\n');
  const depLines = lines.filter((l) => l.startsWith('l3af: '));
  t.diagnostic(`npm ci && npm start: REST API up after ${(readyMs / 1000).toFixed(0)} s; deps step said:\n${depLines.join('\n')}`);
  const startAt = lines.findIndex((l) => l.startsWith('> l3af@') && l.endsWith(' start'));
  const picked = lines.filter((l, i) => i < 3 || (i >= startAt && i <= startAt + 3) || l.startsWith('l3af: ')
    || /^Setting up (make|clang|llvm|libbpf-dev|bpftool|iproute2) /.test(l) || /^added \d+ packages/.test(l) || /"msg":"REST API http/.test(l));
  t.diagnostic(`transcript (${lines.length} lines; the commands, the deps step, the packages set up, the start line):\n${picked.join('\n')}`);
  assert.match(transcript, /^l3af: npm start needs .*clang.*: installing .*\bclang\b/m);
  assert.match(transcript, /^l3af: \+ apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends .*\bclang\b.*\bbpftool\b.*\biproute2\b/m);
  assert.match(transcript, /REST API http:\/\/127\.0\.0\.1:53000, Swagger UI http:\/\/127\.0\.0\.1:53000\/swagger, metrics http:\/\/127\.0\.0\.1:8898\/metrics; state \/src\/\.state/);

  const added = await http(`${api}/add`, 'POST', seedPayload(hostName(), lab.rootIfname));
  assert.equal(added.status, 200, added.text);
  const got = await http(`${api}/${lab.rootIfname}?status=true`);
  assert.equal(got.status, 200, got.text);
  const body = got.json as { iface: string; bpf_programs: { xdp_ingress: Array<{ name: string; status?: { attached?: boolean } }> } };
  assert.equal(body.iface, lab.rootIfname);
  assert.equal(body.bpf_programs.xdp_ingress[0]?.name, 'ratelimiting');
  assert.equal(body.bpf_programs.xdp_ingress[0]?.status?.attached, true);
  assert.ok((await xdpProgId(lab.rootIfname)) !== undefined, 'the agent in the container attached XDP on the host interface');
  const swagger = await http('http://127.0.0.1:53000/swagger/');
  assert.equal(swagger.status, 200, 'Swagger UI is on in the embedded default');
  // the second start finds everything: the deps step is silent
  const again = await docker.docker(['exec', '-w', '/src', name, 'node_modules/.bin/tsx', 'scripts/system-deps.ts', 'start'], { timeoutMs: 60_000 });
  assert.equal(again.stdout + again.stderr, '');
});
