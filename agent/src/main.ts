/**
 * The agent in the foreground: `npm start -- --config FILE` (l3afd.cfg INI or the same in YAML;
 * without --config the embedded default). Loads the configuration, starts the desired-state
 * engine (which adopts what is pinned and re-applies the stored state), serves the REST API on
 * `[l3af-configs] restapi-addr`, and on SIGINT/SIGTERM closes the server and stops the engine,
 * leaving the data plane running unless `[l3af] unload-on-stop`.
 *
 * Exit codes: 0 clean stop; 1 start-up or shutdown failure; 2 unusable configuration.
 */
import { Command } from 'commander';
import type { Logger } from 'pino';
import { ConfigError, defaultConfig, loadConfigFile, parseHostPort, type AgentConfig, type LoadedConfig } from './config/index.ts';
import { createEngine, type Engine } from './engine/index.ts';
import { Bpffs } from './bpf/index.ts';
import { buildServer, API_VERSION } from './api/server.ts';
import { createLogger } from './log.ts';

const EXIT_FAILURE = 1;
const EXIT_CONFIG = 2;

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

/** Refuses settings this build cannot honour (rather than silently running without them). */
function unsupported(config: AgentConfig, host: string, logger: Logger): string | undefined {
  const loopback = isLoopbackHost(host);
  const tls = config.mtls.enabled || (config.l3afd.environment === 'PROD' && !loopback);
  if (tls && !loopback) {
    return `[mtls] TLS with client certificates is not implemented yet, and [l3af-configs] restapi-addr "${config.l3afConfigs.restapiAddr}" is not a loopback address: `
      + 'bind the REST API to localhost, or set [mtls] enabled = false (and [l3afd] environment = DEV) to serve plain HTTP';
  }
  if (tls) logger.warn({ restapiAddr: config.l3afConfigs.restapiAddr }, '[mtls] enabled, but TLS is not implemented yet: serving plain HTTP on a loopback address');
  return undefined;
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
  const logger = createLogger({ level: config.l3af.logLevel });
  for (const w of loaded.warnings) logger.warn({ config: configPath }, w);
  for (const n of loaded.notes) logger.debug({ config: configPath }, n);

  const addr = parseHostPort(config.l3afConfigs.restapiAddr);
  if (addr === undefined) {
    say(`l3af: [l3af-configs] restapi-addr: not a host:port (got ${JSON.stringify(config.l3afConfigs.restapiAddr)})`);
    process.exit(EXIT_CONFIG);
  }
  const host = addr.host === '' ? '0.0.0.0' : addr.host;
  const refusal = unsupported(config, host, logger);
  if (refusal !== undefined) {
    logger.fatal(refusal);
    process.exit(EXIT_CONFIG);
  }

  // As l3afd: pins need a bpffs at BpfMapDefaultPath; mount one there when it is not on one yet
  // (it stays mounted after the agent exits, so the pinned data plane survives).
  try {
    const mounted = Bpffs.isMounted(config.l3afd.bpfMapDefaultPath);
    Bpffs.ensure(config.l3afd.bpfMapDefaultPath);
    if (!mounted) logger.info({ path: config.l3afd.bpfMapDefaultPath }, 'mounted a bpffs at [l3afd] BpfMapDefaultPath');
  } catch (err) {
    logger.fatal({ err, path: config.l3afd.bpfMapDefaultPath }, 'cannot mount a bpffs at [l3afd] BpfMapDefaultPath');
    process.exit(EXIT_FAILURE);
  }

  const engine: Engine = createEngine(config, { logger: logger.child({ component: 'engine' }) });
  try {
    await engine.start();
  } catch (err) {
    logger.fatal({ err }, 'the engine could not start');
    process.exit(EXIT_FAILURE);
  }

  const app = await buildServer({ engine, config, logger });
  try {
    const url = await app.listen({ host, port: addr.port });
    logger.info({ url, config: configPath ?? '(embedded default)' }, 'REST API listening');
  } catch (err) {
    logger.fatal({ err, restapiAddr: config.l3afConfigs.restapiAddr }, 'cannot listen for the REST API');
    await engine.stop().catch((e: unknown) => logger.error({ err: e }, 'engine stop failed'));
    process.exit(EXIT_FAILURE);
  }

  let stopping = false;
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
      clearTimeout(timer);
      logger.info({ code }, 'stopped');
      process.exit(code);
    })();
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main(process.argv).catch((err: unknown) => {
  say(`l3af: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(EXIT_FAILURE);
});
