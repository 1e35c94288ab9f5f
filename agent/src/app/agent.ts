/**
 * The running agent, wired: single instance, bpffs, TLS, observability (metrics, monitors, events,
 * telemetry), the desired-state engine, the REST API (with hand-over and audit) and the chain debug API.
 * `startAgent(config)` brings it up and answers `{ url, close, reloadTls }`; main.ts owns the command
 * line, the signals and the exit codes. A start that cannot complete throws {@link StartError} with the
 * exit code (1: start-up failure; 2: unusable configuration), after telling a predecessor (hand-over) why.
 */
import type { AgentConfig } from '../config/index.ts';
import { createEngine, type ChainInspector, type Engine } from '../engine/index.ts';
import type { ChainDescription } from '../chain/index.ts';
import { registerStoreHealth } from '../metrics/store-health.ts';
import { registerChainReach } from '../metrics/chain-reach.ts';
import { registerAuditEntries } from '../metrics/audit-metrics.ts';
import { exportAuditEntry } from '../telemetry/audit-logs.ts';
import { Bpffs } from '../bpf/index.ts';
import { buildServer, API_VERSION } from '../api/server.ts';
import { AuditLog, type AuditCount } from '../audit/audit-log.ts';
import { RequestError } from '../api/errors.ts';
import type { RestartController } from '../api/restart-route.ts';
import type { RestartConfig } from '../payload/index.ts';
import type { createLogger } from '../log.ts';
import type { FastifyInstance } from 'fastify';
import { startDebugServer } from '../api/debug-server.ts';
import { hostName } from '../platform/host.ts';
import { SanRuleError, TlsConfigError, TlsMaterial, authorizeHook, roleRules, type RoleRules, type SecureContextTarget } from '../security/index.ts';
import { InstanceConflictError, InstanceFileError, InstanceLock } from '../instance/index.ts';
import { HandoverRefused, HANDOVER_ENV, installBuild, reportToPredecessor, resolveBuild, startBuild, startedByHandover } from '../instance/handover.ts';
import type { Server } from 'node:http';
import { Gauge, type Registry } from 'prom-client';
import { installUnexpectedErrorGuard } from '../metrics/unexpected-errors.ts';
import { Observability, observabilityOptions } from './observability.ts';
import { MemorySettler } from './memory-settler.ts';
import type { EngineObserver } from '../observer/program.ts';
import { messageOf } from '../error-message.ts';

export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 2;

/** A start that could not complete: the process should exit with `exitCode`. */
export class StartError extends Error {
  constructor(readonly exitCode: number, message: string) {
    super(message);
    this.name = 'StartError';
  }
}

/** The agent once it serves. */
export interface RunningAgent {
  /** The REST API's URL. */
  readonly url: string;
  /** Stops everything this start brought up; the exit code (0, or 1 when a part failed to stop). */
  close(signal?: NodeJS.Signals): Promise<number>;
  /** Reloads the TLS certificates (SIGHUP). */
  reloadTls(): void;
}

/** What {@link startAgent} needs beside the configuration. */
export interface StartOptions {
  readonly logger: ReturnType<typeof createLogger>;
  /** The configuration file (shown by GET /l3af/agent and passed to a hand-over's new build). */
  readonly configPath?: string;
  /** The host and port of `[l3af-configs] restapi-addr`, as main parsed them. */
  readonly addr: { readonly host: string; readonly port: number };
  /** Called when a hand-over has completed: this process should now leave (exit 0). */
  readonly onHandedOver: () => void;
}

/** `l3af_tls_certificate_expiry_seconds`: time left on the REST server certificate (read at scrape). */
function registerCertificateExpiry(registry: Registry, tls: TlsMaterial): void {
  new Gauge({
    name: 'l3af_tls_certificate_expiry_seconds',
    help: 'Seconds until the REST API server certificate expires (negative when expired)',
    registers: [registry],
    collect() {
      this.set(tls.certificateExpiry().daysLeft * 86_400);
    },
  });
}

/** The one line at start that tells a newcomer where everything is and what to try first. */
function startLine(config: AgentConfig, restUrl: string, metricsUrl: string | undefined): string {
  const swagger = config.l3afd.swaggerApiEnabled ? `, Swagger UI ${restUrl}/swagger` : '';
  const metrics = metricsUrl === undefined ? '' : `, metrics ${metricsUrl}`;
  return `REST API ${restUrl}${swagger}${metrics}; state ${config.l3af.stateDir} (pins ${config.l3afd.bpfMapDefaultPath}); `
    + `try the seed payload: README.md "Try it" (ratelimiting on a veth l3af0), then GET ${restUrl}/l3af/configs/v1/l3af0`;
}

/** Writes a line to stderr (before the logger exists). */
function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1';
}


/** Whether the REST API needs mTLS: `[mtls] enabled`, or forced by PROD on a non-loopback address (as l3afd). */
function tlsRequired(config: AgentConfig, host: string): boolean {
  return config.mtls.enabled || (config.l3afd.environment === 'PROD' && !isLoopbackHost(host));
}

/** Stops accepting connections (the ones open, e.g. a restart request's, finish their answer). */
function stopListening(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) { resolve(); return; }
    server.close();
    server.closeIdleConnections();
    // the listening handle is closed on the next turn of the loop; the port is then free
    setImmediate(resolve);
  });
}

/** Listens again on a server that stopped listening (after a failed hand-over). */
function listenAgain(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
}

export async function startAgent(config: AgentConfig, opts: StartOptions): Promise<RunningAgent> {
  const { logger, configPath } = opts;
  const addr = opts.addr;
  const host = addr.host;
  /** Leaves at start-up: tells a predecessor (hand-over) why, frees the instance files. */
  let lock: InstanceLock | undefined;
  const die = async (code: number, reason: string): Promise<never> => {
    await reportToPredecessor({ type: 'failed', reason });
    lock?.release();
    throw new StartError(code, reason);
  };

  let tls: TlsMaterial | undefined;
  let rules: RoleRules | undefined;
  const restTls = tlsRequired(config, host);
  const metricsTls = config.l3af.metricsTls;
  if (restTls || metricsTls !== 'off') {
    try {
      if (restTls) rules = roleRules(config);
      tls = new TlsMaterial(config, { logger: logger.child({ component: 'tls' }) });
    } catch (err) {
      if (err instanceof TlsConfigError || err instanceof SanRuleError) {
        say(`l3af: ${err.message}`);
        logger.fatal({ err: err.message }, restTls ? 'mTLS cannot be set up' : '[l3af] metrics-tls: TLS cannot be set up');
        await die(EXIT_CONFIG, err.message);
      }
      throw err;
    }
  }
  if (!restTls && !isLoopbackHost(host)) {
    logger.warn({ restapiAddr: config.l3afConfigs.restapiAddr }, 'the REST API is served WITHOUT TLS on a non-loopback address ([mtls] enabled = false)');
  }

  lock = new InstanceLock({ pidFile: config.l3afd.pidFile, stateDir: config.l3af.stateDir, logger });
  try {
    lock.acquire();
  } catch (err) {
    const message = messageOf(err);
    say(`l3af: ${message}`);
    logger.fatal(
      { err: message, ...(err instanceof InstanceConflictError ? { otherPid: err.holder, file: err.file } : err instanceof InstanceFileError ? { file: err.file } : {}) },
      err instanceof InstanceConflictError ? 'refusing to start: single instance' : 'refusing to start: the instance files cannot be written',
    );
    lock = undefined;
    await die(EXIT_FAILURE, message);
  }

  // As l3afd: pins need a bpffs at BpfMapDefaultPath; mount one there when it is not on one yet
  // (it stays mounted after the agent exits, so the pinned data plane survives).
  try {
    const mounted = Bpffs.isMounted(config.l3afd.bpfMapDefaultPath);
    Bpffs.ensure(config.l3afd.bpfMapDefaultPath);
    if (!mounted) logger.info({ path: config.l3afd.bpfMapDefaultPath }, 'mounted a bpffs at [l3afd] BpfMapDefaultPath');
  } catch (err) {
    logger.fatal({ err, path: config.l3afd.bpfMapDefaultPath }, 'cannot mount a bpffs at [l3afd] BpfMapDefaultPath');
    await die(EXIT_FAILURE, `cannot mount a bpffs at ${config.l3afd.bpfMapDefaultPath}`);
  }

  // Metrics (`[web] metrics-addr`), map monitors, kernel run statistics, host facts, live events
  // and OpenTelemetry: one observer the engine tells about every program it starts or stops.
  const startObservability = async (): Promise<Observability> => {
    const o = await Observability.start({
      ...observabilityOptions(config, logger.child({ component: 'observability' })),
      ...(tls && metricsTls !== 'off' ? { metricsTls: { options: tls.metricsOptions(metricsTls === 'mtls'), reloader: tls } } : {}),
    });
    if (tls) registerCertificateExpiry(o.registry, tls);
    registerChainReach(o.registry, () => chainsOfAll());
    registerStoreHealth(o.registry, () => storeProblem());
    registerAuditEntries(o.registry, () => auditCounts());
    return o;
  };
  // every chain as the kernel sees it, for the dead-end gauge (read through the engine current at scrape time)
  let chainsOfAll = (): ChainDescription[] => [];
  // a degraded start (unreadable state file), for the store gauge (read through the engine current at scrape time)
  let storeProblem = (): { file: string } | null => null;
  // the audit log's counts (read through the log current at scrape time: a registry made again after a failed hand-over counts on)
  let auditCounts = (): readonly AuditCount[] => [];
  let obs: Observability;
  try {
    obs = await startObservability();
  } catch (err) {
    logger.fatal({ err, metricsAddr: config.web.metricsAddr }, 'observability could not start');
    await die(EXIT_FAILURE, `cannot serve metrics on ${config.web.metricsAddr}: ${messageOf(err)}`);
    throw err;
  }
  logger.info({ metricsAddr: config.web.metricsAddr, url: obs.server?.url, tls: metricsTls }, 'metrics listening');
  installUnexpectedErrorGuard(obs.registry, logger.child({ component: 'guard' }));

  // The routes hold this delegate; a failed hand-over swaps in a fresh engine behind it.
  // memory is given back a moment after start-up and after every burst of program changes
  const settler = new MemorySettler(logger.child({ component: 'memory' }));
  const settling = (o: EngineObserver): EngineObserver => ({
    programStarted: (p) => { o.programStarted?.(p); settler.soon(); },
    programStopped: (p) => { o.programStopped?.(p); settler.soon(); },
    programUpdated: (p) => { o.programUpdated?.(p); settler.soon(); },
    updateFailed: (p, reason) => o.updateFailed?.(p, reason),
    deployFailed: (p, reason) => { o.deployFailed?.(p, reason); settler.soon(); },
    programRunning: (p, running) => o.programRunning?.(p, running),
  });
  const newEngine = (): Engine => createEngine(config, { logger: logger.child({ component: 'engine' }), observer: settling(obs) });
  let current: Engine = newEngine();
  chainsOfAll = () => {
    const c = current as Engine & Partial<ChainInspector>;
    if (c.storeProblem?.()) return []; // degraded: nothing read, nothing described
    return typeof c.describeChains === 'function' ? c.get().flatMap((e) => c.describeChains?.(e.iface) ?? []) : [];
  };
  storeProblem = () => current.storeProblem?.() ?? null;
  const engine = new Proxy({} as Engine, {
    get: (_target, prop) => {
      const v: unknown = Reflect.get(current, prop);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(current) : v;
    },
  });
  try {
    await engine.start();
  } catch (err) {
    logger.fatal({ err }, 'the engine could not start');
    await die(EXIT_FAILURE, `the engine could not start: ${messageOf(err)}`);
  }
  settler.soon();

  const startedAt = new Date().toISOString();
  let stopping = false;
  let handingOver = false;
  const restart: RestartController = {
    info: () => ({
      pid: process.pid, version: API_VERSION, startedAt, cwd: process.cwd(), config: configPath ?? null,
      handedOverFrom: process.env[HANDOVER_ENV] === undefined ? null : Number(process.env[HANDOVER_ENV]),
      tls: restTls, certificateExpiry: tls?.certificateExpiry() ?? null,
    }),
    handover: async (body: RestartConfig) => {
      const me = hostName();
      if (body.hostname !== me) throw new RequestError(400, 'invalid request', [{ path: '/hostname', message: `"${body.hostname}" is not this host (this host is "${me}")` }]);
      if (handingOver || stopping) throw new RequestError(409, 'restart in progress', [{ path: '', message: handingOver ? 'a hand-over is already under way' : 'the agent is stopping' }]);
      let entry;
      try {
        await installBuild(config, body.version, logger);
        entry = resolveBuild(config, body.version);
      } catch (err) {
        if (err instanceof HandoverRefused) throw new RequestError(400, 'invalid request', [{ path: err.path, message: err.message }]);
        throw err;
      }
      handingOver = true;
      logger.info({ version: body.version, build: entry.dir }, 'hand-over: closing the listener and stopping the engine (the data plane stays)');
      await stopListening(app.server);
      await current.stop();
      await obs.close(); // the new build serves metrics on the same address
      await debug?.close();
      lock?.release();
      try {
        const pid = await startBuild(entry, { configPath, timeoutMs: config.gracefulRestart.timeToRestartS * 1000, logger });
        logger.info({ pid, version: body.version }, 'hand-over done: the new build serves the API; this process leaves');
        return {
          pid, version: body.version, build: entry.dir,
          finish: () => {
            tls?.close();
            logger.info({ code: 0 }, 'stopped (handed over)');
            opts.onHandedOver();
          },
        };
      } catch (err) {
        const reason = messageOf(err);
        logger.error({ err: reason }, 'hand-over failed: this agent takes over again');
        lock?.acquire();
        obs = await startObservability();
        current = newEngine();
        await current.start();
        await listenAgain(app.server, host, addr.port);
        debug = await startDebug();
        logger.info({ restapiAddr: config.l3afConfigs.restapiAddr }, 'REST API listening again after a failed hand-over');
        handingOver = false;
        throw new RequestError(500, 'hand-over failed', [{ path: '/version', message: `${reason}; this agent (pid ${process.pid}) serves again` }]);
      }
    },
  };

  const audit = new AuditLog({
    dir: config.l3af.stateDir,
    // with OTLP logs configured, every accepted change is also an OTel log record (through the observability current then)
    onAppend: (entry) => {
      const otel = obs.telemetry.eventLogger;
      if (!otel) return;
      try {
        exportAuditEntry(otel, entry);
      } catch (err) {
        logger.warn({ err: messageOf(err), id: entry.id }, 'exporting an audit entry as an OTel log failed');
      }
    },
  });
  auditCounts = () => audit.counts();
  const app = await buildServer({
    engine, config, logger, restart, audit,
    observability: { hostFacts: obs.hostFacts, events: obs.events },
    ...(tls && rules ? { https: tls.serverOptions(), authorize: authorizeHook(rules) } : {}),
  });
  // l3afd's chain debug listener ([ebpf-chain-debug] enabled / addr): GET /bpfs/<iface>
  const startDebug = async (): Promise<FastifyInstance | undefined> => {
    if (!config.ebpfChainDebug.enabled) return undefined;
    const d = await startDebugServer(engine, config);
    logger.info({ addr: config.ebpfChainDebug.addr }, 'chain debug API listening ([ebpf-chain-debug]): GET /bpfs/<iface>');
    return d;
  };
  let debug: FastifyInstance | undefined;
  try {
    debug = await startDebug();
  } catch (err) {
    logger.fatal({ err, addr: config.ebpfChainDebug.addr }, 'cannot serve the chain debug API');
    await current.stop().catch(() => undefined);
    await die(EXIT_FAILURE, `[ebpf-chain-debug] addr ${config.ebpfChainDebug.addr}: ${messageOf(err)}`);
  }
  /** Stops: REST server, engine (the data plane stays unless `[l3af] unload-on-stop`), debug API, observability; the exit code. */
  const close = async (signal?: NodeJS.Signals): Promise<number> => {
    stopping = true;
    settler.close();
    const unload = config.l3af.unloadOnStop;
    logger.info({ signal, unload }, unload ? 'stopping: unloading every program' : 'stopping: the data plane keeps running');
    let code = 0;
    try {
      await app.close();
    } catch (err) {
      logger.error({ err }, 'closing the REST server failed');
      code = EXIT_FAILURE;
    }
    try {
      await engine.stop({ unload });
    } catch (err) {
      logger.error({ err }, 'stopping the engine failed');
      code = EXIT_FAILURE;
    }
    await debug?.close().catch((err: unknown) => logger.error({ err }, 'closing the chain debug API failed'));
    await obs.close().catch((err: unknown) => logger.error({ err }, 'closing observability failed'));
    tls?.close();
    lock?.release();
    logger.info({ code }, 'stopped');
    return code;
  };
  // After a hand-over the predecessor's listening socket closes just before this one starts: retry briefly.
  let restUrl = '';
  const listenDeadline = Date.now() + (startedByHandover() ? 10_000 : 0);
  for (;;) {
    try {
      const url = await app.listen({ host, port: addr.port });
      restUrl = url;
      logger.info({ url, config: configPath ?? '(embedded default)', tls: restTls, pid: process.pid }, 'REST API listening');
      logger.info(startLine(config, url, obs.server?.url));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && Date.now() < listenDeadline) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      logger.fatal({ err, restapiAddr: config.l3afConfigs.restapiAddr }, 'cannot listen for the REST API');
      await engine.stop().catch((e: unknown) => logger.error({ err: e }, 'engine stop failed'));
      await die(EXIT_FAILURE, `cannot listen on ${config.l3afConfigs.restapiAddr}: ${messageOf(err)}`);
    }
  }
  if (tls && restTls) {
    tls.watch(app.server as unknown as SecureContextTarget);
    const expiry = tls.certificateExpiry();
    logger.info({ notAfter: expiry.notAfter.toISOString(), daysLeft: Math.floor(expiry.daysLeft), minVersion: config.mtls.minTlsVersion }, 'mTLS on: client certificates required');
  }
  await reportToPredecessor({ type: 'ready', pid: process.pid });
  return {
    url: restUrl,
    close,
    reloadTls: () => {
      if (!tls) {
        logger.info({}, 'SIGHUP: TLS is off, nothing to reload');
        return;
      }
      if (!tls.reload('SIGHUP')) logger.info({ dir: tls.dir }, 'SIGHUP: TLS certificates unchanged');
    },
  };
}
