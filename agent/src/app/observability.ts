/**
 * The agent's observability side in one object, for main: one prom-client registry with the
 * agent metrics, map monitors, kernel run statistics, host info and event-stream counters; the
 * /metrics listener; OpenTelemetry when configured; the EventHub. It is the engine's
 * {@link EngineObserver} and fans every callback out to the parts.
 */
import type { Logger } from 'pino';
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import { unverifiedCounts } from '../artifacts/unverified.ts';
import { ScrapeMetric } from '../metrics/scrape-metric.ts';
import type { AgentConfig } from '../config/index.ts';
import type { EngineObserver, ProgramRef, RunningProgram } from '../observer/program.ts';
import { EventHub } from '../events/event-hub.ts';
import type { EventSource } from '../events/event-sources.ts';
import { HostFactsCache } from '../platform/host-facts.ts';
import { registerHostMetrics } from '../metrics/host-metrics.ts';
import { startTelemetry, type Telemetry } from '../telemetry/otel.ts';
import { AgentMetrics } from '../metrics/agent-metrics.ts';
import { KernelStats } from '../metrics/kernel-stats.ts';
import { MapMonitors, type MonitorSpec } from '../metrics/map-monitor.ts';
import { MapPressure } from '../metrics/map-pressure.ts';
import { EventLogExport } from '../telemetry/event-logs.ts';
import { AuditLogExport, type AuditSource } from '../telemetry/audit-logs.ts';
import { EtwEvents } from '../events/etw-events.ts';
import { startMetricsServer, type MetricsServer, type MetricsTls } from '../metrics/metrics-server.ts';
import { ExpositionCache } from '../metrics/exposition-cache.ts';
import { messageOf } from '../error-message.ts';

/** Options of {@link Observability.start}. */
export interface ObservabilityOptions {
  /** `[web] metrics-addr`; undefined = no listener (the registry is still filled). */
  readonly metricsAddr?: string;
  /** https on the listener (`[l3af] metrics-tls`); undefined = plain http. */
  readonly metricsTls?: MetricsTls;
  /** `[web] n-metric-samples`. */
  readonly nMetricSamples?: number;
  /** `[l3af] kernel-stats-enabled`. */
  readonly kernelStatsEnabled?: boolean;
  /** Map sampling interval (proposed `[l3af] map-sample-interval`, default 1 s as l3afd). */
  readonly sampleIntervalMs?: number;
  /** Also export l3afd's metric names (proposed `[l3af] l3afd-metric-names`). */
  readonly l3afdCompat?: boolean;
  /** Series per key-range spec (proposed `[l3af] map-series-limit`, default 256). */
  readonly maxKeysPerSpec?: number;
  readonly extraSpecs?: (p: RunningProgram) => readonly MonitorSpec[];
  readonly eventSources?: readonly EventSource[];
  /** The audit log: its entries become OTel logs when OTLP logs are configured. */
  readonly audit?: AuditSource;
  readonly host?: string;
  readonly logger?: Logger;
  /** Environment for OTEL_* (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

/** The options main derives from the configuration. */
export function observabilityOptions(config: AgentConfig, logger?: Logger): ObservabilityOptions {
  return {
    metricsAddr: config.web.metricsAddr,
    nMetricSamples: config.web.nMetricSamples,
    kernelStatsEnabled: config.l3af.kernelStatsEnabled,
    l3afdCompat: config.l3af.l3afdMetricNames,
    sampleIntervalMs: config.l3af.mapSampleIntervalMs,
    ...(logger ? { logger } : {}),
  };
}

/** Everything observability, started. */
export class Observability implements EngineObserver {
  private constructor(
    readonly registry: Registry,
    readonly agent: AgentMetrics,
    readonly maps: MapMonitors,
    readonly kernel: KernelStats,
    readonly events: EventHub,
    readonly hostFacts: HostFactsCache,
    readonly telemetry: Telemetry,
    readonly server: MetricsServer | undefined,
    /** The /metrics body, rendered once per sampling tick. */
    readonly exposition: ExpositionCache,
    readonly pressure: MapPressure,
    /** Events as OTel logs (when OTLP logs are configured). */
    readonly eventLogs: EventLogExport | undefined,
    /** Windows: the ETW source (SSE `source=etw` and OTel logs share its one session). */
    readonly etw: EtwEvents | undefined,
    /** Audit entries as OTel logs (when OTLP logs are configured and an audit log is given). */
    readonly auditLogs: AuditLogExport | undefined,
  ) {}

  /** Builds the registry and its parts, starts the timers, the listener and OpenTelemetry. */
  static async start(o: ObservabilityOptions = {}): Promise<Observability> {
    const registry = new Registry();
    const common = { registry, ...(o.host ? { host: o.host } : {}), ...(o.logger ? { logger: o.logger } : {}) };
    const agent = new AgentMetrics({ ...common, l3afdCompat: o.l3afdCompat ?? false });
    const exposition = new ExpositionCache(registry, { maxAgeMs: o.sampleIntervalMs ?? 1000 });
    const maps = new MapMonitors({
      onSampled: () => exposition.tick(),
      ...common, l3afdCompat: o.l3afdCompat ?? false, intervalMs: o.sampleIntervalMs ?? 1000, samples: o.nMetricSamples ?? 20,
      ...(o.maxKeysPerSpec ? { maxKeysPerSpec: o.maxKeysPerSpec } : {}), ...(o.extraSpecs ? { extraSpecs: o.extraSpecs } : {}),
    });
    const pressure = new MapPressure({ ...common });
    const kernel = new KernelStats({ ...common, enable: o.kernelStatsEnabled ?? false, intervalMs: o.sampleIntervalMs ?? 1000 });
    const events = new EventHub({ ...common, ...(o.eventSources ? { sources: o.eventSources } : {}) });
    const hostFacts = new HostFactsCache();
    registerHostMetrics(registry, hostFacts);
    registerUnverifiedArtifacts(registry, o.host ?? hostname());
    hostFacts.get().catch((err: unknown) => o.logger?.warn({ err: messageOf(err) }, 'host facts unavailable'));
    maps.start();
    pressure.start();
    kernel.start();
    const telemetry = startTelemetry({ registry, ...(o.env ? { env: o.env } : {}) });
    let server: MetricsServer | undefined;
    try {
      if (o.metricsAddr !== undefined) server = await startMetricsServer({ registry, addr: o.metricsAddr, cache: exposition, ...(o.metricsTls ? { tls: o.metricsTls } : {}) });
    } catch (err) {
      maps.close();
      pressure.close();
      kernel.close();
      events.close();
      await telemetry.shutdown();
      throw err;
    }
    const etw = process.platform === 'win32' ? new EtwEvents() : undefined;
    const eventLogs = telemetry.eventLogger
      ? new EventLogExport(events, telemetry.eventLogger, { ...(etw ? { etw } : {}), onEtwError: (err) => o.logger?.warn({ err: err.message }, 'ETW events not exported as OTel logs') })
      : undefined;
    const auditLogs = telemetry.eventLogger && o.audit ? new AuditLogExport(o.audit, telemetry.eventLogger) : undefined;
    return new Observability(registry, agent, maps, kernel, events, hostFacts, telemetry, server, exposition, pressure, eventLogs, etw, auditLogs);
  }

  programStarted(p: RunningProgram): void {
    this.exposition.invalidate();
    this.agent.programStarted(p);
    this.maps.programStarted(p);
    this.pressure.programStarted(p);
    this.kernel.programStarted(p);
    this.events.programStarted(p);
  }

  programStopped(p: RunningProgram): void {
    this.exposition.invalidate();
    this.agent.programStopped(p);
    this.maps.programStopped(p);
    this.pressure.programStopped(p);
    this.kernel.programStopped(p);
    this.events.programStopped(p);
  }

  programUpdated(p: RunningProgram): void {
    this.exposition.invalidate();
    this.agent.programUpdated(p);
    this.maps.programUpdated(p);
    this.pressure.programUpdated(p);
    this.kernel.programUpdated(p);
    this.events.programUpdated(p);
  }

  updateFailed(p: ProgramRef, reason: string): void {
    this.exposition.invalidate();
    this.agent.updateFailed(p, reason);
  }

  deployFailed(p: ProgramRef, reason: string): void {
    this.exposition.invalidate();
    this.agent.deployFailed(p, reason);
  }

  /** Attach state found by the health monitor. */
  setRunning(p: ProgramRef, running: boolean): void {
    this.exposition.invalidate();
    this.agent.setRunning(p, running);
  }

  /** The engine's health check: a user program went down or came back. */
  programRunning(p: ProgramRef, running: boolean): void {
    this.setRunning(p, running);
  }

  /** Stops timers, streams, the listener and OpenTelemetry (the data plane is not touched). */
  async close(): Promise<void> {
    this.maps.close();
    this.pressure.close();
    this.kernel.close();
    this.eventLogs?.close();
    this.auditLogs?.close();
    this.etw?.close();
    this.events.close();
    this.agent.close();
    await this.server?.close();
    await this.telemetry.shutdown();
  }
}

/** `l3af_artifact_unverified_total{host,scheme}`: packages used without a .sha256 (artifacts/unverified.ts). */
export function registerUnverifiedArtifacts(registry: Registry, host: string): void {
  new ScrapeMetric({
    name: 'l3af_artifact_unverified_total', type: 'counter',
    help: 'Packages used without a .sha256 next to them (accepted as l3afd accepts them; [l3af] checksum-required-http refuses them).',
    collect: () => [...unverifiedCounts()].map(([scheme, value]) => ({ labels: { host, scheme }, value })),
  }).register(registry);
}
