// Benchmark: ring-buffer events per second to the agent's consumer against libbpf's C consumer on the same
// producer; writes a markdown report.
//   npx tsx bench/events.ts [--rounds R] [--seconds S] [--out FILE]      (as root; see bench/README.md)
//
// Producer: test/bpf/obs_events (one 48-byte BTF-described record per run into a 256 KiB ring; a run that finds
// the ring full counts the record as lost in obs_ctr[1]), driven by a separate process that calls
// BPF_PROG_TEST_RUN with repeat 1 000 000 in a loop for S seconds: it produces far faster than any consumer, so
// what a consumer drains per second is its own rate. Consumers, interleaved each round:
//   - floor: bench/floor/ringbuf-consumer.c, libbpf's ring_buffer__poll counting records (compiled here);
//   - the agent's EventHub (ring read from its mapped memory) with an in-process subscriber that takes events;
//   - the same subscriber also reading each event's data (decoded from BTF).
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { BpfMap, BpfProgram, u32, u64 } from '../agent/src/bpf/index.ts';
import type { RunningProgram } from '../agent/src/engine/types.ts';
import { EventHub } from '../agent/src/events/event-hub.ts';
import { PrivateBpffs } from '../test/harness/index.ts';
import { Loaded } from '../test/metrics/fixtures.ts';
import { programObject } from '../test/programs/frames.ts';
import { benchEnvironment, bpfStatsState, loadAverage } from './lib/environment.ts';
import { profileTable, startProfile, type ProfileEntry } from './lib/profile.ts';
import { summarize } from './lib/stats.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_OUT = resolve(REPO, 'bench/reports/events.md');
const USAGE = `usage: events [--rounds R] [--seconds S] [--out FILE]
  --rounds R    rounds, each consumer once per round (default 5, at least 3)
  --seconds S   producer time per measurement (default 2)
  --out FILE    markdown report (default bench/reports/events.md)
Needs root, gcc and libbpf-dev.`;
const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const REPEAT = 1_000_000;

/** --produce <prog id> <ms>: test runs of the program until ms elapsed; prints runs and ms. */
function produce(id: number, ms: number): number {
  const prog = BpfProgram.fromId(id);
  const frame = Buffer.alloc(60);
  Buffer.from([0x02, 0, 0, 0, 0, 0x0b]).copy(frame);
  const t0 = performance.now();
  let runs = 0;
  while (performance.now() - t0 < ms) {
    prog.testRun({ data: frame, repeat: REPEAT });
    runs += REPEAT;
  }
  process.stdout.write(`runs ${runs} ms ${(performance.now() - t0).toFixed(1)}\n`);
  prog.close();
  return 0;
}

interface Sample { consumer: string; delivered: number; lost: number; runs: number; producerMs: number }

function counter(dir: string, key: number): number {
  using m = BpfMap.openPinned(join(dir, 'obs_ctr'));
  return Number(m.typed(u32, u64).get(key) ?? 0n);
}

async function main(): Promise<number> {
  const p = process.argv.indexOf('--produce');
  if (p >= 0) return produce(Number(process.argv[p + 1]), Number(process.argv[p + 2]));
  let opts: { rounds: number; seconds: number; out: string };
  try {
    const { values } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const rounds = Number(values.rounds ?? 5);
    const seconds = Number(values.seconds ?? 2);
    if (!Number.isSafeInteger(rounds) || rounds < 3 || rounds > 100) throw new Error(`--rounds must be an integer in 3..100, got '${values.rounds}'`);
    if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > 60) throw new Error(`--seconds must be an integer in 1..60, got '${values.seconds}'`);
    opts = { rounds, seconds, out: resolve(values.out ?? DEFAULT_OUT) };
  } catch (err) {
    console.error(`events: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    console.error('events: needs root');
    return 2;
  }
  const env = benchEnvironment();
  const t0 = performance.now();
  const tmp = mkdtempSync(join(tmpdir(), 'l3af-events-'));
  const problems: string[] = [];
  const samples: Sample[] = [];
  const profiles: ProfileEntry[][] = [];
  try {
    const floorBin = join(tmp, 'ringbuf-consumer');
    await run('cc', ['-O2', '-o', floorBin, join(REPO, 'bench/floor/ringbuf-consumer.c'), '-lbpf']);
    await using bpffs = await PrivateBpffs.create();
    using ev = new Loaded(bpffs, programObject('test/obs_events'), 'obs_emit', ['ev', 'obs_events', '1']);
    const rp: RunningProgram = { ...ev.running({ iface: 'ev', name: 'obs_events' }), eventMaps: [{ name: 'obs_events', struct: 'obs_event' }] };
    const progId = rp.progId;
    const ms = opts.seconds * 1000;
    const producer = async (): Promise<{ runs: number; ms: number }> => {
      const { stdout } = await run(process.execPath, [...process.execArgv, process.argv[1]!, '--produce', String(progId), String(ms)], { timeout: ms + 30_000 });
      const m = /runs (\d+) ms ([\d.]+)/.exec(stdout);
      if (!m) throw new Error(`producer said: ${stdout}`);
      return { runs: Number(m[1]), ms: Number(m[2]) };
    };
    const measure = async (consumer: string, profile = false): Promise<Sample> => {
      const seq0 = counter(ev.pinDir, 0);
      const lost0 = counter(ev.pinDir, 1);
      let delivered = 0;
      let result: { runs: number; ms: number };
      if (consumer === 'floor') {
        const child = spawn(floorBin, [join(ev.pinDir, 'obs_events'), String(ms + 3000)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
        const exited = new Promise<void>((r) => child.on('exit', () => r()));
        while (!out.includes('ready')) await sleep(10);
        result = await producer();
        await exited;
        delivered = Number(out.trim().split('\n').at(-1));
      } else {
        const hub = new EventHub({ sources: [] });
        hub.programStarted(rp);
        const sub = hub.subscribe({ program: 'obs_events' }, { queueLimit: 1_000_000 });
        const decode = consumer.includes('decode');
        let sink = 0;
        sub.onReadable = () => {
          const got = sub.take();
          delivered += got.length;
          if (decode) for (const e of got) sink += (e.data as { len: number }).len;
        };
        const stop = profile ? await startProfile() : undefined;
        result = await producer();
        const written = (): number => counter(ev.pinDir, 0) - seq0;
        for (let i = 0; i < 100 && delivered < written(); i++) await sleep(20);
        if (stop) profiles.push(await stop());
        sub.close();
        hub.close();
        if (decode && sink === 0) problems.push('decoded events carried no data');
      }
      const written = counter(ev.pinDir, 0) - seq0;
      const lost = counter(ev.pinDir, 1) - lost0;
      if (written !== delivered) problems.push(`${consumer}: ${written} records written, ${delivered} delivered`);
      if (written + lost !== result.runs) problems.push(`${consumer}: written ${written} + lost ${lost} ≠ runs ${result.runs}`);
      return { consumer, delivered, lost, runs: result.runs, producerMs: result.ms };
    };
    const consumers = ['floor', 'agent (take)', 'agent (take + decode)'];
    await measure('agent (take)'); // warm-up, not counted
    for (let r = 1; r <= opts.rounds; r++) {
      for (const c of consumers) {
        const s = await measure(c);
        samples.push(s);
        console.log(`round ${r}/${opts.rounds} ${c.padEnd(22)} ${(s.delivered / s.producerMs / 1000).toFixed(2)} M events/s delivered, driver ${(s.runs / s.producerMs / 1000).toFixed(2)} M runs/s, lost ${s.lost}`);
      }
    }
    await measure('agent (take + decode)', true);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const rate = (c: string, f: (s: Sample) => number): number[] => samples.filter((s) => s.consumer === c).map(f);
  const floor = summarize(rate('floor', (s) => s.delivered / s.producerMs * 1000)).median;
  const out: string[] = ['# Ring-buffer events: the agent\'s consumer vs libbpf\'s ring_buffer__poll, same producer', ''];
  out.push(problems.length === 0 ? 'All checks passed: for every measurement, records written = delivered and written + lost (ring full) = driver runs.' : `**CHECKS FAILED: ${problems.join('; ')}**`, '');
  out.push('| | |', '|---|---|');
  out.push(`| date | ${env.date} |`, `| command | \`node --import tsx ${relative(REPO, process.argv[1] ?? 'bench/events.ts')} ${process.argv.slice(2).join(' ')}\` |`);
  out.push(`| kernel / CPU | ${env.kernel} / ${env.cpuModel} × ${env.cpuCount} |`, `| node / libbpf | ${env.node} / ${env.libbpf} |`);
  out.push(`| kernel run statistics (start / end) | ${env.bpfStats} / ${bpfStatsState().text} |`);
  out.push(`| load average (1, 5, 15 min) start / end | ${env.loadAvg} / ${loadAverage()} |`);
  out.push(`| producer | another process: BPF_PROG_TEST_RUN of obs_emit, repeat ${REPEAT}, in a loop for ${opts.seconds} s; 48-byte records, 256 KiB ring |`);
  out.push(`| rounds | ${opts.rounds}, consumers interleaved in each; one unmeasured warm-up |`);
  out.push(`| run time | ${((performance.now() - t0) / 1000).toFixed(0)} s |`, '');
  out.push('| consumer | delivered events/s (median) | ratio to floor | driver runs/s (median) | lost (ring full) per s (median) | delivered/s each round |', '|---|--:|--:|--:|--:|---|');
  for (const c of ['floor', 'agent (take)', 'agent (take + decode)']) {
    const d = rate(c, (s) => s.delivered / s.producerMs * 1000);
    const med = summarize(d).median;
    out.push(`| ${c === 'floor' ? 'floor: C, libbpf ring_buffer__poll' : c} | **${(med / 1e6).toFixed(2)} M** | ${(med / floor).toFixed(2)} | ${(summarize(rate(c, (s) => s.runs / s.producerMs * 1000)).median / 1e6).toFixed(2)} M | ${(summarize(rate(c, (s) => s.lost / s.producerMs * 1000)).median / 1e6).toFixed(2)} M | ${d.map((x) => (x / 1e6).toFixed(2)).join(' ')} |`);
  }
  out.push('', 'The driver offers records faster than any consumer takes them: the ring is full most of the time, and each consumer\'s delivered rate is its own capacity. "take" counts events taken from the subscriber queue (each event is an object; its record is decoded on first read of data); "take + decode" reads every event\'s data (BTF decoding of struct obs_event).', '');
  for (const prof of profiles) out.push('## CPU profile of the agent process, take + decode (self time, one extra run)', '', ...profileTable(prof), '');
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, out.join('\n'));
  for (const pr of problems) console.error(`CHECK FAILED: ${pr}`);
  console.log(out.filter((l) => l.startsWith('| floor') || l.startsWith('| agent')).join('\n'));
  return problems.length === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  console.error(`events: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
