// The markdown report of a chain-cost run.
import type { BenchEnvironment } from './environment.ts';
import type { ChainCostResult } from './chain-cost.ts';
import { LISTED_PORT, RL_RATE, RL_WINDOW_NS, UNLISTED_PORT } from './chain-cost.ts';
import { linearFit } from './stats.ts';

function ns(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/**
 * The largest increment between consecutive chain lengths when it is more than three times the
 * median increment (a step, not a slope), with the line through the lengths below it.
 */
function chainStep(r: ChainCostResult, root: number): { at: number; size: number; below: number; increments: number[] } | undefined {
  const med = (n: number): number | undefined => r.cases.find((c) => c.chainLength === n && !c.counted)?.kernelNs.median;
  const points: Array<[number, number]> = [[0, root]];
  for (let n = 1; n <= r.maxChain; n++) {
    const v = med(n);
    if (v === undefined) return undefined;
    points.push([n, v]);
  }
  const increments = points.slice(1).map(([, v], i) => v - points[i]![1]);
  const sorted = [...increments].sort((a, b) => a - b);
  const typical = sorted[Math.floor(sorted.length / 2)]!;
  const size = Math.max(...increments);
  const at = increments.indexOf(size) + 1;
  if (at < 3 || size <= 3 * Math.max(typical, 1)) return undefined;
  return { at, size, below: linearFit(points.slice(1, at)).slope, increments };
}

function signed(v: number): string {
  const s = ns(Math.abs(v));
  return v > 0 ? `+${s}` : v < 0 ? `−${s}` : '0';
}

function cell(s: string): string {
  return s.replaceAll('|', '\\|');
}

/** Renders a run as a markdown report: environment, the table, chain growth, wall time, checks. */
export function chainCostMarkdown(r: ChainCostResult, env: BenchEnvironment, command: string): string {
  const empty = r.cases.find((c) => c.id === 'empty')?.kernelNs.median ?? 0;
  const root = r.cases.find((c) => c.id === 'root')?.kernelNs.median ?? 0;
  const out: string[] = [];
  out.push('# Chain cost: ns per packet through XDP chains (BPF_PROG_TEST_RUN)', '');
  out.push(`${r.ok ? 'All checks passed.' : '**SOME CHECKS FAILED: the figures below are not trustworthy.**'} How to read this report: [bench/README.md](../README.md).`, '');
  out.push('| | |', '|---|---|');
  out.push(`| date | ${env.date} |`);
  out.push(`| command | \`${cell(command)}\` |`);
  out.push(`| kernel | ${env.kernel} |`);
  out.push(`| CPU | ${cell(env.cpuModel)} × ${env.cpuCount} |`);
  out.push(`| libbpf | ${env.libbpf} |`);
  out.push(`| node | ${env.node} |`);
  out.push(`| bpf_jit_enable | ${env.jit} |`);
  out.push(`| kernel run statistics at start (sysctl and stats fds of any process) | ${cell(env.bpfStats)} |`);
  out.push(`| rounds during which another process held a stats fd | ${r.statsTaxedRounds} of ${r.rounds}${r.statsTaxedRounds > 0 ? ' (their stats-off figures are taxed: marked * in the rounds column and left out of median/min/max where a case has untaxed rounds)' : ''} |`);
  out.push(`| load average (1, 5, 15 min) at start | ${env.loadAvg} |`);
  out.push(`| clocksource (bpf_ktime_get_ns) | ${env.clocksource} |`);
  out.push(`| repeat × rounds | ${r.repeat} × ${r.rounds} per case, rounds interleaved across cases |`);
  out.push(`| frame | ${r.frameBytes} bytes: Ethernet / IPv4 / TCP without options, zero padding |`);
  out.push(`| run time | ${(r.elapsedMs / 1000).toFixed(1)} s |`, '');

  out.push('## ns per packet', '');
  out.push(
    'The kernel\'s mean duration per run (`duration` of BPF_PROG_TEST_RUN, whole ns) of each round; median, minimum and maximum over the rounds. ' +
      `Δ columns compare medians. Ratelimiting runs with rate ${RL_RATE} per ${Number(RL_WINDOW_NS) / 1e9} s window and port ${LISTED_PORT} listed; ` +
      'its drop-event budget (rl_config_map[2]) is 0, the default. The kernel truncates its mean to whole ns. Cases marked "kernel stats ON" hold a ' +
      'BPF_ENABLE_STATS fd around each call: the difference to the same case without is what kernel run statistics cost every program run on the host. ' +
      'The last column is the fixed cost of each call (median over the rounds of wall time seen from JS − kernel mean × repeat): an XDP test run with ' +
      'repeat > 1 pays it once per call on this kernel, so wall ÷ repeat would not be a finer view of the kernel\'s figure.',
    '',
  );
  out.push('| case | path | verdict | median | min | max | Δ empty | Δ root | rounds | fixed cost per call, ms |', '|---|---|---|--:|--:|--:|--:|--:|---|--:|');
  for (const c of r.cases) {
    const verdict = c.verdicts.every((v) => v === c.expected) ? c.expected.toUpperCase() : `**${c.verdicts.join('/')}** (expected ${c.expected})`;
    const dRoot = c.id === 'empty' || c.id === 'root' ? '' : signed(c.kernelNs.median - root);
    const dEmpty = c.id === 'empty' ? '' : signed(c.kernelNs.median - empty);
    out.push(`| ${cell(c.label)} | ${cell(c.path)} | ${verdict} | **${ns(c.kernelNs.median)}** | ${ns(c.kernelNs.min)} | ${ns(c.kernelNs.max)} | ${dEmpty} | ${dRoot} | ${c.roundsNs.map((v, i) => `${v}${c.taxed[i] ? '*' : ''}`).join(' ')} | ${c.fixedMs.median.toFixed(1)} |`);
  }
  out.push('');
  const on = (id: string): number | undefined => r.cases.find((c) => c.id === id)?.kernelNs.median;
  const pairs = [['empty', 'empty+stats', 'empty XDP program'], ['rl-drop', 'rl-drop+stats', 'root → ratelimiting, drop path']] as const;
  out.push('## Kernel run statistics: data-plane cost', '');
  out.push('| program | stats off, ns | stats ON, ns | cost of stats, ns per run |', '|---|--:|--:|--:|');
  for (const [off, onId, label] of pairs) {
    const a = on(off);
    const b = on(onId);
    if (a !== undefined && b !== undefined) out.push(`| ${cell(label)} | ${ns(a)} | ${ns(b)} | ${signed(b - a)} |`);
  }
  out.push('');

  if (r.chainFit) {
    out.push('## Chain growth', '');
    const capN = r.cases.find((c) => c.chainLength === r.maxChain && !c.counted)?.kernelNs.median ?? 0;
    out.push(
      `Least-squares line through the root → N × count-and-pass medians (N = 1..${r.maxChain}): **${r.chainFit.slope.toFixed(2)} ns per added program** ` +
        `(one tail call, a per-CPU counter lookup and increment), ${r.chainFit.intercept.toFixed(1)} ns at N = 0 (root alone measured ${ns(root)} ns). ` +
        `From the end points: (N=${r.maxChain} − root) / ${r.maxChain} = ${((capN - root) / r.maxChain).toFixed(2)} ns per program.`,
      '',
    );
    const step = chainStep(r, root);
    if (step) {
      out.push(
        `The growth is not a line: each added program costs ${step.increments.map(ns).join(', ')} ns (N = 1..${r.maxChain}, median over the rounds). ` +
          `The largest increment, **+${ns(step.size)} ns at N = ${step.at}**, is a step: below it the line through N = 1..${step.at - 1} is ` +
          `**${step.below.toFixed(2)} ns per added program**. The chains are built from the objects alone (no agent code runs in them), so the step ` +
          'is what a tail-call chain of that depth costs on this kernel and CPU, whoever links it; the fit over the whole range mixes the two.',
        '',
      );
    }
  }

  if (r.chainFit && r.countedFit) {
    const plain = r.chainFit.slope;
    const counted = r.countedFit.slope;
    const capN = r.cases.find((c) => c.chainLength === r.maxChain && !c.counted)?.kernelNs.median ?? 0;
    const capcN = r.cases.find((c) => c.chainLength === r.maxChain && c.counted)?.kernelNs.median ?? 0;
    out.push('## Per-program counting ([l3af] chain-counting)', '');
    out.push(
      `The same chains with the agent's counting step (programs/src/count_step.bpf.c: one more tail call and a per-CPU add) before each program, ` +
        `measured in the same rounds: **${counted.toFixed(2)} ns per added program** against ${plain.toFixed(2)} ns without (fit over N = 1..${r.maxChain}); ` +
        `**counting costs ${(counted - plain).toFixed(2)} ns per program and packet, ${(counted / plain).toFixed(2)}× a plain hop**. ` +
        `At N = ${r.maxChain}: ${ns(capcN)} ns counted, ${ns(capN)} ns plain. It is off by default (its cost is more than one tail-call hop per program).`,
      '',
    );
  }

  out.push('## Wall time seen from JavaScript (root alone)', '');
  out.push('| measure | median | min | max |', '|---|--:|--:|--:|');
  const w = r.wall;
  out.push(`| wall time of one test_run call with repeat 1 (mean of ${w.singleCalls} calls per round), ns | **${w.perCallNs.median.toFixed(0)}** | ${w.perCallNs.min.toFixed(0)} | ${w.perCallNs.max.toFixed(0)} |`);
  out.push(`| the kernel's duration of those repeat-1 calls (median per round), ns | ${ns(w.kernelRepeat1Ns.median)} | ${ns(w.kernelRepeat1Ns.min)} | ${ns(w.kernelRepeat1Ns.max)} |`);
  out.push('');
  out.push(
    'The first row is the full price of one packet sent from JavaScript through koffi and the bpf() syscall (process.hrtime around the call); ' +
      'a call with repeat > 1 costs the fixed cost of the table above on top of the kernel\'s repeat × mean.',
    '',
  );

  out.push('## Checks', '');
  out.push('| check | expected | actual | |', '|---|---|---|---|');
  for (const c of r.checks) out.push(`| ${cell(c.what)} | ${cell(c.expected)} | ${cell(c.actual)} | ${c.ok ? 'ok' : '**FAILED**'} |`);
  out.push('');
  out.push(
    `Frames: the ratelimiting SYN pass path and every case outside ratelimiting use a SYN to port ${UNLISTED_PORT} (not listed); the ACK pass path uses an ACK ` +
      `to port ${LISTED_PORT}; the drop path uses a SYN to port ${LISTED_PORT}, ` +
      'after one priming SYN has taken the only place of the window, so every measured run drops. Each count-and-pass in a chain is a separate object ' +
      'instance (its own counter and next-program array), chained slot 0 to slot 0.',
    '',
  );
  return out.join('\n');
}
