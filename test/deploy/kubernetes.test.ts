/**
 * deploy/kubernetes: every manifest validated against the Kubernetes OpenAPI schemas (the
 * kubernetes-models packages: core and apps from the Kubernetes API's OpenAPI document, the
 * ServiceMonitor from the Prometheus Operator CRD), the kustomization complete, the agent's
 * ConfigMap a valid agent configuration; then the agent image run with the DaemonSet's exact
 * securityContext, volumes and probes translated to `docker run` flags on the real kernel: the seed
 * payload loads and drops, and a new container replacing the old one (a rolling update) keeps the
 * XDP program and counts every packet meanwhile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { Namespace, ServiceAccount, ConfigMap, Service } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { configFromObject } from '../../agent/src/config/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { ROOT } from '../engine/helpers.ts';
import { VethLab, connectTcp, listenTcp, skipUnless } from '../harness/index.ts';
import { PrivateDocker, buildAgentImage, ensureLocalBaseImages } from '../harness/docker.ts';
import { HOST_BPFFS, hostBpffs, http, pinnedCounter, portFree, until, xdpProgId } from './containers.ts';
import { SEED_PORTS, seedPayload } from './seed.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');
const DIR = join(ROOT, 'deploy', 'kubernetes');
const AGENT_IMAGE = 'l3af-test/agent:test';
type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

function manifests(): Array<{ file: string; doc: Doc }> {
  const out: Array<{ file: string; doc: Doc }> = [];
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()) {
    for (const d of parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))) {
      assert.deepEqual(d.errors, [], `${file}: YAML errors`);
      out.push({ file, doc: d.toJS() as Doc });
    }
  }
  return out;
}

/** The schema-checked model of each kind used. */
const MODELS: Record<string, new (d: never) => { validate(): void }> = {
  'v1/Namespace': Namespace, 'v1/ServiceAccount': ServiceAccount, 'v1/ConfigMap': ConfigMap, 'v1/Service': Service,
  'apps/v1/DaemonSet': DaemonSet, 'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

function validate(doc: Doc): void {
  const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
  assert.ok(Model, `no schema for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc as never).validate();
}

function daemonSet(): IDaemonSet {
  const d = manifests().find((m) => m.doc.kind === 'DaemonSet');
  assert.ok(d);
  return d.doc as unknown as IDaemonSet;
}

test('every manifest is valid against the Kubernetes OpenAPI schemas (and the validator does reject)', () => {
  const all = manifests();
  assert.deepEqual(all.map((m) => m.doc.kind).sort(), ['ConfigMap', 'ConfigMap', 'DaemonSet', 'Namespace', 'Service', 'ServiceAccount', 'ServiceMonitor']);
  for (const { file, doc } of all) {
    assert.doesNotThrow(() => validate(doc), `${file}: ${doc.kind} ${doc.metadata.name}`);
    if (doc.kind !== 'Namespace') assert.equal(doc.metadata.namespace, 'l3af', `${file} in the l3af namespace`);
  }
  // the schemas are really applied: wrong types are refused
  const ds = structuredClone(daemonSet()) as unknown as { spec: { template: { spec: Record<string, unknown> } } };
  ds.spec.template.spec.hostNetwork = 'yes';
  assert.throws(() => validate(ds as unknown as Doc), /hostNetwork/);
  const sm = structuredClone(all.find((m) => m.doc.kind === 'ServiceMonitor')!.doc) as Doc & { spec: { endpoints: Array<Record<string, unknown>> } };
  sm.spec.endpoints[0]!.interval = 5;
  assert.throws(() => validate(sm));
});

test('kustomization lists every manifest; namespace and image set', () => {
  const k = parseYaml(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as { apiVersion: string; kind: string; namespace: string; resources: string[]; images: Array<{ name: string }> };
  assert.equal(k.apiVersion, 'kustomize.config.k8s.io/v1beta1');
  assert.equal(k.kind, 'Kustomization');
  assert.equal(k.namespace, 'l3af');
  assert.deepEqual([...k.resources].sort(), readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  assert.deepEqual(k.images.map((i) => i.name), [daemonSet().spec!.template.spec!.containers[0]!.image!.split(':')[0]]);
});

test('DaemonSet: host network, least capabilities, host mounts, probes on the agent, rolling update without surge', () => {
  const ds = daemonSet();
  const pod = ds.spec!.template.spec!;
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.automountServiceAccountToken, false, 'the agent does not talk to the API server: no token, no RBAC');
  const c = pod.containers[0]!;
  assert.equal(c.securityContext?.privileged, false);
  assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
  assert.deepEqual(c.securityContext?.capabilities?.add, ['SYS_ADMIN', 'NET_ADMIN']);
  const hostPaths = Object.fromEntries(pod.volumes!.filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!.path]));
  assert.deepEqual(hostPaths, { bpffs: '/sys/fs/bpf', tracefs: '/sys/kernel/tracing', state: '/var/lib/l3af' });
  assert.equal(c.livenessProbe?.httpGet?.path, '/metrics');
  assert.match((c.readinessProbe?.exec?.command ?? []).join(' '), /127\.0\.0\.1:53000\/l3af\/configs\/v1/);
  assert.deepEqual(ds.spec!.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
  // the compose file grants the same capabilities
  const compose = parseYaml(readFileSync(join(ROOT, 'deploy', 'docker-compose.yml'), 'utf8')) as { services: { agent: { cap_add: string[]; cap_drop: string[] } } };
  assert.deepEqual(compose.services.agent.cap_add, c.securityContext?.capabilities?.add);
  assert.deepEqual(compose.services.agent.cap_drop, ['ALL']);
});

test('ConfigMaps: the agent configuration loads without a warning; Grafana provisioning names the plugin', () => {
  const cms = manifests().filter((m) => m.doc.kind === 'ConfigMap').map((m) => m.doc as Doc & { data: Record<string, string> });
  const agentCm = cms.find((c) => c.metadata.name === 'l3af-agent-config')!;
  const loaded = configFromObject(parseYaml(agentCm.data['l3afd.yaml']!) as Record<string, unknown>, 'configmap');
  assert.deepEqual(loaded.warnings, []);
  assert.equal(loaded.config.l3afd.bpfMapDefaultPath, '/sys/fs/bpf');
  assert.equal(loaded.config.l3af.stateDir, '/var/lib/l3af');
  assert.ok(loaded.config.l3afd.shutdownTimeoutMs < (daemonSet().spec!.template.spec!.terminationGracePeriodSeconds ?? 30) * 1000);
  const pluginId = (JSON.parse(readFileSync(join(ROOT, 'grafana-plugin', 'src', 'plugin.json'), 'utf8')) as { id: string }).id;
  const graf = cms.find((c) => c.metadata.name === 'l3af-grafana-provisioning')!;
  const apps = parseYaml(graf.data['l3af-chains-app.yaml']!) as { apps: Array<{ type: string }> };
  assert.equal(apps.apps[0]!.type, pluginId);
  const ds = parseYaml(graf.data['prometheus.yaml']!) as { datasources: Array<{ uid: string }> };
  assert.equal(ds.datasources[0]!.uid, 'prometheus', 'the uid the dashboards default to');
});

/** `docker run` flags equal to the DaemonSet's pod: securityContext, host network, volumes. */
export function dockerRunFlags(ds: IDaemonSet, hostDirs: { config: string; state: string }): string[] {
  const pod = ds.spec!.template.spec!;
  const c = pod.containers[0]!;
  const sc = c.securityContext!;
  const flags: string[] = [];
  if (pod.hostNetwork) flags.push('--network', 'host');
  if (sc.privileged) flags.push('--privileged');
  for (const cap of sc.capabilities?.drop ?? []) flags.push('--cap-drop', cap);
  for (const cap of sc.capabilities?.add ?? []) flags.push('--cap-add', cap);
  if (sc.readOnlyRootFilesystem) flags.push('--read-only');
  if (sc.runAsUser !== undefined) flags.push('--user', `${sc.runAsUser}:${sc.runAsGroup ?? 0}`);
  if (sc.appArmorProfile?.type === 'Unconfined') flags.push('--security-opt', 'apparmor=unconfined');
  if (sc.seccompProfile !== undefined && sc.seccompProfile.type !== 'RuntimeDefault') throw new Error(`seccomp ${sc.seccompProfile.type}: not translated`);
  for (const m of c.volumeMounts ?? []) {
    const v = pod.volumes!.find((x) => x.name === m.name)!;
    const prop = m.mountPropagation === 'HostToContainer' ? ',rslave' : m.mountPropagation === 'Bidirectional' ? ',rshared' : '';
    const ro = m.readOnly ? ',readonly' : '';
    if (v.hostPath) {
      // the state goes to a temporary directory instead of the host's /var/lib/l3af
      const src = v.name === 'state' ? hostDirs.state : v.hostPath.path;
      flags.push('--mount', `type=bind,source=${src},target=${m.mountPath}${ro}${prop ? `,bind-propagation=${prop.slice(1)}` : ''}`);
    } else if (v.configMap) {
      flags.push('--mount', `type=bind,source=${hostDirs.config},target=${m.mountPath},readonly`);
    } else if (v.emptyDir) {
      flags.push('--tmpfs', m.mountPath);
    } else {
      throw new Error(`volume ${v.name}: not translated`);
    }
  }
  return flags;
}

test('the agent image with the DaemonSet\'s securityContext drives the real kernel; a replacing container keeps the data plane', { skip, timeout: 1_500_000 }, async (t) => {
  for (const port of [53000, 8898]) assert.ok(await portFree(port), `127.0.0.1:${port} is taken (the DaemonSet's config uses it on the host network)`);
  const ds = daemonSet();
  const c = ds.spec!.template.spec!.containers[0]!;
  const bpffs = await hostBpffs();
  const docker = await PrivateDocker.start();
  const lab = await VethLab.create();
  const dir = mkdtempSync(join(tmpdir(), 'l3af-k8s-'));
  const config = join(dir, 'config');
  const state = join(dir, 'state');
  mkdirSync(config);
  mkdirSync(state);
  const cm = manifests().find((m) => m.doc.metadata.name === 'l3af-agent-config')!.doc as Doc & { data: Record<string, string> };
  for (const [k, v] of Object.entries(cm.data)) writeFileSync(join(config, k), v);
  const names: string[] = [];
  t.after(async () => {
    for (const n of names) await docker.docker(['rm', '-f', n]).catch(() => undefined);
    await docker.dispose();
    await lab.dispose();
    await bpffs.cleanup(lab.rootIfname);
    rmSync(dir, { recursive: true, force: true });
  });

  await ensureLocalBaseImages(docker);
  await buildAgentImage(docker, ROOT, AGENT_IMAGE);
  const flags = dockerRunFlags(ds, { config, state });
  t.diagnostic(`docker run ${flags.join(' ')} ${AGENT_IMAGE} ${(c.args ?? []).join(' ')}`);
  const start = async (name: string): Promise<void> => {
    names.push(name);
    await docker.docker(['run', '-d', '--name', name, ...flags, AGENT_IMAGE, ...(c.args ?? [])]);
    // the DaemonSet's probes: readiness = its exec command in the container, liveness = GET /metrics
    const probe = c.readinessProbe!.exec!.command!;
    await until(`${name} ready (readiness probe)`, 90_000, async () => {
      await docker.docker(['exec', name, ...probe], { timeoutMs: 10_000 });
      return true;
    }, 1_000).catch(async (err: unknown) => {
      const logs = await docker.docker(['logs', '--tail', '30', name]).catch((e: unknown) => ({ stdout: String(e), stderr: '' }));
      throw new Error(`${String(err)}\n${logs.stdout}${logs.stderr}`);
    });
    const live = await http(`http://127.0.0.1:${c.livenessProbe!.httpGet!.port === 'metrics' ? 8898 : Number(c.livenessProbe!.httpGet!.port)}${c.livenessProbe!.httpGet!.path}`);
    assert.equal(live.status, 200, 'liveness probe answers');
  };

  await start(`l3af-ds-a-${process.pid}`);
  const iface = lab.rootIfname;
  const added = await http('http://127.0.0.1:53000/l3af/configs/v1/add', 'POST', seedPayload(hostName(), iface));
  assert.equal(added.status, 200, added.text);
  const progId = await until('XDP program on the lab interface', 30_000, () => xdpProgId(iface));
  const recvPin = join(HOST_BPFFS, iface, 'ratelimiting', 'latest', 'rl_recv_count_map');
  await using _listener = await listenTcp(lab, { port: SEED_PORTS[0] });
  const r0 = await pinnedCounter(recvPin);
  const burst = await connectTcp(lab, { port: SEED_PORTS[0], attempts: 40, ratePerSec: 20, timeoutMs: 900, reset: true });
  const r1 = await pinnedCounter(recvPin);
  t.diagnostic(`with the DaemonSet's capabilities: xdp id ${progId}; ${burst.attempted} SYNs: ${burst.connected} connected, ${burst.timedOut} dropped, counted +${r1 - r0}`);
  assert.equal(r1 - r0, BigInt(burst.attempted));
  assert.ok(burst.timedOut > 0 && burst.connected > 0);
  const metrics = (await http('http://127.0.0.1:8898/metrics')).text;
  const line = (name: string, ...labels: string[]): string | undefined =>
    metrics.split('\n').find((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)));
  assert.match(line('l3af_program_running', `interface="${iface}"`, 'program="ratelimiting"') ?? '', /\} 1$/, 'l3af_program_running 1');
  assert.match(line('l3af_kernel_stats_enabled') ?? '', /\} 1$/, 'BPF_ENABLE_STATS worked with these capabilities');

  // --- rolling update: the old pod's container is stopped (SIGTERM), a new one starts on the same host paths
  const during = connectTcp(lab, { port: SEED_PORTS[0], attempts: 120, ratePerSec: 10, timeoutMs: 900, reset: true });
  await new Promise((r) => setTimeout(r, 1_500));
  const stopMs = Date.now();
  await docker.docker(['stop', '--time', String(ds.spec!.template.spec!.terminationGracePeriodSeconds ?? 30), names[0]!], { timeoutMs: 60_000 });
  const idBetween = await xdpProgId(iface);
  await start(`l3af-ds-b-${process.pid}`);
  const replacedMs = Date.now() - stopMs;
  const traffic = await during;
  const r2 = await pinnedCounter(recvPin);
  const idAfter = await xdpProgId(iface);
  t.diagnostic(`rolling update: old stopped, new ready in ${replacedMs} ms; xdp id ${progId} -> between ${idBetween} -> after ${idAfter}; ${traffic.attempted} SYNs across it, counted +${r2 - r1}`);
  assert.equal(idBetween, progId);
  assert.equal(idAfter, progId);
  assert.equal(r2 - r1, BigInt(traffic.attempted), 'every SYN counted across the replacement');
  const got = await http(`http://127.0.0.1:53000/l3af/configs/v1/${iface}`);
  assert.match(got.text, /"name":\s*"ratelimiting"/, 'the new container adopted the program (state on the hostPath)');
});
