/**
 * Last-resort cleanup: every harness resource (bpffs mount, lab) registers a synchronous undo here when it is
 * created and unregisters it when it is disposed. Whatever is still registered when the process exits, or is
 * ended by SIGINT/SIGTERM/SIGHUP, is undone best-effort. Disposal in the test itself remains the normal path.
 */

interface Entry {
  label: string;
  undo: () => void;
}

const entries = new Map<number, Entry>();
let nextId = 1;
let installed = false;
const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Runs every registered undo, newest first; never throws. Safe to call more than once. */
export function runExitCleanups(): void {
  const all = [...entries.entries()].reverse();
  entries.clear();
  for (const [, e] of all) {
    try {
      e.undo();
    } catch {
      // best effort: the process is going away
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runExitCleanups();
  for (const s of signals) process.removeListener(s, onSignal);
  // Restore the default behaviour (terminate) unless someone else handles this signal.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runExitCleanups);
  for (const s of signals) process.on(s, onSignal);
}

/**
 * Registers a synchronous undo to run at process exit if the resource is still alive then. Returns the function
 * that unregisters it (call it once the resource has been disposed normally).
 */
export function registerExitCleanup(label: string, undo: () => void): () => void {
  install();
  const id = nextId++;
  entries.set(id, { label, undo });
  return () => {
    entries.delete(id);
  };
}

/** Labels of resources created by this process and not yet disposed (for tests that check their own hygiene). */
export function undisposedResources(): string[] {
  return [...entries.values()].map((e) => e.label);
}
