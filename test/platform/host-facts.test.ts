// Host facts on this machine: systeminformation + /proc, GET /l3af/host, the info metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { enableStats } from '../../agent/src/bpf/index.ts';
import { HostFactsCache, bpfFeatures, type HostFacts } from '../../agent/src/platform/host-facts.ts';
import { hostRoutes } from '../../agent/src/api/host-routes.ts';
import { registerHostMetrics } from '../../agent/src/metrics/host-metrics.ts';
import { PrivateBpffs, requireRoot } from '../harness/index.ts';
import { parseExposition, valueOf } from '../metrics/exposition.ts';

test('GET /l3af/host: hostname, OS, kernel, interfaces with addresses, BPF features; cached', async () => {
  let collections = 0;
  const cache = new HostFactsCache(60_000, async () => {
    collections++;
    const { collectHostFacts } = await import('../../agent/src/platform/host-facts.ts');
    return collectHostFacts();
  });
  const app = Fastify();
  await app.register(hostRoutes, { cache });
  try {
    const res = await app.inject({ method: 'GET', url: '/l3af/host' });
    assert.equal(res.statusCode, 200);
    const f = res.json<HostFacts>();
    assert.equal(f.hostname, hostname());
    assert.equal(f.kernel, release());
    assert.equal(f.os.platform, 'linux');
    const lo = f.interfaces.find((i) => i.name === 'lo');
    assert.ok(lo, 'lo listed');
    assert.ok(lo.addresses.some((a) => a.family === 'IPv4' && a.address === '127.0.0.1' && a.prefix === 8));
    assert.equal(f.bpf.btf, existsSync('/sys/kernel/btf/vmlinux'));
    assert.equal(f.bpf.btf, true, 'this kernel has BTF');
    assert.equal(f.bpf.jitEnabled, ['1', '2'].includes(readFileSync('/proc/sys/net/core/bpf_jit_enable', 'utf8').trim()));
    await app.inject({ method: 'GET', url: '/l3af/host' });
    assert.equal(collections, 1, 'second request served from the cache');
  } finally {
    await app.close();
  }
});

test('BPF features follow the host: a bpffs mount appears, kernel stats while a handle is held', async (t) => {
  if (requireRoot(t)) return;
  const sysctlOn = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() !== '0';
  {
    await using bpffs = await PrivateBpffs.create();
    assert.ok(bpfFeatures().bpffsMounts.includes(bpffs.path));
  }
  const h = enableStats();
  assert.equal(bpfFeatures().kernelStats, true);
  h.close();
  assert.equal(bpfFeatures().kernelStats, sysctlOn);
});

test('host info metrics from the cached facts', async () => {
  const cache = new HostFactsCache();
  const registry = new Registry();
  registerHostMetrics(registry, cache);
  assert.equal(parseExposition(await registry.metrics()).samples.length, 0, 'nothing before the first collection');
  const f = await cache.get();
  const e = parseExposition(await registry.metrics());
  assert.deepEqual(e.errors, []);
  assert.deepEqual(e.lint, []);
  assert.equal(valueOf(e, 'l3af_host_info', { host: f.hostname, kernel: f.kernel }), 1);
  assert.equal(valueOf(e, 'l3af_host_bpf_feature', { feature: 'btf' }), 1);
});
