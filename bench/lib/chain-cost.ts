// The chain-cost benchmark: what a packet costs in an XDP chain, measured with BPF_PROG_TEST_RUN.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BpfObject, ProgArray, enableStats, statsHolders, u8, u16, u32, u64, xdpActionName, type BpfProgram, type XdpAction } from '../../agent/src/bpf/index.ts';
import { FRAME_BYTES, TCP_ACK, TCP_SYN, tcpFrame } from './frame.ts';
import { linearFit, summarize, type Summary } from './stats.ts';

const BUILD = fileURLToPath(new URL('../../programs/build/', import.meta.url));

/** The port listed in rl_ports_map, and one that is not. */
export const LISTED_PORT = 8080;
export const UNLISTED_PORT = 9090;
/** Ratelimiting's configuration in every ratelimiting case: 1 connection per 1-hour window. */
export const RL_RATE = 1n;
export const RL_WINDOW_NS = 3_600_000_000_000n;

/** Options of one benchmark run. */
export interface ChainCostOptions {
  /** Runs of the program per test_run call (the kernel reports the mean). */
  readonly repeat: number;
  /** test_run calls per case; the report gives their median, minimum and maximum. */
  readonly rounds: number;
  /** Longest root → N × count-and-pass chain measured (N = 1..maxChain); 10 unless given. */
  readonly maxChain?: number;
  /** test_run calls with repeat 1 per round for the per-call wall time from JS; 10 000 unless given. */
  readonly singleCalls?: number;
  /** Receives one line per step (which case, which round). */
  readonly onProgress?: (line: string) => void;
}

/** One verification made during or after the run. */
export interface Check {
  readonly what: string;
  readonly expected: string;
  readonly actual: string;
  readonly ok: boolean;
}

/** The measurements of one case. */
export interface CaseResult {
  /** Short stable name, e.g. `empty`, `root`, `rl-drop`, `cap-3`. */
  readonly id: string;
  /** What runs, e.g. `root → ratelimiting`. */
  readonly label: string;
  /** Which path through the programs the frame takes. */
  readonly path: string;
  /** N for the count-and-pass chains. */
  readonly chainLength?: number;
  /** A chain with the agent's counting step before each program (`[l3af] chain-counting`). */
  readonly counted?: boolean;
  readonly expected: XdpAction;
  /** Verdict of each round (test_run's retval: that of the last repeat). */
  readonly verdicts: string[];
  /** The kernel's mean ns per run, each round. */
  readonly roundsNs: number[];
  /**
   * Median, min and max over the rounds during which no other process held a stats fd (all rounds when every
   * one was taxed, or for the stats-ON cases).
   */
  readonly kernelNs: Summary;
  /** Per round: another process held a stats fd before or after the call (the kernel timed every run). */
  readonly taxed: boolean[];
  /** Kernel run statistics held on (a BPF_ENABLE_STATS fd of this process) during this case's calls. */
  readonly stats: boolean;
  /**
   * Fixed cost of each round's test_run call: wall time seen from JS minus the kernel's mean × repeat, in ms.
   * An XDP test run with repeat > 1 pays ≈ 28 ms once per call on this kernel (dispatcher swap), so wall ÷ repeat
   * is not a finer view of the kernel's figure.
   */
  readonly fixedRoundsMs: number[];
  readonly fixedMs: Summary;
  readonly checks: Check[];
}

/** Wall time seen from JavaScript around test_run of the root alone (syscall and FFI included). */
export interface WallTime {
  /** Wall time of one test_run call with repeat 1 (mean over `singleCalls` calls), per round. */
  readonly perCallNs: Summary;
  readonly perCallRoundsNs: number[];
  /** The kernel's duration of those repeat-1 calls (median of all calls), per round. */
  readonly kernelRepeat1Ns: Summary;
  readonly singleCalls: number;
}

/** Everything one run measured. */
export interface ChainCostResult {
  readonly repeat: number;
  readonly rounds: number;
  readonly maxChain: number;
  readonly frameBytes: number;
  readonly cases: CaseResult[];
  readonly wall: WallTime;
  /** Least-squares fit of the count-and-pass medians over N: ns per added program, and at N = 0. */
  readonly chainFit: { readonly slope: number; readonly intercept: number } | undefined;
  /** The same fit for the chains with a counting step before each program. */
  readonly countedFit: { readonly slope: number; readonly intercept: number } | undefined;
  /** Rounds of stats-off cases during which another process held a stats fd (their figures are taxed). */
  readonly statsTaxedRounds: number;
  readonly checks: Check[];
  readonly ok: boolean;
  readonly elapsedMs: number;
}

/** A case being measured: its entry program, frame and the check to make after the rounds. */
interface BenchCase {
  readonly id: string;
  readonly label: string;
  readonly path: string;
  readonly chainLength?: number;
  readonly counted?: boolean;
  readonly entry: BpfProgram;
  readonly frame: Buffer;
  readonly expected: XdpAction;
  readonly verify: () => Check[];
  readonly stats?: boolean;
  readonly verdicts: string[];
  readonly roundsNs: number[];
  readonly fixedRoundsMs: number[];
  readonly taxed: boolean[];
}

function objectPath(rel: string): string {
  const p = `${BUILD}${rel}`;
  if (!existsSync(p)) throw new Error(`${p} is missing: build the programs with 'make -C programs'`);
  return p;
}

function check(what: string, expected: unknown, actual: unknown): Check {
  const e = String(expected);
  const a = String(actual);
  return { what, expected: e, actual: a, ok: e === a };
}

function positiveInt(name: string, v: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < 1 || v > max) throw new RangeError(`${name} must be an integer in 1..${max}, got ${v}`);
}

/** Loads objects and remembers them so that everything is closed at the end, in reverse order. */
class ObjectSet {
  readonly #objects: BpfObject[] = [];

  /** Loads `rel` (only program `only` when given: an object whose programs share a prog array must load one hook's). */
  load(rel: string, only?: string): BpfObject {
    const obj = BpfObject.open(objectPath(rel));
    this.#objects.push(obj);
    if (only !== undefined) for (const p of obj.programNames) if (p !== only) obj.skipProgram(p);
    obj.load();
    return obj;
  }

  close(): void {
    for (const o of this.#objects.reverse()) o.close();
    this.#objects.length = 0;
  }
}

/**
 * Runs the chain-cost benchmark: for each case, `rounds` test_run calls of `repeat` runs each, the
 * rounds interleaved across cases (round 1 of every case, then round 2, ...) so that a noisy moment
 * of the VM spreads over all cases instead of spoiling one. Loads every object it needs and closes
 * them all before returning, also on failure. Needs root.
 */
export function runChainCost(opts: ChainCostOptions): ChainCostResult {
  positiveInt('repeat', opts.repeat, 0xffffffff);
  positiveInt('rounds', opts.rounds, 1000);
  const maxChain = opts.maxChain ?? 10;
  positiveInt('maxChain', maxChain, 30); // a chain of 1 root + N programs stays below the 33 tail calls limit
  const singleCalls = opts.singleCalls ?? 10_000;
  positiveInt('singleCalls', singleCalls, 10_000_000);
  const progress = opts.onProgress ?? ((): void => undefined);
  const { repeat, rounds } = opts;
  const total = BigInt(repeat) * BigInt(rounds);
  const started = performance.now();
  const objects = new ObjectSet();
  const checks: Check[] = [];
  try {
    const baseFrame = tcpFrame(UNLISTED_PORT, TCP_SYN);
    const cases: BenchCase[] = [];
    const add = (c: Omit<BenchCase, 'verdicts' | 'roundsNs' | 'fixedRoundsMs' | 'taxed'>): void => {
      cases.push({ ...c, verdicts: [], roundsNs: [], fixedRoundsMs: [], taxed: [] });
    };

    progress('setup: empty XDP program');
    const empty = objects.load('test/kl_empty.bpf.o');
    add({ id: 'empty', label: 'empty XDP program (`return XDP_PASS`)', path: 'returns at once', entry: empty.program('xdp_pass'), frame: baseFrame, expected: 'pass', verify: () => [] });

    progress('setup: root alone');
    const loadRoot = (): { entry: BpfProgram; next: ProgArray } => {
      const root = objects.load('xdp_root.bpf.o');
      return { entry: root.program('xdp_root'), next: new ProgArray(root.map('xdp_root_array')) };
    };
    const alone = loadRoot();
    add({
      id: 'root', label: 'root alone (empty chain)', path: 'tail call into an empty slot falls through', entry: alone.entry, frame: baseFrame, expected: 'pass',
      verify: () => [check('root alone: xdp_root_array slot 0 still empty', 'empty', alone.next.get(0) === undefined ? 'empty' : `prog ${alone.next.get(0)}`)],
    });

    const loadLimiter = (): { entry: BpfProgram; recv: () => bigint | undefined; drops: () => bigint | undefined } => {
      const root = loadRoot();
      const rl = objects.load('ratelimiting.bpf.o');
      rl.map('rl_config_map').typed(u32, u64).set(0, RL_RATE);
      rl.map('rl_config_map').typed(u32, u64).set(1, RL_WINDOW_NS);
      rl.map('rl_ports_map').typed(u16, u8).set(LISTED_PORT, 1);
      root.next.set(0, rl.program('_xdp_ratelimiting'));
      const recv = rl.map('rl_recv_count_map').typed(u32, u64);
      const drops = rl.map('rl_drop_count_map').typed(u32, u64);
      return { entry: root.entry, recv: () => recv.get(0), drops: () => drops.get(0) };
    };

    progress('setup: root → ratelimiting, pass path (SYN to an unlisted port)');
    const rlSyn = loadLimiter();
    add({
      id: 'rl-pass-syn', label: 'root → ratelimiting', path: `pass: SYN to unlisted port ${UNLISTED_PORT} (full parse + port lookup miss)`,
      entry: rlSyn.entry, frame: baseFrame, expected: 'pass',
      verify: () => [
        check('rl pass (SYN, unlisted port): candidates counted (rl_recv_count_map)', 0n, rlSyn.recv()),
        check('rl pass (SYN, unlisted port): drops (rl_drop_count_map)', 0n, rlSyn.drops()),
      ],
    });

    progress('setup: root → ratelimiting, pass path (ACK to the listed port)');
    const rlAck = loadLimiter();
    add({
      id: 'rl-pass-ack', label: 'root → ratelimiting', path: `pass: ACK (not a SYN) to listed port ${LISTED_PORT} (parse, stops at the flags)`,
      entry: rlAck.entry, frame: tcpFrame(LISTED_PORT, TCP_ACK), expected: 'pass',
      verify: () => [
        check('rl pass (ACK, listed port): candidates counted (rl_recv_count_map)', 0n, rlAck.recv()),
        check('rl pass (ACK, listed port): drops (rl_drop_count_map)', 0n, rlAck.drops()),
      ],
    });

    progress(`setup: root → ratelimiting, drop path (SYN to listed port ${LISTED_PORT}, rate ${RL_RATE} per ${Number(RL_WINDOW_NS) / 1e9} s, spent by one priming SYN)`);
    const rlDrop = loadLimiter();
    const synListed = tcpFrame(LISTED_PORT, TCP_SYN);
    const priming = rlDrop.entry.testRun({ data: synListed, repeat: 1 });
    checks.push(check('rl drop: the priming SYN (the one connection the rate allows) passes', 'pass', xdpActionName(priming.retval)));
    add({
      id: 'rl-drop', label: 'root → ratelimiting', path: `drop: SYN to listed port ${LISTED_PORT}, rate exhausted (window lookup, atomic add and undo, drop counter)`,
      entry: rlDrop.entry, frame: synListed, expected: 'drop',
      verify: () => [
        check('rl drop: candidates counted (rl_recv_count_map) = repeat × rounds + 1 priming', total + 1n, rlDrop.recv()),
        check('rl drop: drops (rl_drop_count_map) = repeat × rounds', total, rlDrop.drops()),
      ],
    });

    // The same empty program and drop path with kernel run statistics on (a BPF_ENABLE_STATS fd held
    // around each call): what an agent holding stats costs every program on the host.
    add({ id: 'empty+stats', label: 'empty XDP program, kernel stats ON', path: 'returns at once', entry: empty.program('xdp_pass'), frame: baseFrame, expected: 'pass', stats: true, verify: () => [] });
    progress('setup: root → ratelimiting, drop path, kernel stats ON');
    const rlDropStats = loadLimiter();
    const primingStats = rlDropStats.entry.testRun({ data: synListed, repeat: 1 });
    checks.push(check('rl drop (stats on): the priming SYN passes', 'pass', xdpActionName(primingStats.retval)));
    add({
      id: 'rl-drop+stats', label: 'root → ratelimiting, kernel stats ON', path: 'drop: as above', entry: rlDropStats.entry, frame: synListed, expected: 'drop', stats: true,
      verify: () => [check('rl drop (stats on): drops (rl_drop_count_map) = repeat × rounds', total, rlDropStats.drops())],
    });

    for (const counted of [false, true]) {
      for (let n = 1; n <= maxChain; n++) {
        const what = counted ? `root → ${n} × (counting step → count-and-pass)` : `root → ${n} × count-and-pass`;
        progress(`setup: ${what}`);
        const root = loadRoot();
        const counters: Array<() => bigint | undefined> = [];
        let next = root.next;
        for (let i = 0; i < n; i++) {
          const cap = objects.load('count_and_pass.bpf.o');
          if (counted) {
            // the agent's counting step (programs/src/count_step.bpf.c) before the program, as [l3af] chain-counting places it
            const step = objects.load('count_step.bpf.o', 'l3af_count_xdp');
            next.set(0, step.program('l3af_count_xdp'));
            new ProgArray(step.map('l3af_count_next')).set(0, cap.program('xdp_count_and_pass'));
            const stepCount = step.map('l3af_count').typed(u32, u64);
            counters.push(() => stepCount.sumPerCpu(0));
          } else {
            next.set(0, cap.program('xdp_count_and_pass'));
          }
          next = new ProgArray(cap.map('xdp_cap_next_prog'));
          const count = cap.map('xdp_cap_count').typed(u32, u64);
          counters.push(() => count.sumPerCpu(0));
        }
        add({
          id: `${counted ? 'capc' : 'cap'}-${n}`, label: what, path: counted ? 'every step and every program counts, the last one passes' : 'every program counts, the last one passes',
          chainLength: n, ...(counted ? { counted } : {}), entry: root.entry, frame: baseFrame, expected: 'pass',
          verify: () => {
            const got = counters.map((c) => c());
            return [check(`${what}: packets counted by each ${counted ? 'step and ' : ''}instance (per-CPU sum) = repeat × rounds`, Array(got.length).fill(total).join(', '), got.join(', '))];
          },
        });
      }
    }

    let statsTaxedRounds = 0;
    const othersHoldStats = (): boolean => statsHolders().some((h) => h.pid !== process.pid);
    for (let r = 1; r <= rounds; r++) {
      let roundTaxed = false;
      for (const c of cases) {
        const before = c.stats ? false : othersHoldStats();
        const handle = c.stats ? enableStats() : undefined;
        const t0 = process.hrtime.bigint();
        const res = c.entry.testRun({ data: c.frame, repeat });
        const wallNs = Number(process.hrtime.bigint() - t0);
        handle?.close();
        const taxed = before || (!c.stats && othersHoldStats());
        c.taxed.push(taxed);
        roundTaxed ||= taxed;
        const verdict = xdpActionName(res.retval);
        c.verdicts.push(verdict);
        c.roundsNs.push(res.durationNs);
        c.fixedRoundsMs.push((wallNs - res.durationNs * repeat) / 1e6);
        progress(`round ${r}/${rounds}  ${c.id.padEnd(11)} ${String(res.durationNs).padStart(5)} ns/pkt  ${verdict}${verdict === c.expected ? '' : ` (expected ${c.expected})`}${taxed ? '  (another process held kernel stats)' : ''}`);
      }
      if (roundTaxed) statsTaxedRounds++;
    }

    progress(`wall time from JS: ${rounds} × ${singleCalls} test_run calls with repeat 1 on the root alone`);
    const perCall: number[] = [];
    const kernelRepeat1: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      const durations: number[] = [];
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < singleCalls; i++) durations.push(alone.entry.testRun({ data: baseFrame, repeat: 1 }).durationNs);
      perCall.push(Number(process.hrtime.bigint() - t0) / singleCalls);
      kernelRepeat1.push(summarize(durations).median);
      progress(`round ${r}/${rounds}  one call ${perCall[perCall.length - 1]!.toFixed(0)} ns wall, kernel ${kernelRepeat1[kernelRepeat1.length - 1]} ns`);
    }

    const results: CaseResult[] = cases.map((c) => {
      const caseChecks = [check(`${c.id}: verdict of every round`, Array(rounds).fill(c.expected).join(', '), c.verdicts.join(', ')), ...c.verify()];
      checks.push(...caseChecks);
      return {
        id: c.id, label: c.label, path: c.path, ...(c.chainLength === undefined ? {} : { chainLength: c.chainLength }), ...(c.counted ? { counted: true } : {}),
        expected: c.expected, verdicts: c.verdicts, roundsNs: c.roundsNs, taxed: c.taxed,
        kernelNs: summarize(c.roundsNs.some((_, i) => !c.taxed[i]) ? c.roundsNs.filter((_, i) => !c.taxed[i]) : c.roundsNs),
        stats: c.stats === true, fixedRoundsMs: c.fixedRoundsMs, fixedMs: summarize(c.fixedRoundsMs), checks: caseChecks,
      };
    });
    const chainPoints = results.filter((c) => c.chainLength !== undefined && !c.counted).map((c) => [c.chainLength!, c.kernelNs.median] as const);
    const countedPoints = results.filter((c) => c.chainLength !== undefined && c.counted).map((c) => [c.chainLength!, c.kernelNs.median] as const);
    return {
      repeat, rounds, maxChain, frameBytes: FRAME_BYTES, cases: results,
      wall: {
        perCallNs: summarize(perCall), perCallRoundsNs: perCall, kernelRepeat1Ns: summarize(kernelRepeat1), singleCalls,
      },
      chainFit: chainPoints.length >= 2 ? linearFit(chainPoints) : undefined,
      countedFit: countedPoints.length >= 2 ? linearFit(countedPoints) : undefined,
      statsTaxedRounds,
      checks, ok: checks.every((c) => c.ok), elapsedMs: performance.now() - started,
    };
  } finally {
    objects.close();
  }
}
