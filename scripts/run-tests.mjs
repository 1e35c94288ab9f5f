#!/usr/bin/env node
// Runs every *.test.ts under test/ and agent/src with node's built-in test runner (through tsx),
// one file at a time (kernel tests share interfaces, bpffs and CPU). On CI (CI=true), or with
// L3AF_NO_SKIP=1, a run in which any test was skipped fails: here every kernel test must run.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const roots = ['test', 'agent/src', 'programs', 'bench', 'scripts'];
const filter = process.argv.slice(2);

function walk(dir, out) {
  let entries;
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return out; }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name === 'build') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

let files = roots.flatMap((r) => walk(join(root, r), [])).sort();
if (filter.length > 0) files = files.filter((f) => filter.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}

const tmp = mkdtempSync(join(tmpdir(), 'l3af-tap-'));
const tap = join(tmp, 'results.tap');
const args = [
  '--import', 'tsx',
  // blocking stdout in each test file's process: --test-force-exit cannot cut its report short (see the file)
  '--import', pathToFileURL(join(root, 'scripts', 'blocking-stdout.mjs')).href,
  '--test', '--test-concurrency=1',
  // a file whose tests are done exits even if a leaked handle would keep it alive, and no single
  // test may hang CI: 10 minutes is far above the slowest test
  '--test-force-exit', '--test-timeout=600000',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tap}`,
  ...files,
];
const res = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
let code = res.status ?? 1;

const text = readFileSync(tap, 'utf8');
rmSync(tmp, { recursive: true, force: true });
const skipped = [...text.matchAll(/^\s*ok \d+ - (.*) # SKIP(.*)$/gm)].map((m) => `${m[1]}:${m[2]}`);
const noSkip = process.env.CI === 'true' || process.env.L3AF_NO_SKIP === '1';
if (skipped.length > 0) {
  console.error(`\n${skipped.length} test(s) skipped:\n  ${skipped.join('\n  ')}`);
  if (noSkip) {
    console.error('run-tests: skipped tests are not allowed here (CI=true or L3AF_NO_SKIP=1): failing the run');
    code = code || 1;
  }
}
process.exit(code);
