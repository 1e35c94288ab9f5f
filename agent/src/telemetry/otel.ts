/**
 * OpenTelemetry for the agent: `@opentelemetry/sdk-node` with OTLP/HTTP exporters for traces and
 * metrics, started only when an OTLP endpoint is configured (the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT`, or the per-signal `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
 * `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, or {@link TelemetryOptions.endpoint}) and
 * `OTEL_SDK_DISABLED` is not `true`. The encoding follows `OTEL_EXPORTER_OTLP_PROTOCOL` (or the
 * per-signal `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `_METRICS_PROTOCOL`): `http/protobuf`, the
 * specification's default, or `http/json`; `grpc` is refused with a clear error. When it is not
 * started nothing is installed: the
 * OpenTelemetry API hands out non-recording spans and {@link withSpan} costs a function call.
 *
 * Metrics: the agent's prom-client registry is bridged (see {@link bridgeRegistry}), so OTLP
 * carries the same series as /metrics.
 *
 * Logs: with a logs endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`;
 * `OTEL_LOGS_EXPORTER=none` turns it off) {@link Telemetry.eventLogger} is the OTel logger program
 * events are exported with (telemetry/event-logs.ts).
 */
import { createRequire } from 'node:module';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger as OtelLogger } from '@opentelemetry/api-logs';
import { metrics } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import { bridgeRegistry } from './prom-bridge.ts';

/** Options of {@link startTelemetry}. */
export interface TelemetryOptions {
  /** Environment read for OTEL_* (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Base OTLP/HTTP endpoint (e.g. http://collector:4318); overrides OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint?: string;
  /** service.name (default OTEL_SERVICE_NAME or `l3af-agent`). */
  readonly serviceName?: string;
  /** The registry whose series are exported as OTel metrics too. */
  readonly registry?: Registry;
  /** Metric export interval (default OTEL_METRIC_EXPORT_INTERVAL or 60000 ms). */
  readonly metricIntervalMs?: number;
  /** Further span processors (tests add an in-memory exporter). */
  readonly extraSpanProcessors?: SpanProcessor[];
}

/** A started (or not started) telemetry setup. */
export interface Telemetry {
  readonly enabled: boolean;
  /** Where traces and metrics go (undefined when disabled). */
  readonly tracesUrl?: string;
  readonly metricsUrl?: string;
  /** OTLP encoding per signal (undefined when disabled). */
  readonly tracesProtocol?: OtlpProtocol;
  readonly metricsProtocol?: OtlpProtocol;
  /** Where logs go, their encoding, and the logger events are exported with (undefined without logs). */
  readonly logsUrl?: string;
  readonly logsProtocol?: OtlpProtocol;
  readonly eventLogger?: OtelLogger;
  /** Exports what is buffered now. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

const DISABLED: Telemetry = { enabled: false, flush: async () => undefined, shutdown: async () => undefined };

type Signal = 'traces' | 'metrics' | 'logs';

function signalUrl(env: NodeJS.ProcessEnv, base: string | undefined, signal: Signal): string | undefined {
  const specific = env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`];
  if (specific) return specific;
  return base ? `${base.replace(/\/+$/, '')}/v1/${signal}` : undefined;
}

/** OTLP over HTTP encodings. */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

/** The OTLP encoding `env` selects for `signal` (default http/protobuf); throws for others. */
export function otlpProtocol(env: NodeJS.ProcessEnv, signal: Signal): OtlpProtocol {
  const key = env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_PROTOCOL`] ? `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_PROTOCOL` : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const v = (env[key] ?? '').trim() || 'http/protobuf';
  if (v === 'http/protobuf' || v === 'http/json') return v;
  throw new RangeError(`${key}='${v}' is not supported: use http/protobuf (the default) or http/json`);
}

/** Whether OTLP export is configured in `env` (or by an explicit endpoint). */
export function otlpConfigured(env: NodeJS.ProcessEnv = process.env, endpoint?: string): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').toLowerCase() === 'true') return false;
  return Boolean(endpoint || env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT || env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT);
}

/**
 * The SDK and exporters, loaded only when OTLP is configured: they are ≈ 27 MiB of resident memory an agent
 * without a collector would carry for nothing.
 */
const loadModule = createRequire(import.meta.url);
function sdkModules(): {
  NodeSDK: typeof import('@opentelemetry/sdk-node').NodeSDK;
  JsonTraceExporter: typeof import('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter;
  JsonMetricExporter: typeof import('@opentelemetry/exporter-metrics-otlp-http').OTLPMetricExporter;
  ProtoTraceExporter: typeof import('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter;
  ProtoMetricExporter: typeof import('@opentelemetry/exporter-metrics-otlp-proto').OTLPMetricExporter;
  BatchSpanProcessor: typeof import('@opentelemetry/sdk-trace-base').BatchSpanProcessor;
  PeriodicExportingMetricReader: typeof import('@opentelemetry/sdk-metrics').PeriodicExportingMetricReader;
  resourceFromAttributes: typeof import('@opentelemetry/resources').resourceFromAttributes;
  JsonLogExporter: typeof import('@opentelemetry/exporter-logs-otlp-http').OTLPLogExporter;
  ProtoLogExporter: typeof import('@opentelemetry/exporter-logs-otlp-proto').OTLPLogExporter;
  BatchLogRecordProcessor: typeof import('@opentelemetry/sdk-logs').BatchLogRecordProcessor;
  logsApi: typeof import('@opentelemetry/api-logs').logs;
} {
  const m = <T>(name: string): T => loadModule(name) as T;
  return {
    NodeSDK: m<typeof import('@opentelemetry/sdk-node')>('@opentelemetry/sdk-node').NodeSDK,
    JsonTraceExporter: m<typeof import('@opentelemetry/exporter-trace-otlp-http')>('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter,
    JsonMetricExporter: m<typeof import('@opentelemetry/exporter-metrics-otlp-http')>('@opentelemetry/exporter-metrics-otlp-http').OTLPMetricExporter,
    ProtoTraceExporter: m<typeof import('@opentelemetry/exporter-trace-otlp-proto')>('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter,
    ProtoMetricExporter: m<typeof import('@opentelemetry/exporter-metrics-otlp-proto')>('@opentelemetry/exporter-metrics-otlp-proto').OTLPMetricExporter,
    BatchSpanProcessor: m<typeof import('@opentelemetry/sdk-trace-base')>('@opentelemetry/sdk-trace-base').BatchSpanProcessor,
    PeriodicExportingMetricReader: m<typeof import('@opentelemetry/sdk-metrics')>('@opentelemetry/sdk-metrics').PeriodicExportingMetricReader,
    resourceFromAttributes: m<typeof import('@opentelemetry/resources')>('@opentelemetry/resources').resourceFromAttributes,
    // the logs SDK and exporters are sdk-node's own dependencies (the versions it drives)
    JsonLogExporter: m<typeof import('@opentelemetry/exporter-logs-otlp-http')>('@opentelemetry/exporter-logs-otlp-http').OTLPLogExporter,
    ProtoLogExporter: m<typeof import('@opentelemetry/exporter-logs-otlp-proto')>('@opentelemetry/exporter-logs-otlp-proto').OTLPLogExporter,
    BatchLogRecordProcessor: m<typeof import('@opentelemetry/sdk-node')>('@opentelemetry/sdk-node').logs.BatchLogRecordProcessor,
    logsApi: m<typeof import('@opentelemetry/api-logs')>('@opentelemetry/api-logs').logs,
  };
}

/** Starts the SDK when OTLP is configured; otherwise returns a disabled handle and installs nothing. */
export function startTelemetry(opts: TelemetryOptions = {}): Telemetry {
  const env = opts.env ?? process.env;
  if (!otlpConfigured(env, opts.endpoint)) return DISABLED;
  const base = opts.endpoint ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const tracesUrl = signalUrl(env, base, 'traces');
  const metricsUrl = signalUrl(env, base, 'metrics');
  const logsOff = (env.OTEL_LOGS_EXPORTER ?? '').split(',').map((x) => x.trim()).includes('none');
  const logsUrl = logsOff ? undefined : signalUrl(env, base, 'logs');
  for (const u of [tracesUrl, metricsUrl, logsUrl]) {
    if (u !== undefined && !/^https?:\/\//.test(u)) throw new RangeError(`OTLP endpoint '${u}' is not an http(s) URL`);
  }
  const tracesProtocol = otlpProtocol(env, 'traces');
  const metricsProtocol = otlpProtocol(env, 'metrics');
  const logsProtocol = otlpProtocol(env, 'logs');
  const intervalMs = opts.metricIntervalMs ?? (Number(env.OTEL_METRIC_EXPORT_INTERVAL) || 60_000);
  const { NodeSDK, JsonTraceExporter, JsonMetricExporter, ProtoTraceExporter, ProtoMetricExporter, BatchSpanProcessor, PeriodicExportingMetricReader, resourceFromAttributes, JsonLogExporter, ProtoLogExporter, BatchLogRecordProcessor, logsApi } = sdkModules();
  const spanProcessors: SpanProcessor[] = [...(opts.extraSpanProcessors ?? [])];
  if (tracesUrl) {
    const exporter = tracesProtocol === 'http/json' ? new JsonTraceExporter({ url: tracesUrl }) : new ProtoTraceExporter({ url: tracesUrl });
    spanProcessors.push(new BatchSpanProcessor(exporter));
  }
  const metricExporter = (url: string) => (metricsProtocol === 'http/json' ? new JsonMetricExporter({ url }) : new ProtoMetricExporter({ url }));
  const reader = metricsUrl
    ? new PeriodicExportingMetricReader({ exporter: metricExporter(metricsUrl), exportIntervalMillis: intervalMs, exportTimeoutMillis: Math.min(30_000, intervalMs) })
    : undefined;
  const logProcessor = logsUrl
    ? new BatchLogRecordProcessor({ exporter: logsProtocol === 'http/json' ? new JsonLogExporter({ url: logsUrl }) : new ProtoLogExporter({ url: logsUrl }) })
    : undefined;
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName ?? env.OTEL_SERVICE_NAME ?? 'l3af-agent' }),
    spanProcessors,
    ...(reader ? { metricReaders: [reader] } : {}),
    // explicit (never sdk-node's own reading of process.env): none at all without a logs endpoint
    logRecordProcessors: logProcessor ? [logProcessor] : [],
    instrumentations: [],
  });
  sdk.start();
  const eventLogger = logProcessor ? logsApi.getLogger('l3af-agent.events') : undefined;
  let unbridge: (() => void) | undefined;
  if (opts.registry && reader) unbridge = bridgeRegistry(metrics.getMeter('l3af-agent'), opts.registry);
  return {
    enabled: true,
    tracesUrl,
    metricsUrl,
    tracesProtocol,
    metricsProtocol,
    ...(logProcessor ? { logsUrl, logsProtocol, eventLogger } : {}),
    flush: async () => {
      await Promise.all([...spanProcessors.map((p) => p.forceFlush()), reader?.forceFlush(), logProcessor?.forceFlush()]);
    },
    shutdown: async () => {
      unbridge?.();
      await sdk.shutdown();
      // the SDK leaves its logger provider registered globally: a later start (observability re-created
      // after a failed hand-over) could not register its own, and its loggers would export nowhere
      if (logProcessor) logsApi.disable();
    },
  };
}
