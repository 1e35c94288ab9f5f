/**
 * Self-contained builds: one ESM file made by esbuild from a TypeScript entry point, with the
 * only native dependency (koffi, the FFI the kernel layer uses to reach libbpf) shipped beside
 * it in `node_modules/` (koffi's JS and this platform's prebuilt `koffi.node`). Such a folder
 * runs on a host with Node 20 and libbpf — no checkout, no npm, no tsx.
 *
 *   npx tsx programs/bundle.ts companion                 programs/build/companion/{ratelimiting.mjs,node_modules/}
 *   npx tsx programs/bundle.ts agent --version vX.Y.Z [--out DIR]
 *                                                        DIR/vX.Y.Z/l3afd.tar.gz (default DIR programs/build/agent-builds):
 *                                                        the agent as l3afd's graceful restart downloads it from
 *                                                        `[graceful-restart] restart-artifacts-url`/{version}/l3afd.tar.gz
 *                                                        (one folder `l3afd/`: the `l3af-agent` launcher, l3af-agent.mjs, extract-worker.mjs, node_modules/)
 */
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { create as tarCreate } from 'tar';
import { BUILD_DIR } from './packages.ts';
import { ARCHIVE_MTIME, walkTree } from './repository.ts';

const TOP = fileURLToPath(new URL('../', import.meta.url));
/** Where `companion` writes the ratelimiting companion's bundle and its node_modules. */
export const COMPANION_BUILD_DIR = join(BUILD_DIR, 'companion');
/** The file name l3afd's graceful restart downloads. */
export const AGENT_ARTIFACT = 'l3afd.tar.gz';

/** Bundles `entry` into one ESM file `outFile` (koffi left outside: it loads a native module). */
export async function bundleScript(entry: string, outFile: string): Promise<void> {
  mkdirSync(dirname(outFile), { recursive: true });
  await build({
    entryPoints: [entry], outfile: outFile, bundle: true, platform: 'node', format: 'esm', target: 'node20',
    external: ['koffi'], logLevel: 'warning', legalComments: 'none',
    // CommonJS dependencies call require(): give the ESM bundle one
    banner: { js: "import { createRequire as __l3afRequire } from 'node:module'; const require = __l3afRequire(import.meta.url);" },
  });
}

/**
 * Copies koffi's runtime (its JS and this platform's native module, or the native package folder
 * `nativeDir`, e.g. @koromix/koffi-win32-x64 for a Windows package) into `nodeModules`.
 */
export function copyKoffiRuntime(nodeModules: string, nativeDir?: string): void {
  const src = join(TOP, 'node_modules');
  const koffi = join(nodeModules, 'koffi');
  rmSync(nodeModules, { recursive: true, force: true });
  mkdirSync(koffi, { recursive: true });
  for (const f of ['package.json', 'index.js', 'LICENSE.txt']) cpSync(join(src, 'koffi', f), join(koffi, f));
  cpSync(join(src, 'koffi', 'src'), join(koffi, 'src'), { recursive: true });
  const nativeSrc = nativeDir ?? join(src, '@koromix', `koffi-${process.platform}-${process.arch}`);
  if (!existsSync(nativeSrc)) throw new Error(`${nativeSrc} is missing: no prebuilt koffi module there`);
  cpSync(nativeSrc, join(nodeModules, '@koromix', basename(nativeSrc)), { recursive: true });
}

/** The ratelimiting companion as one file plus koffi, in programs/build/companion/. */
export async function buildCompanion(): Promise<{ bundle: string; nodeModules: string }> {
  const bundle = join(COMPANION_BUILD_DIR, 'ratelimiting.mjs');
  const nodeModules = join(COMPANION_BUILD_DIR, 'node_modules');
  await bundleScript(join(TOP, 'programs', 'companion', 'ratelimiting.ts'), bundle);
  copyKoffiRuntime(nodeModules);
  return { bundle, nodeModules };
}

const AGENT_LAUNCHER = `#!/bin/sh
# The l3af agent, self-contained (bundle + koffi); needs Node 20 (L3AF_NODE, else node on PATH) and libbpf.
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd) || exit 1
exec "\${L3AF_NODE:-node}" --max-semi-space-size=1 "$here/l3af-agent.mjs" "$@"
`;

/** Writes `{out}/{version}/l3afd.tar.gz`: folder `l3afd/` with the launcher, the agent bundle and koffi. Returns its path. */
export async function buildAgentArtifact(out: string, version: string): Promise<string> {
  if (!/^v\d{1,9}\.\d{1,9}\.\d{1,9}$/.test(version)) throw new Error(`version ${JSON.stringify(version)} is not vI.J.K`);
  const stage = await mkdtemp(join(tmpdir(), `l3af-agent-build-${process.pid}-`));
  try {
    const dir = join(stage, 'l3afd');
    await bundleScript(join(TOP, 'agent', 'src', 'main.ts'), join(dir, 'l3af-agent.mjs'));
    // package extraction runs in a worker thread whose entry is this module, beside the bundle
    await bundleScript(join(TOP, 'agent', 'src', 'artifacts', 'extract-worker.ts'), join(dir, 'extract-worker.mjs'));
    copyKoffiRuntime(join(dir, 'node_modules'));
    writeFileSync(join(dir, 'l3af-agent'), AGENT_LAUNCHER);
    chmodSync(join(dir, 'l3af-agent'), 0o755);
    const entries = walkTree(dir, stage).sort();
    const file = join(out, version, AGENT_ARTIFACT);
    mkdirSync(dirname(file), { recursive: true });
    await tarCreate({ file, cwd: stage, gzip: { level: 9 }, portable: true, mtime: ARCHIVE_MTIME, noDirRecurse: true }, entries);
    return file;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { version: { type: 'string' }, out: { type: 'string' } } });
  if (positionals[0] === 'companion') {
    const r = await buildCompanion();
    console.log(`${r.bundle}\n${r.nodeModules}`);
  } else if (positionals[0] === 'agent') {
    console.log(await buildAgentArtifact(resolve(values.out ?? join(BUILD_DIR, 'agent-builds')), values.version ?? 'v0.1.0'));
  } else {
    throw new Error('usage: npx tsx programs/bundle.ts companion | agent --version vX.Y.Z [--out DIR]');
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
