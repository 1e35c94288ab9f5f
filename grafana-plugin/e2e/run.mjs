// `npm run e2e`: builds the plugin and the harness host page, then runs the browser tests: chains.e2e.ts against a
// real agent, rollout.e2e.ts across 20 real agents (needs root: they create network namespaces, veth pairs and
// bpffs mounts). `--no-build` skips the plugin build, `--only=<part of a file name>` runs the matching files.
// Ends with one summary line.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const fail = (why) => {
  console.error(`\nE2E: FAIL — ${why}`);
  process.exit(1);
};
if (process.getuid?.() !== 0) {
  fail('run as root (the test creates a network namespace, a veth pair and a bpffs mount)');
}
if (!existsSync(chromium)) {
  fail(`no Chromium at ${chromium} (apt-get install -y --no-install-recommends chromium, or set CHROMIUM_PATH)`);
}
const prometheus = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus';
if (!existsSync(prometheus)) {
  fail(
    `no Prometheus at ${prometheus} (apt-get install -y --no-install-recommends prometheus, or set PROMETHEUS_PATH)`
  );
}
if (spawnSync('bpftool', ['version'], { stdio: 'ignore' }).status !== 0) {
  fail('bpftool is needed (apt-get install -y bpftool): the test reads the rate back from the kernel map');
}
if (!existsSync(join(root, '..', 'node_modules', 'tsx'))) {
  fail('the agent needs the repository root installed: run `npm ci` in the repository root');
}

const step = (what, cmd, args) => {
  console.log(`\n== ${what}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    fail(`${what} (exit ${r.status ?? r.signal})`);
  }
};
if (!process.argv.includes('--no-build')) {
  step('build the plugin (npm run build)', 'npm', ['run', 'build', '--silent']);
}
step('build the harness host page', 'npx', ['webpack', '-c', 'e2e/harness/webpack.config.cjs']);
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const files = ['e2e/chains.e2e.ts', 'e2e/rollout.e2e.ts'].filter((f) => !only || f.includes(only));
console.log(`\n== browser tests (Chromium + real agents): ${files.join(', ')}`);
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files],
  {
    cwd: root,
    stdio: 'inherit',
  }
);
if (r.status !== 0) {
  fail(`browser test (exit ${r.status ?? r.signal}); screenshots in e2e/artifacts/`);
}
console.log('\nE2E: PASS — screenshots in grafana-plugin/e2e/artifacts/');
