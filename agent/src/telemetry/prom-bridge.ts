/**
 * The bridge from the agent's prom-client registry to an OpenTelemetry Meter: at each OTel
 * collection, one batch callback reads the registry (the same in-memory state a /metrics scrape
 * reads) and reports every series. Counters become observable counters named without the
 * Prometheus `_total` suffix (OTel's convention; an OTLP→Prometheus conversion adds it back);
 * gauges become observable gauges; labels become attributes. Histograms are not bridged (the
 * OTel API has no asynchronous histogram): map histograms are on /metrics only.
 * Instruments are created for the metrics registered when the bridge is made.
 */
import type { Attributes, Meter, Observable } from '@opentelemetry/api';
import type { Registry } from 'prom-client';

/** Bridges `registry` into `meter`; returns a function that removes the callback. */
export function bridgeRegistry(meter: Meter, registry: Registry): () => void {
  const instruments = new Map<string, Observable>();
  for (const m of registry.getMetricsAsArray()) {
    const { name, help, type } = m as unknown as { name: string; help: string; type: string };
    if (type === 'counter') instruments.set(name, meter.createObservableCounter(name.replace(/_total$/, ''), { description: help }));
    else if (type === 'gauge') instruments.set(name, meter.createObservableGauge(name, { description: help }));
  }
  const callback = async (result: { observe(o: Observable, v: number, a?: Attributes): void }): Promise<void> => {
    for (const m of await registry.getMetricsAsJSON()) {
      const inst = instruments.get(m.name);
      if (!inst) continue;
      for (const v of m.values) {
        if (Number.isFinite(v.value)) result.observe(inst, v.value, v.labels as Attributes);
      }
    }
  };
  const list = [...instruments.values()];
  meter.addBatchObservableCallback(callback, list);
  return () => meter.removeBatchObservableCallback(callback, list);
}
