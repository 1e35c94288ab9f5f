// Starting TypeScript worker threads under tsx (workers do not inherit the main thread's --import hooks).
import { Worker } from 'node:worker_threads';

/** Starts `file` (a .ts module URL) in a worker thread with tsx registered there first. */
export function startTsWorker(file: URL, workerData: unknown): Worker {
  const code = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(file.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}

/** Resolves with the first message a worker posts that satisfies `pick`; rejects on error or early exit. */
export function workerMessage<T>(w: Worker, pick: (m: T) => boolean, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`worker gave no answer within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: T): void => {
      if (pick(m)) finish(undefined, m);
    };
    const onError = (e: Error): void => finish(e);
    const onExit = (code: number): void => finish(new Error(`worker exited with code ${code}`));
    function finish(err: Error | undefined, m?: T): void {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
      if (err) reject(err);
      else resolve(m as T);
    }
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
  });
}
