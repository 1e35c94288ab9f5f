// l3afd's [l3afd] keys that the agent once read and ignored, on the running agent (issue 13 point 15):
// - kernel-major-version / kernel-minor-version above the running kernel: refused at start, both keys named, exit 2;
// - file-log-location that cannot be opened: refused at start naming the key;
// - json-format-logs false + file-log-location: console lines on stdout and in the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateBpffs, skipUnless } from '../harness/index.ts';
import { StateDir } from '../engine/helpers.ts';
import { agentConfig, spawnAgent } from '../harness/agent-process.ts';
import { freePort } from '../harness/net.ts';

const skip = await skipUnless('root', 'bpffs');

/** The test agent's YAML with `lines` added to its l3afd: section. */
function withL3afdKeys(file: string, lines: string[]): string {
  const text = readFileSync(file, 'utf8').replace(/^l3afd:\n/m, `l3afd:\n${lines.map((l) => `  ${l}\n`).join('')}`);
  writeFileSync(file, text);
  return file;
}

test('kernel minimum above this kernel and an unusable file-log-location are refused at start, naming the keys', { skip, timeout: 60_000 }, async () => {
  await using bpffs = await PrivateBpffs.create();
  using state = new StateDir();
  const cfg = withL3afdKeys(agentConfig({ stateDir: state.path, pinRoot: bpffs.path, port: await freePort() }), ['kernel-major-version: 99', 'kernel-minor-version: 1']);
  const a = spawnAgent(cfg);
  const ea = await a.exited;
  assert.equal(ea.code, 2, a.stderr.join(''));
  assert.match(a.stderr.join(''), /\[l3afd\] kernel-major-version \/ kernel-minor-version: this kernel is \d+\.\d+ .*older than the configured minimum 99\.1/);

  const notADir = join(state.path, 'a-file');
  writeFileSync(notADir, 'x');
  const cfg2 = withL3afdKeys(agentConfig({ stateDir: state.path, pinRoot: bpffs.path, port: await freePort() }), [`file-log-location: ${notADir}/agent.log`]);
  const b = spawnAgent(cfg2);
  const eb = await b.exited;
  assert.equal(eb.code, 2, b.stderr.join(''));
  assert.match(b.stderr.join(''), /\[l3afd\] file-log-location \S+\/a-file\/agent\.log: cannot be used: E(EXIST|NOTDIR)/);
});

test('json-format-logs false and file-log-location: console lines on stdout and in the file', { skip, timeout: 60_000 }, async () => {
  await using bpffs = await PrivateBpffs.create();
  using state = new StateDir();
  const logFile = join(state.path, 'logs', 'l3afd.log');
  const cfg = withL3afdKeys(agentConfig({ stateDir: state.path, pinRoot: bpffs.path, port: await freePort() }), ['json-format-logs: false', `file-log-location: ${logFile}`, 'file-log-max-size: 1']);
  const agent = spawnAgent(cfg);
  try {
    const deadline = Date.now() + 30_000;
    while (!/INF REST API listening/.test(safeRead(logFile)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const text = safeRead(logFile);
    assert.match(text, /^\S+ INF REST API listening url=http:\/\/127\.0\.0\.1:\d+/m, text.slice(0, 500));
    assert.doesNotMatch(text, /^\{/m, 'no JSON lines');
    agent.child.kill('SIGTERM');
    await agent.exited;
    assert.match(safeRead(logFile), /INF stopped code=0/, 'the last line too');
    assert.ok(agent.lines.length > 0 && agent.lines.every((l) => (l as { level?: unknown }).level === undefined && / INF | DBG | WRN /.test(String(l.msg))), 'stdout carries console lines, not JSON');
  } finally {
    await agent.kill();
  }
});

function safeRead(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
