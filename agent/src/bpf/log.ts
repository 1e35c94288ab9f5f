/**
 * libbpf's own log lines, routed to the agent's logger. libbpf has one process-wide print
 * callback; it is installed once, formats each va_list exactly once with vsnprintf into a
 * reused buffer, and hands the line to the configured sink and to any capture in progress
 * (a load collects its lines so a verifier rejection can carry the verifier's words).
 */
import { C, libbpf_print_fn_t, registerCallback, unregisterCallback, type Ptr } from './ffi.ts';

export type LibbpfLevel = 'warn' | 'info' | 'debug';
export type LibbpfSink = (level: LibbpfLevel, message: string) => void;

const LEVELS: LibbpfLevel[] = ['warn', 'info', 'debug'];
const buf = Buffer.alloc(64 * 1024);
let sink: LibbpfSink | undefined;
let callback: Ptr | undefined;
const captures: string[][] = [];

function onPrint(level: number, fmt: Ptr, ap: Ptr): number {
  try {
    const n = C.vsnprintf(buf, buf.length, fmt, ap) as number;
    const text = buf.toString('utf8', 0, Math.max(0, Math.min(n, buf.length - 1)));
    for (const c of captures) c.push(text);
    if (sink) {
      const lvl = LEVELS[level] ?? 'debug';
      for (const line of text.replace(/\n$/, '').split('\n')) sink(lvl, line);
    }
  } catch {
    // never throw into C
  }
  return 0;
}

function install(): void {
  if (callback !== undefined) return;
  callback = registerCallback(onPrint as never, libbpf_print_fn_t);
  C.libbpf_set_print(callback);
}

/** Sends libbpf's log lines to `fn` (e.g. a pino child logger); `undefined` silences them. */
export function setLibbpfLogger(fn: LibbpfSink | undefined): void {
  sink = fn;
  install();
}

/** Runs `fn` and returns what libbpf printed meanwhile (the print callback runs synchronously). */
export function captureLibbpfLog<T>(fn: () => T): { result?: T; error?: unknown; log: string } {
  install();
  const lines: string[] = [];
  captures.push(lines);
  try {
    return { result: fn(), log: lines.join('') };
  } catch (error) {
    return { error, log: lines.join('') };
  } finally {
    captures.splice(captures.indexOf(lines), 1);
  }
}

/** Removes the print callback from libbpf first, then releases it (tests and shutdown). */
export function resetLibbpfLogger(): void {
  if (callback === undefined) return;
  C.libbpf_set_print(null);
  unregisterCallback(callback);
  callback = undefined;
  sink = undefined;
}
