/**
 * The agent in the foreground: `npm start -- --config FILE` (l3afd.cfg INI or the same in YAML;
 * without --config the embedded default). Loads the configuration, starts the desired-state
 * engine (which adopts what is pinned and re-applies the stored state), serves the REST API on
 * `[l3af-configs] restapi-addr`, and on SIGINT/SIGTERM closes the server and stops the engine,
 * leaving the data plane running unless `[l3af] unload-on-stop`.
 *
 * mTLS (`[mtls] enabled`, or `environment = PROD` on a non-loopback address): https with the
 * certificates of `[mtls] cert-dir`, client certificates verified against the configured CA only,
 * roles from the SAN rules; SIGHUP (and a change in cert-dir) reloads the certificates.
 * `[l3af] metrics-tls` (tls | mtls) serves /metrics over https with the same certificates (and,
 * for mtls, client certificates signed by the same CA), reloaded with them.
 * Single instance: the PID file and a lock in `[l3af] state-dir` (agent/src/instance), removed on
 * a clean stop. `PUT /l3af/configs/{version}/restart` hands over to another installed build.
 *
 * Exit codes: 0 clean stop (or handed over); 1 start-up or shutdown failure (also: another agent
 * holds the PID file or state directory); 2 unusable configuration.
 */
import { Command } from 'commander';
import { ConfigError, defaultConfig, loadConfigFile, parseHostPort, type AgentConfig, type LoadedConfig } from './config/index.ts';
import { createEngine, type ChainInspector, type Engine } from './engine/index.ts';
import type { ChainDescription } from './chain/index.ts';
import { registerStoreHealth } from './metrics/store-health.ts';
import { registerChainReach } from './metrics/chain-reach.ts';
import { Bpffs } from './bpf/index.ts';
import { buildServer, API_VERSION } from './api/server.ts';
import { AuditLog } from './audit/audit-log.ts';
import { RequestError } from './api/errors.ts';
import type { RestartController } from './api/restart-route.ts';
import type { RestartConfig } from './payload/index.ts';
import { createLogger, logOutputOptions } from './log.ts';
import { kernelTooOld } from './platform/kernel-version.ts';
import type { FastifyInstance } from 'fastify';
import { startDebugServer } from './api/debug-server.ts';
import { hostName } from './platform/host.ts';
import { SanRuleError, TlsConfigError, TlsMaterial, authorizeHook, roleRules, type RoleRules, type SecureContextTarget } from './security/index.ts';
import { InstanceConflictError, InstanceFileError, InstanceLock } from './instance/index.ts';
import { HandoverRefused, HANDOVER_ENV, installBuild, reportToPredecessor, resolveBuild, startBuild, startedByHandover } from './instance/handover.ts';
import type { Server } from 'node:http';
import { Gauge, type Registry } from 'prom-client';
import { installUnexpectedErrorGuard } from './metrics/unexpected-errors.ts';
import { Observability, observabilityOptions } from './app/observability.ts';
import { messageOf } from './error-message.ts';

const EXIT_FAILURE = 1;

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
const EXIT_CONFIG = 2;

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

async function loadConfig(path: string | undefined): Promise<LoadedConfig> {
  if (path === undefined) return { config: defaultConfig(), warnings: [], notes: ['no --config: using the embedded default configuration'] };
  return loadConfigFile(path);
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

async function main(argv: string[]): Promise<void> {
  const cli = new Command()
    .name('l3af-agent')
    .description('l3afd-compatible eBPF agent: REST API, desired-state engine, hitless chaining')
    .option('--config <file>', 'l3afd.cfg (INI) or YAML configuration; default: the embedded configuration')
    .version(API_VERSION, '--version')
    .allowExcessArguments(false)
    .exitOverride();
  try {
    cli.parse(argv);
  } catch (err) {
    // --help / --version have been printed; anything else is a usage error (commander printed it).
    const code = (err as { code?: string }).code;
    process.exit(code === 'commander.helpDisplayed' || code === 'commander.version' ? 0 : EXIT_CONFIG);
  }
  const configPath = cli.opts<{ config?: string }>().config;

  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig(configPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      say(`l3af: ${configPath === undefined ? 'the embedded configuration' : configPath} cannot be used:`);
      for (const p of err.problems) say(`  ${p.key}: ${p.message}${p.value !== undefined ? ` (got ${JSON.stringify(p.value)})` : ''}`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
  const { config } = loaded;
  let logger: ReturnType<typeof createLogger>;
  try {
    logger = createLogger({ level: config.l3af.logLevel, format: config.l3af.logFormat, ...logOutputOptions(config) });
  } catch (err) {
    say(`l3af: [l3afd] file-log-location ${config.l3afd.fileLogLocation}: cannot be used: ${messageOf(err)}`);
    process.exit(EXIT_CONFIG);
  }
  for (const w of loaded.warnings) logger.warn({ config: configPath }, w);
  for (const n of loaded.notes) logger.debug({ config: configPath }, n);

  const oldKernel = kernelTooOld({ major: config.l3afd.kernelMajorVersion, minor: config.l3afd.kernelMinorVersion });
  if (oldKernel !== undefined) {
    say(`l3af: ${oldKernel}`);
    logger.fatal({}, oldKernel);
    process.exit(EXIT_CONFIG);
  }

  const addr = parseHostPort(config.l3afConfigs.restapiAddr);
  if (addr === undefined) {
    say(`l3af: [l3af-configs] restapi-addr: not a host:port (got ${JSON.stringify(config.l3afConfigs.restapiAddr)})`);
    process.exit(EXIT_CONFIG);
  }
  const host = addr.host === '' ? '0.0.0.0' : addr.host;

  /** Leaves at start-up: tells a predecessor (hand-over) why, frees the instance files. */
  let lock: InstanceLock | undefined;
  const die = async (code: number, reason: string): Promise<never> => {
    await reportToPredecessor({ type: 'failed', reason });
    lock?.release();
    process.exit(code);
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
    return o;
  };
  // every chain as the kernel sees it, for the dead-end gauge (read through the engine current at scrape time)
  let chainsOfAll = (): ChainDescription[] => [];
  // a degraded start (unreadable state file), for the store gauge (read through the engine current at scrape time)
  let storeProblem = (): { file: string } | null => null;
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
  const newEngine = (): Engine => createEngine(config, { logger: logger.child({ component: 'engine' }), observer: obs });
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
            process.exit(0);
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

  const audit = new AuditLog({ dir: config.l3af.stateDir, registry: obs.registry });
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
  // Stop cleanly from here on: a SIGTERM that arrives as the REST API starts listening must not kill the agent by signal.
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal during shutdown: exiting now');
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    const unload = config.l3af.unloadOnStop;
    logger.info({ signal, unload }, unload ? 'stopping: unloading every program' : 'stopping: the data plane keeps running');
    const timer = setTimeout(() => {
      logger.fatal({ timeoutMs: config.l3afd.shutdownTimeoutMs }, '[l3afd] shutdown-timeout passed before the agent stopped');
      process.exit(EXIT_FAILURE);
    }, config.l3afd.shutdownTimeoutMs);
    timer.unref();
    void (async () => {
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
      clearTimeout(timer);
      tls?.close();
      lock?.release();
      logger.info({ code }, 'stopped');
      process.exit(code);
    })();
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  // After a hand-over the predecessor's listening socket closes just before this one starts: retry briefly.
  const listenDeadline = Date.now() + (startedByHandover() ? 10_000 : 0);
  for (;;) {
    try {
      const url = await app.listen({ host, port: addr.port });
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
  process.on('SIGHUP', () => {
    if (!tls) {
      logger.info({}, 'SIGHUP: TLS is off, nothing to reload');
      return;
    }
    if (!tls.reload('SIGHUP')) logger.info({ dir: tls.dir }, 'SIGHUP: TLS certificates unchanged');
  });
}

main(process.argv).catch((err: unknown) => {
  say(`l3af: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(EXIT_FAILURE);
});
