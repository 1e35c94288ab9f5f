// The chain-cost benchmark on the real kernel, small: its verdicts and counter checks hold, and the report shows them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { requireRoot } from '../test/harness/index.ts';
import { runChainCost } from './lib/chain-cost.ts';
import { chainCostMarkdown } from './lib/chain-cost-report.ts';
import { benchEnvironment } from './lib/environment.ts';
import { linearFit, summarize } from './lib/stats.ts';
import { tcpFrame, TCP_SYN, FRAME_BYTES } from './lib/frame.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));

test('a small run measures every case, verifies verdicts and counters, and reports them', (t) => {
  if (requireRoot(t)) return;
  const lines: string[] = [];
  const r = runChainCost({ repeat: 2000, rounds: 3, maxChain: 3, singleCalls: 50, onProgress: (l) => lines.push(l) });
  assert.deepEqual(r.cases.map((c) => c.id), ['empty', 'root', 'rl-pass-syn', 'rl-pass-ack', 'rl-drop', 'empty+stats', 'rl-drop+stats', 'cap-1', 'cap-2', 'cap-3', 'capc-1', 'capc-2', 'capc-3']);
  assert.deepEqual(r.cases.filter((c) => c.stats).map((c) => c.id), ['empty+stats', 'rl-drop+stats']);
  for (const c of r.cases) {
    assert.equal(c.roundsNs.length, 3, c.id);
    assert.deepEqual(c.verdicts, [c.expected, c.expected, c.expected], c.id);
    assert.ok(c.kernelNs.min >= 0 && c.kernelNs.max < 100_000, `${c.id}: ${c.kernelNs.min}..${c.kernelNs.max} ns`);
  }
  assert.equal(r.cases.find((c) => c.id === 'rl-drop')?.expected, 'drop');
  const failed = r.checks.filter((c) => !c.ok);
  assert.deepEqual(failed, [], 'every check holds');
  const capChecks = r.checks.filter((c) => c.what.includes('count-and-pass: packets counted'));
  assert.equal(capChecks.length, 3);
  // the counted chains: every counting step and every program saw every packet
  const countedChecks = r.checks.filter((c) => c.what.includes('count-and-pass): packets counted by each step'));
  assert.equal(countedChecks.length, 3);
  assert.ok(r.countedFit !== undefined && r.chainFit !== undefined);
  assert.equal(capChecks[2]?.actual, '6000, 6000, 6000', 'each of the 3 instances counted repeat × rounds');
  assert.ok(r.checks.some((c) => c.what.startsWith('rl drop: drops') && c.actual === '6000'));
  assert.ok(r.wall.perCallNs.median > r.wall.kernelRepeat1Ns.median, 'a call from JS costs more than the run it asks for');
  assert.ok(lines.some((l) => l.startsWith('round 3/3  cap-3')), 'progress names the round and the case');

  const md = chainCostMarkdown(r, benchEnvironment(), 'tsx bench/chain-cost.ts --repeat 2000 --rounds 3');
  assert.match(md, /All checks passed/);
  assert.match(md, /\| root → 3 × count-and-pass \|/);
  assert.match(md, /\| libbpf \| v\d+\.\d+/);
  assert.match(md, /`tsx bench\/chain-cost\.ts --repeat 2000 --rounds 3`/);
  assert.match(md, /## Kernel run statistics: data-plane cost/);
  assert.match(md, /\| empty XDP program \| \d+ \| \d+ \|/);
  assert.match(md, /kernel run statistics at start .* \| (off|ON) \(sysctl /);
  assert.doesNotMatch(md, /FAILED/);
});

test('bad options are refused before anything is loaded', () => {
  assert.throws(() => runChainCost({ repeat: 0, rounds: 5 }), /repeat must be an integer in 1\.\.4294967295/);
  assert.throws(() => runChainCost({ repeat: 1.5, rounds: 5 }), /repeat/);
  assert.throws(() => runChainCost({ repeat: 10, rounds: 0 }), /rounds/);
  assert.throws(() => runChainCost({ repeat: 10, rounds: 5, maxChain: 40 }), /maxChain/);
  const cli = spawnSync(process.execPath, ['--import', 'tsx', 'bench/chain-cost.ts', '--repeat', 'lots'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(cli.status, 2);
  assert.match(cli.stderr, /--repeat must be a positive integer .* got 'lots'/);
  const unknown = spawnSync(process.execPath, ['--import', 'tsx', 'bench/chain-cost.ts', '--fast'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /Unknown option '--fast'/);
});

test('frame, median and line fit', () => {
  const f = tcpFrame(8080, TCP_SYN);
  assert.equal(f.length, FRAME_BYTES);
  assert.equal(f.readUInt16BE(12), 0x0800);
  assert.equal(f.readUInt16BE(36), 8080);
  assert.equal(f[47], TCP_SYN);
  assert.throws(() => tcpFrame(70000, TCP_SYN), /not a u16/);
  assert.deepEqual(summarize([5, 1, 3]), { median: 3, min: 1, max: 5 });
  assert.deepEqual(summarize([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4 });
  assert.throws(() => summarize([]), /zero rounds/);
  const fit = linearFit([[1, 3], [2, 5], [3, 7]]);
  assert.ok(Math.abs(fit.slope - 2) < 1e-9 && Math.abs(fit.intercept - 1) < 1e-9);
});
