// A CPU profile of this process over a window (node:inspector), summarised by self time per function: taken
// around the measured load only, so setup does not dilute it. (`node --cpu-prof` works too: the kernel layer
// blocks SIGPROF while the verifier runs, which otherwise gives up with EAGAIN.)
import { Session } from 'node:inspector/promises';

/** A function's share of the samples. */
export interface ProfileEntry {
  readonly fn: string;
  readonly selfPct: number;
}

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }

/** Starts sampling; the returned function stops and gives the top functions by self time. */
export async function startProfile(intervalUs = 200): Promise<(top?: number) => Promise<ProfileEntry[]>> {
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await s.post('Profiler.start');
  return async (top = 12) => {
    const { profile } = (await s.post('Profiler.stop')) as { profile: { nodes: Node[]; samples?: number[] } };
    s.disconnect();
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const counts = new Map<string, number>();
    let total = 0;
    for (const id of profile.samples ?? []) {
      const n = byId.get(id);
      if (!n) continue;
      total++;
      const f = n.callFrame;
      const file = f.url.replace(/^.*\/(node_modules\/)?/, (m) => (m.includes('node_modules') ? 'node_modules/' : '')).replace(/^file:\/\//, '');
      const key = f.functionName === '' && f.url === '' ? '(native/idle)' : `${f.functionName || '(anonymous)'} ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, n]) => ({ fn, selfPct: (100 * n) / Math.max(1, total) }));
  };
}

/** A markdown table of a profile summary. */
export function profileTable(entries: readonly ProfileEntry[]): string[] {
  return [
    '| self % | function |', '|--:|---|', ...entries.map((e) => `| ${e.selfPct.toFixed(1)} | \`${e.fn.replaceAll('|', '\\|')}\` |`), '',
    'Native frames named after a C function (`getpagesize`, `umount2`, …) are calls through koffi: V8 shows every koffi call under one declared name. File positions are those of the code tsx compiled.',
  ];
}
