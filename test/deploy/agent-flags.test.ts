// The agent runs with the same node flags wherever the project starts it (bench/lib/agent-flags.ts):
// npm start, the systemd unit, the image's entry point, the agent artifact's launcher and the Windows service; the
// benchmarks run under them too, so the memory and speed figures describe the same process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_NODE_FLAGS } from '../../bench/lib/agent-flags.ts';
import { ROOT } from '../harness/repo.ts';

const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');
/** The flags between `node` and the agent's entry file in one command line. */
const flagsBefore = (line: string, entry: RegExp): string[] => {
  const words = line.replace(/[[\]",]/g, ' ').trim().split(/\s+/);
  const node = words.findIndex((w) => /(^|\/)node$|L3AF_NODE/.test(w));
  const main = words.findIndex((w) => entry.test(w));
  assert.ok(node >= 0 && main > node, `no node … entry in: ${line}`);
  return words.slice(node + 1, main);
};

test('npm start, the systemd unit, the image, the agent artifact and the Windows service run node with the agent flags', () => {
  const flags = [...AGENT_NODE_FLAGS];
  const start = (JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start;
  assert.deepEqual(flagsBefore(start.slice(start.lastIndexOf('exec node')), /dist\/agent\/src\/main\.js$/), flags, 'npm start');
  const unit = read('deploy/systemd/l3af-agent.service').split('\n').find((l) => l.startsWith('ExecStart='))!;
  assert.deepEqual(flagsBefore(unit, /main\.js$/), flags, 'systemd ExecStart');
  const entry = read('deploy/Dockerfile').split('\n').find((l) => l.startsWith('ENTRYPOINT'))!;
  assert.deepEqual(flagsBefore(entry, /main\.js$/), flags, 'Dockerfile ENTRYPOINT');
  const launcher = read('programs/bundle.ts').split('\n').find((l) => l.includes('l3af-agent.mjs" "$@"'))!;
  assert.deepEqual(flagsBefore(launcher, /l3af-agent\.mjs/), flags, 'the agent artifact launcher');
  const service = read('deploy/windows/install-l3af.ps1').split('\n').find((l) => l.startsWith("Install-NssmService $nssm 'l3af-agent'"))!;
  assert.deepEqual(service.slice(service.indexOf('@(') + 2).split(',').map((w) => w.trim().replace(/'/g, '')).slice(0, flags.length), flags, 'the Windows service');
  const bench = read('bench/all.ts');
  assert.match(bench, /\[\.\.\.AGENT_NODE_FLAGS, '--import', 'tsx'/, 'npm run bench runs each benchmark under the agent flags');
});
