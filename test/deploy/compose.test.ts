/**
 * The compose stack, run for real: deploy/docker-compose.yml with an override that only swaps the
 * images (local bases: no registry here), agent + Prometheus + node_exporter `up` in a private
 * Docker engine; the README's seed payload through the containerised agent's REST API loads
 * ratelimiting on a veth lab's host-side interface, SYNs over the rate are dropped, Prometheus in
 * its container scrapes the agent and evaluates the recording rules, `docker restart` of the agent
 * keeps the XDP program and counts every SYN sent meanwhile (pins on the host's bpffs), `down`
 * leaves the data plane running (deploy/README.md). Grafana is not started: no Grafana image is
 * reachable (its plugin build stage is built by test/deploy/images.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostName } from '../../agent/src/platform/host.ts';
import { ROOT } from '../engine/helpers.ts';
import { VethLab, connectTcp, listenTcp, skipUnless } from '../harness/index.ts';
import { LOCAL_IMAGES, PrivateDocker, buildAgentImage, debianVersions, ensureLocalBaseImages } from '../harness/docker.ts';
import { HOST_BPFFS, hostBpffs, makeShared, http, pinnedCounter, portFree, progInfo, promQuery, until, xdpProgId } from './containers.ts';
import { SEED_PORTS, SEED_RATE, seedPayload } from './seed.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');
const AGENT_TEST_IMAGE = 'l3af-test/agent:test';
const COMPOSE = join(ROOT, 'deploy', 'docker-compose.yml');
const PORTS = { rest: 53000, metrics: 8898, prometheus: 9090, nodeExporter: 9100 };

test('compose: agent + Prometheus + node_exporter from deploy/docker-compose.yml drive the host kernel', { skip, timeout: 1_500_000 }, async (t) => {
  const t0 = Date.now();
  const mark = (what: string): void => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  for (const [name, port] of Object.entries(PORTS)) {
    assert.ok(await portFree(port), `127.0.0.1:${port} (${name}) is taken: the compose stack listens on the host network`);
  }
  const bpffs = await hostBpffs();
  // node_exporter binds / with rslave: Docker wants the host's / shared or slave (as on systemd hosts)
  const unshareRoot = await makeShared('/');
  const docker = await PrivateDocker.start();
  const lab = await VethLab.create();
  const dir = mkdtempSync(join(tmpdir(), 'l3af-compose-'));
  const project = `l3afcompose${process.pid}`;
  const override = join(dir, 'images.override.yml');
  // the override swaps images only: everything else is the file a user runs
  writeFileSync(override, [
    'services:',
    `  agent: { image: "${AGENT_TEST_IMAGE}" }`,
    `  prometheus: { image: "${LOCAL_IMAGES.prometheus}" }`,
    `  node-exporter: { image: "${LOCAL_IMAGES.nodeExporter}" }`,
    '',
  ].join('\n'));
  const files = [COMPOSE, override];
  t.after(async () => {
    await docker.compose(project, files, ['down', '-v', '--timeout', '10']).catch((e: unknown) => t.diagnostic(`down -v: ${String(e)}`));
    await docker.dispose();
    await lab.dispose();
    await bpffs.cleanup(lab.rootIfname);
    await unshareRoot();
    const changed = docker.hostChanges();
    assert.deepEqual(changed, [], 'the private engine left the host network settings as they were');
    rmSync(dir, { recursive: true, force: true });
  });

  const built = await ensureLocalBaseImages(docker);
  mark(`local base images ready (built now: ${built.length === 0 ? 'none, all cached' : built.join(', ')})`);
  await buildAgentImage(docker, ROOT, AGENT_TEST_IMAGE);
  mark('agent image built from deploy/Dockerfile (BUILD_IMAGE/RUNTIME_IMAGE = local Node base)');
  const versions = await debianVersions(docker, LOCAL_IMAGES.prometheus, ['prometheus', 'prometheus-node-exporter']);
  t.diagnostic(`tested against Debian prometheus ${versions.prometheus}, prometheus-node-exporter ${versions['prometheus-node-exporter']}`);

  // --- up: the compose file's depends_on waits for the agent's and node_exporter's health checks
  await docker.compose(project, files, ['up', '-d', '--no-build', 'agent', 'node-exporter', 'prometheus'], { timeoutMs: 300_000 });
  mark('compose up returned');
  const id = async (service: string): Promise<string> => (await docker.compose(project, files, ['ps', '-q', service])).stdout.trim();
  const ids = { agent: await id('agent'), prometheus: await id('prometheus'), nodeExporter: await id('node-exporter') };
  const health = async (cid: string): Promise<string> => (await docker.docker(['inspect', '-f', '{{.State.Health.Status}}', cid])).stdout.trim();
  for (const [name, cid] of Object.entries(ids)) {
    assert.match(cid, /^[0-9a-f]{12,}$/, `${name} container`);
    await until(`${name} healthy`, 90_000, async () => ((await health(cid)) === 'healthy' ? true : undefined), 1_000);
  }
  mark('agent, node-exporter and prometheus report healthy (their compose health checks, in the images as built)');
  const caps = (await docker.docker(['inspect', '-f', '{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}} {{.HostConfig.Privileged}}', ids.agent])).stdout.trim();
  t.diagnostic(`agent container: cap_add cap_drop privileged = ${caps}`);
  assert.match(caps, / false$/, 'the agent container is not privileged');

  // --- the seed payload through the containerised agent's REST API
  const api = `http://127.0.0.1:${PORTS.rest}/l3af/configs/v1`;
  const iface = lab.rootIfname;
  const added = await http(`${api}/add`, 'POST', seedPayload(hostName(), iface));
  assert.equal(added.status, 200, added.text);
  const progId = await until('an XDP program on the lab interface (bpftool on the host)', 30_000, () => xdpProgId(iface));
  const root = await progInfo(progId);
  t.diagnostic(`bpftool net show dev ${iface}: xdp id ${progId} (${root.type} ${root.name})`);
  assert.equal(root.type, 'xdp');
  const pins = join(HOST_BPFFS, iface, 'ratelimiting', 'latest');
  const recvPin = join(pins, 'rl_recv_count_map');
  const dropPin = join(pins, 'rl_drop_count_map');
  const got = await http(`${api}/${iface}`);
  assert.equal(got.status, 200, got.text);
  assert.match(got.text, /"name":\s*"ratelimiting"/);

  // Prometheus in its container scrapes the agent: the program's series is there before the traffic
  const prom = `http://127.0.0.1:${PORTS.prometheus}`;
  await until('up{job="l3af-agent"} == 1', 60_000, async () => ((await promQuery(prom, 'up{job="l3af-agent"} == 1')).length === 1 ? true : undefined), 1_000);
  await until('up{job="node"} == 1', 60_000, async () => ((await promQuery(prom, 'up{job="node"} == 1')).length === 1 ? true : undefined), 1_000);
  const dropSeries = `l3af_map_value{interface="${iface}", program="ratelimiting", map="rl_drop_count_map"}`;
  await until(`${dropSeries} scraped`, 60_000, async () => ((await promQuery(prom, dropSeries)).length === 1 ? true : undefined), 1_000);

  // --- SYNs over the rate are dropped (the seed allows 2 new connections per second to 8080/8081)
  await using _listener = await listenTcp(lab, { port: SEED_PORTS[0] });
  const recv0 = await pinnedCounter(recvPin);
  const burst = await connectTcp(lab, { port: SEED_PORTS[0], attempts: 60, ratePerSec: 20, timeoutMs: 900, reset: true });
  const recv1 = await pinnedCounter(recvPin);
  const drops1 = await pinnedCounter(dropPin);
  t.diagnostic(`burst: ${burst.attempted} SYNs at 20/s: ${burst.connected} connected, ${burst.timedOut} dropped; rl_recv_count_map +${recv1 - recv0}, rl_drop_count_map ${drops1}`);
  assert.equal(recv1 - recv0, BigInt(burst.attempted), 'every SYN reached ratelimiting');
  assert.ok(burst.connected >= 2 && burst.connected <= SEED_RATE * 5 + 2, `about ${SEED_RATE}/s let through over 3 s (got ${burst.connected})`);
  assert.equal(drops1, BigInt(burst.timedOut), 'the SYNs not answered are the ones dropped');

  // --- the recording rules evaluate on what Prometheus scraped
  const recorded = await until('interface:l3af_ratelimiting_drops:rate1m for the lab interface', 90_000, async () => {
    const r = await promQuery(prom, `interface:l3af_ratelimiting_drops:rate1m{interface="${iface}"}`);
    return r.length === 1 && Number(r[0]!.value[1]) > 0 ? Number(r[0]!.value[1]) : undefined;
  }, 1_000);
  mark(`Prometheus scrapes agent and node_exporter; recorded interface:l3af_ratelimiting_drops:rate1m = ${recorded.toFixed(3)}/s`);

  // --- docker restart of the agent: the XDP program stays, every SYN is counted meanwhile
  const recv2 = await pinnedCounter(recvPin);
  const during = connectTcp(lab, { port: SEED_PORTS[0], attempts: 150, ratePerSec: 10, timeoutMs: 900, reset: true });
  await new Promise((r) => setTimeout(r, 2_000));
  const r0 = Date.now();
  await docker.docker(['restart', '--time', '30', ids.agent], { timeoutMs: 60_000 });
  const restartMs = Date.now() - r0;
  const idDuring = await xdpProgId(iface);
  const traffic = await during;
  await until('the agent healthy after the restart', 90_000, async () => ((await health(ids.agent)) === 'healthy' ? true : undefined), 1_000);
  const recv3 = await pinnedCounter(recvPin);
  const idAfter = await xdpProgId(iface);
  t.diagnostic(`restart took ${restartMs} ms; xdp id before ${progId}, right after restart ${idDuring}, after ${idAfter}; `
    + `${traffic.attempted} SYNs at 10/s across the restart: rl_recv_count_map +${recv3 - recv2}, ${traffic.connected} connected, ${traffic.timedOut} dropped`);
  assert.equal(idDuring, progId, 'XDP program id unchanged while the agent restarts');
  assert.equal(idAfter, progId, 'XDP program id unchanged after the restart');
  assert.equal(recv3 - recv2, BigInt(traffic.attempted), 'every SYN sent across the restart was counted');
  assert.ok(traffic.timedOut > 0 && traffic.connected > 0, 'still rate limited across the restart');
  const again = await http(`${api}/${iface}`);
  assert.equal(again.status, 200, again.text);
  assert.match(again.text, /"name":\s*"ratelimiting"/, 'the restarted agent adopted the program from the pins');

  // --- down: the agent stops without unloading (unload-on-stop off): the data plane keeps running
  await docker.compose(project, files, ['down', '--timeout', '30']);
  mark('compose down');
  assert.equal(await xdpProgId(iface), progId, 'after down the XDP program is still attached');
  const recv4 = await pinnedCounter(recvPin);
  const after = await connectTcp(lab, { port: SEED_PORTS[0], attempts: 20, ratePerSec: 20, timeoutMs: 900, reset: true });
  const recv5 = await pinnedCounter(recvPin);
  t.diagnostic(`after down: ${after.attempted} SYNs: ${after.connected} connected, ${after.timedOut} dropped, counted +${recv5 - recv4}`);
  assert.equal(recv5 - recv4, BigInt(after.attempted));
  assert.ok(after.timedOut > 0, 'still rate limited with no agent running');
  mark('done');
});
