/**
 * Runs archive extraction ({@link extractTarGz} / {@link extractZip}) in a worker thread, so that
 * decompression and tar/zip parsing never hold the agent's event loop, with a hard heap bound and
 * a deadline: a worker that runs out of heap is refused as TOO_LARGE, one past the deadline is
 * terminated (TIMEOUT). The same module is the worker's entry point.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { ExtractLimits } from './entry-check.ts';
import { ArtifactError, type ArtifactErrorCode } from './errors.ts';
import type { ArchiveFormat } from './archive-format.ts';

/** What the worker is asked to do. */
interface Job {
  l3afExtract: true;
  format: ArchiveFormat;
  file: string;
  dest: string;
  limits: ExtractLimits;
  url: string;
}

/** What the worker answers. */
type Answer =
  | { ok: true; entries: number; bytes: number }
  | { ok: false; code?: ArtifactErrorCode; message: string };

/** Heap bounds of one extraction worker (MiB): streaming needs a few MiB; a parser that buffers hits this. */
export const EXTRACT_WORKER_HEAP_MB = 64;

/** Options of {@link extractInWorker}. */
export interface ExtractRunOptions {
  /** Deadline of the whole extraction (ms; default 120 s). */
  timeoutMs?: number;
}

/**
 * Extracts `file` (`format`) into `dest` in a worker thread. Throws {@link ArtifactError} as the
 * extractors do, plus TOO_LARGE when the worker runs out of heap and TIMEOUT past the deadline.
 */
export function extractInWorker(format: ArchiveFormat, file: string, dest: string, limits: ExtractLimits, url: string, opts: ExtractRunOptions = {}): Promise<{ entries: number; bytes: number }> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const job: Job = { l3afExtract: true, format, file, dest, limits, url };
  const here = import.meta.url;
  const fromSource = here.endsWith('.ts');
  // compiled (dist/…/extract-worker.js) or bundled (an .mjs bundle with extract-worker.mjs beside it)
  const entry = new URL(`./extract-worker${fromSource ? '.ts' : here.endsWith('.mjs') ? '.mjs' : '.js'}`, here);
  // run from TypeScript sources (tsx): the worker registers the same loader first (hooks are per thread)
  const boot = fromSource
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`
    : undefined;
  return new Promise((resolve, reject) => {
    let done = false;
    const worker = new Worker(boot ?? entry, {
      workerData: job,
      eval: boot !== undefined,
      resourceLimits: { maxOldGenerationSizeMb: EXTRACT_WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    const finish = (err: Error | undefined, value?: { entries: number; bytes: number }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value as { entries: number; bytes: number });
    };
    const timer = setTimeout(() => {
      finish(new ArtifactError('TIMEOUT', url, `extraction not finished after ${timeoutMs} ms`));
      void worker.terminate();
    }, timeoutMs);
    worker.on('message', (a: Answer) => {
      if (a.ok) finish(undefined, { entries: a.entries, bytes: a.bytes });
      else finish(a.code ? new ArtifactError(a.code, url, stripPrefix(a.message, a.code, url)) : new ArtifactError('BAD_ARCHIVE', url, `extraction failed: ${a.message}`));
    });
    worker.on('error', (e: Error & { code?: string }) => {
      if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') finish(new ArtifactError('TOO_LARGE', url, `extraction needed more than ${EXTRACT_WORKER_HEAP_MB} MiB of heap`, { cause: e }));
      else finish(new ArtifactError('BAD_ARCHIVE', url, `extraction failed: ${e.message}`, { cause: e }));
    });
    worker.on('exit', (code) => finish(new ArtifactError('BAD_ARCHIVE', url, `extraction worker exited (${code}) without an answer`)));
  });
}

/** The message of an {@link ArtifactError} without its `CODE: ` prefix and ` (url)` suffix. */
function stripPrefix(message: string, code: string, url: string): string {
  let m = message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
  if (m.endsWith(` (${url})`)) m = m.slice(0, -(url.length + 3));
  return m;
}

async function runJob(job: Job): Promise<Answer> {
  try {
    // the archive libraries (tar, yauzl) are loaded in the worker only, never on the agent's main thread
    const { extractTarGz, extractZip } = await import('./extract.ts');
    const r = job.format === 'zip' ? await extractZip(job.file, job.dest, job.limits, job.url) : await extractTarGz(job.file, job.dest, job.limits, job.url);
    return { ok: true, ...r };
  } catch (e) {
    if (e instanceof ArtifactError) return { ok: false, code: e.code, message: e.message };
    return { ok: false, message: (e as Error).message ?? String(e) };
  }
}

if (!isMainThread && parentPort && (workerData as Partial<Job> | null)?.l3afExtract === true) {
  const port = parentPort;
  void runJob(workerData as Job).then((a) => port.postMessage(a));
}
