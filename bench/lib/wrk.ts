// HTTP load with wrk (a separate process, so the client does not share the server's event loop).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One wrk run: requests per second and latency percentiles. */
export interface WrkResult {
  readonly rps: number;
  readonly requests: number;
  /** Non-2xx/3xx answers and socket errors. */
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function ms(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

/** Runs `wrk -t1 -c<connections> -d<seconds>s --latency url` and parses its summary. */
export async function wrk(url: string, opts: { seconds: number; connections: number }): Promise<WrkResult> {
  const { stdout } = await run('wrk', ['-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', url], { timeout: (opts.seconds + 30) * 1000 });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const reqs = /(\d+) requests in/.exec(stdout);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  if (!rps || !reqs || !p50 || !p99) throw new Error(`cannot read wrk's output:\n${stdout}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = Number(non2xx?.[1] ?? 0) + (sock ? sock.slice(1).reduce((n, x) => n + Number(x), 0) : 0);
  return { rps: Number(rps[1]), requests: Number(reqs[1]), errors, p50Ms: ms(p50[1]!, p50[2]!), p99Ms: ms(p99[1]!, p99[2]!) };
}
