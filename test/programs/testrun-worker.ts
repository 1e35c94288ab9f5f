// Worker thread for concurrency tests: opens a loaded program by id and feeds it one frame with test_run,
// `calls` times with `repeat` runs each, starting when the shared start flag flips (so workers run together).
// Start it with startTestRunWorker() (test/programs/workers.ts), which loads tsx inside the worker first.
import { parentPort, workerData } from 'node:worker_threads';
import { BpfProgram } from '../../agent/src/bpf/index.ts';

interface Job {
  readonly progId: number;
  readonly frame: Uint8Array;
  readonly calls: number;
  readonly repeat: number;
  /** Int32Array over a SharedArrayBuffer: [0] = start flag (0 = wait). */
  readonly gate: SharedArrayBuffer;
}

const job = workerData as Job;
const gate = new Int32Array(job.gate);
const prog = BpfProgram.fromId(job.progId);
const data = Buffer.from(job.frame);
try {
  parentPort?.postMessage({ ready: true });
  Atomics.wait(gate, 0, 0);
  for (let i = 0; i < job.calls; i++) prog.testRun({ data, repeat: job.repeat });
  parentPort?.postMessage({ ok: true });
} catch (err) {
  parentPort?.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
} finally {
  prog.close();
}
