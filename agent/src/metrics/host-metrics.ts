/** Host facts as metrics: `l3af_host_info` and `l3af_host_bpf_feature`, from the facts already collected. */
import type { Registry } from 'prom-client';
import { bpfFeatures, type HostFactsCache } from '../platform/host-facts.ts';
import { ScrapeMetric } from './scrape-metric.ts';

/**
 * Registers `l3af_host_info{host,os,kernel,arch} 1` and `l3af_host_bpf_feature{host,feature}`
 * (0/1 per feature) from the cache's last facts (nothing until the first collection).
 */
export function registerHostMetrics(registry: Registry, cache: HostFactsCache): void {
  new ScrapeMetric({
    name: 'l3af_host_info', type: 'gauge', help: 'Host facts as labels (value 1).',
    collect: () => {
      const f = cache.peek();
      return f ? [{ labels: { host: f.hostname, os: `${f.os.distro} ${f.os.release}`.trim(), kernel: f.kernel, arch: f.os.arch }, value: 1 }] : [];
    },
  }).register(registry);
  new ScrapeMetric({
    name: 'l3af_host_bpf_feature', type: 'gauge', help: 'BPF features found on the host (1 = present).',
    collect: () => {
      const f = cache.peek();
      if (!f) return [];
      const b = bpfFeatures();
      return Object.entries({ btf: b.btf, bpffs: b.bpffsMounted, jit: b.jitEnabled, kernel_stats: b.kernelStats })
        .map(([feature, on]) => ({ labels: { host: f.hostname, feature }, value: on ? 1 : 0 }));
    },
  }).register(registry);
}
