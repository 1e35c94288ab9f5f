/**
 * Packages the built eBPF programs as l3afd artifacts into a local package repository.
 *
 *   npx tsx programs/package.ts [--out DIR] [--platform NAME] [--only NAME[,NAME...]]
 *
 * Defaults: --out programs/repo, --platform = this host's platform segment (e.g. `bookworm`),
 * every package. Run `make -C programs` first (or `make -C programs package`, which does both).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { platformName } from '../agent/src/platform/platform-name.ts';
import { DEFAULT_REPO_DIR, PACKAGES } from './packages.ts';
import { writeRepository } from './repository.ts';

const USAGE = 'usage: npx tsx programs/package.ts [--out DIR] [--platform NAME] [--only NAME[,NAME...]]';

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string' },
        platform: { type: 'string' },
        only: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const repo = resolve(values.out ?? DEFAULT_REPO_DIR);
  const platform = values.platform ?? platformName();
  let specs = PACKAGES;
  if (values.only !== undefined) {
    const wanted = values.only.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = wanted.filter((w) => !PACKAGES.some((p) => p.name === w));
    if (unknown.length > 0) {
      console.error(`unknown package(s): ${unknown.join(', ')}; known: ${PACKAGES.map((p) => p.name).join(', ')}`);
      return 2;
    }
    specs = PACKAGES.filter((p) => wanted.includes(p.name));
  }
  const written = await writeRepository(repo, platform, specs);
  for (const w of written) console.log(`${w.sha256}  ${w.path} (${w.bytes} bytes)`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`package: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
