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
import { ConfigError, defaultConfig, loadConfigFile, parseHostPort, type LoadedConfig } from './config/index.ts';
import { API_VERSION } from './api/server.ts';
import { createLogger, logOutputOptions } from './log.ts';
import { kernelTooOld } from './platform/kernel-version.ts';
import { EXIT_CONFIG, EXIT_FAILURE, StartError, startAgent, type RunningAgent } from './app/agent.ts';
import { messageOf } from './error-message.ts';

/** Writes a line to stderr (before the logger exists). */
function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function loadConfig(path: string | undefined): Promise<LoadedConfig> {
  if (path === undefined) return { config: defaultConfig(), warnings: [], notes: ['no --config: using the embedded default configuration'] };
  return loadConfigFile(path);
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

  // Signals are handled from here on: a stop asked for while the agent starts stops it as soon as it serves
  // (exit 0), never by the signal's default action; a second signal during the stop leaves at once.
  let agent: RunningAgent | undefined;
  let stopRequested: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopRequested !== undefined) {
      logger.warn({ signal }, 'second signal during shutdown: exiting now');
      process.exit(EXIT_FAILURE);
    }
    stopRequested = signal;
    if (agent) void finish(agent, signal);
  };
  const finish = async (a: RunningAgent, signal: NodeJS.Signals): Promise<void> => {
    const timer = setTimeout(() => {
      logger.fatal({ timeoutMs: config.l3afd.shutdownTimeoutMs }, '[l3afd] shutdown-timeout passed before the agent stopped');
      process.exit(EXIT_FAILURE);
    }, config.l3afd.shutdownTimeoutMs);
    timer.unref();
    const code = await a.close(signal);
    clearTimeout(timer);
    process.exit(code);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    agent = await startAgent(config, { logger, configPath, addr: { host, port: addr.port }, onHandedOver: () => process.exit(0) });
  } catch (err) {
    if (err instanceof StartError) process.exit(err.exitCode);
    throw err;
  }
  if (stopRequested !== undefined) {
    await finish(agent, stopRequested);
    return;
  }
  const running = agent;
  process.on('SIGHUP', () => running.reloadTls());
}

main(process.argv).catch((err: unknown) => {
  say(`l3af: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(EXIT_FAILURE);
});
