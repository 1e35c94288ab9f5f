/**
 * The embedded configuration used when the agent starts without `--config`: everything local to
 * the checkout (bundled package repository, state and pins under `<project>/.state/`), REST on
 * localhost:53000 (Swagger UI at /swagger), metrics on localhost:8898, chaining on, mTLS off (loopback only).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { configFromObject } from './load.ts';
import type { AgentConfig } from './schema.ts';

/**
 * The project root: the nearest ancestor of this module whose package.json is the `l3af`
 * workspace root (works from agent/src and from a compiled dist/ tree).
 */
export function projectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const parsed = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; workspaces?: unknown };
        if (parsed.name === 'l3af' && parsed.workspaces !== undefined) return dir;
      } catch {
        // not a usable package.json: keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
    dir = parent;
  }
}

/** Options of {@link defaultConfig}. */
export interface DefaultConfigOptions {
  /** Project root (default: found from this module's location). */
  projectRoot?: string;
  /** State directory (default `<project>/.state`): config store, package cache, pins, PID file. */
  stateDir?: string;
  /** Package repository base URL (default: file URL of `<project>/programs/repo`). */
  repoUrl?: string;
}

/** The embedded default configuration (validated like a file; throws ConfigError if an option is bad). */
export function defaultConfig(opts: DefaultConfigOptions = {}): AgentConfig {
  const root = opts.projectRoot ?? projectRoot();
  const state = resolve(opts.stateDir ?? join(root, '.state'));
  const repo = opts.repoUrl ?? pathToFileURL(join(root, 'programs', 'repo')).href;
  return configFromObject({
    l3afd: {
      'pid-file': join(state, 'l3afd.pid'),
      datacenter: 'local',
      'bpf-dir': join(state, 'packages'),
      'bpf-chaining-enabled': true,
      BpfMapDefaultPath: join(state, 'bpffs'),
      environment: 'DEV',
      'swagger-api-enabled': true,
    },
    'ebpf-repo': { url: repo },
    'l3af-config-store': { filename: join(state, 'l3af-config.json') },
    mtls: { enabled: false },
    l3af: { 'state-dir': state },
  }, '(embedded default)').config;
}
