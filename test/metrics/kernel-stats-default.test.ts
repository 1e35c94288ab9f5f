// Kernel run statistics are off unless configured: the agent holds no BPF_ENABLE_STATS fd by default,
// so the kernel does not time every program on the host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { statsHolders, enableStats } from '../../agent/src/bpf/index.ts';
import { KernelStats } from '../../agent/src/metrics/kernel-stats.ts';
import { Observability, observabilityOptions } from '../../agent/src/app/observability.ts';
import { defaultConfig } from '../../agent/src/config/index.ts';

const mine = (): number => statsHolders().filter((h) => h.pid === process.pid).reduce((n, h) => n + h.fds, 0);

test('kernel-stats-enabled defaults to false and the agent then holds no stats fd', async (t) => {
  const opts = observabilityOptions(defaultConfig({ stateDir: '/nonexistent' }));
  assert.equal(opts.kernelStatsEnabled, false);
  const obs = await Observability.start({ ...opts, metricsAddr: undefined, host: 'h', env: {} });
  t.after(() => obs.close());
  assert.equal(obs.kernel.enabled, false);
  assert.equal(mine(), 0, 'no bpf-stats fd in /proc/self/fd');
  const k = new KernelStats({ registry: new Registry() }).start();
  t.after(() => k.close());
  assert.equal(k.enabled, false);
});

test('statsHolders finds a stats fd held by this process, and it is gone after close', () => {
  const before = mine();
  const h = enableStats();
  try {
    const me = statsHolders().find((x) => x.pid === process.pid);
    assert.ok(me, 'this process is listed');
    assert.equal(me.fds, before + 1);
    assert.ok(me.comm.length > 0);
  } finally {
    h.close();
  }
  assert.equal(mine(), before);
});
