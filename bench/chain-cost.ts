// Benchmark: ns per packet of XDP chains with BPF_PROG_TEST_RUN; writes a markdown report.
//   npx tsx bench/chain-cost.ts [--repeat N] [--rounds R] [--out FILE]      (as root; see bench/README.md)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runChainCost } from './lib/chain-cost.ts';
import { chainCostMarkdown } from './lib/chain-cost-report.ts';
import { benchEnvironment } from './lib/environment.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_OUT = resolve(REPO, 'bench/reports/chain-cost.md');
const USAGE = `usage: chain-cost [--repeat N] [--rounds R] [--out FILE]
  --repeat N   runs per test_run call (default 1000000, at most 4294967295)
  --rounds R   test_run calls per case; median/min/max are over them (default 5)
  --out FILE   markdown report (default bench/reports/chain-cost.md)
Needs root and the built programs (make -C programs).`;

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(v) || v < 1) throw new UsageError(`--${name} must be a positive integer (e.g. 1000000 or 1e6), got '${text}'`);
  return v;
}

class UsageError extends Error {}

/** How this process was started, as a command a reader can paste (run from the repository root). */
function commandLine(): string {
  const script = relative(process.cwd(), process.argv[1] ?? 'bench/chain-cost.ts') || 'bench/chain-cost.ts';
  const args = process.argv.slice(2).map((a) => (/^[\w./=@:+-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`));
  let launcher: string;
  if (process.env.npm_command === 'exec') launcher = 'npx tsx';
  else if (process.execArgv.some((a) => a.includes('tsx/dist/'))) launcher = 'tsx';
  else launcher = ['node', ...process.execArgv].join(' ');
  return [launcher, script, ...args].join(' ');
}

/** `path` relative to the working directory when it lies below it, else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}

function main(): number {
  let opts: { repeat: number; rounds: number; out: string };
  try {
    const { values } = parseArgs({
      options: { repeat: { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    opts = { repeat: integer('repeat', values.repeat, 1_000_000), rounds: integer('rounds', values.rounds, 5), out: resolve(values.out ?? DEFAULT_OUT) };
    if (opts.repeat > 0xffffffff) throw new UsageError(`--repeat must be at most 4294967295 (the kernel's u32), got ${opts.repeat}`);
    if (opts.rounds > 1000) throw new UsageError(`--rounds must be at most 1000, got ${opts.rounds}`);
  } catch (err) {
    console.error(`chain-cost: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    console.error(`chain-cost: needs root for BPF_PROG_TEST_RUN (running as uid ${process.getuid?.() ?? 'unknown'})`);
    return 2;
  }
  if (opts.rounds < 5) console.error(`chain-cost: warning: ${opts.rounds} rounds; a median wants at least 5`);

  const command = commandLine();
  const env = benchEnvironment();
  console.log(`chain-cost: repeat ${opts.repeat} × ${opts.rounds} rounds on ${env.kernel}, ${env.cpuModel} × ${env.cpuCount}, libbpf ${env.libbpf}`);
  const result = runChainCost({ repeat: opts.repeat, rounds: opts.rounds, onProgress: (line) => console.log(line) });
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, chainCostMarkdown(result, env, command));

  console.log('\ncase                               median   min   max  ns/pkt');
  for (const c of result.cases) {
    console.log(`${`${c.label}${c.id.startsWith('rl-') ? ` [${c.id}]` : ''}`.padEnd(34)} ${String(c.kernelNs.median).padStart(6)} ${String(c.kernelNs.min).padStart(5)} ${String(c.kernelNs.max).padStart(5)}`);
  }
  console.log(`root alone, wall from JS: ${result.wall.perCallNs.median.toFixed(0)} ns per repeat-1 call; fixed cost of a repeat-${opts.repeat} call ${result.cases.find((c) => c.id === 'root')?.fixedMs.median.toFixed(1)} ms`);
  if (result.statsTaxedRounds > 0) console.error(`chain-cost: warning: another process held a kernel stats fd during ${result.statsTaxedRounds} round(s): stats-off figures are taxed`);
  const failed = result.checks.filter((c) => !c.ok);
  for (const c of failed) console.error(`CHECK FAILED: ${c.what}: expected ${c.expected}, got ${c.actual}`);
  console.log(`${result.checks.length - failed.length}/${result.checks.length} checks passed; report: ${shown(opts.out)} (${(result.elapsedMs / 1000).toFixed(1)} s)`);
  return failed.length === 0 ? 0 : 1;
}

try {
  process.exitCode = main();
} catch (err) {
  console.error(`chain-cost: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
