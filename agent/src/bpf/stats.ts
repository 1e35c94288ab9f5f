/** Kernel run statistics of BPF programs (run count and run time in bpf_prog_info). */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { C, closeFd } from './ffi.ts';
import { check } from './errors.ts';

const BPF_STATS_RUN_TIME = 0;
let openHandles = 0;

/**
 * Whether the kernel is collecting run statistics now: by sysctl or through a handle of this process.
 * Another process's stats fd is invisible to the sysctl; `scanProcesses` also looks for those in
 * /proc/<pid>/fd (a walk of every process: for checks and tests, not for a scrape path).
 */
export function statsEnabled(opts: { scanProcesses?: boolean } = {}): boolean {
  if (openHandles > 0) return true;
  try {
    if (readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() !== '0') return true;
  } catch {
    return false;
  }
  return opts.scanProcesses === true && statsHeldByAProcess();
}

/** A process holding a BPF_ENABLE_STATS fd (an anon inode named bpf-stats). */
export interface StatsHolder {
  readonly pid: number;
  /** /proc/<pid>/comm. */
  readonly comm: string;
  readonly fds: number;
}

/**
 * Every process holding a stats fd, found through /proc/<pid>/fd links (a walk of every process: for
 * checks, benches and tests, not for a scrape path). The kernel times every program run while one exists,
 * although /proc/sys/kernel/bpf_stats_enabled still reads 0.
 */
export function statsHolders(): StatsHolder[] {
  const out: StatsHolder[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    let n = 0;
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:bpf-stats') n++;
      } catch {
        // the fd closed meanwhile
      }
    }
    if (n === 0) continue;
    let comm = '?';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      // the process exited meanwhile
    }
    out.push({ pid: Number(pid), comm, fds: n });
  }
  return out;
}

function statsHeldByAProcess(): boolean {
  return statsHolders().length > 0;
}

/** Turns run statistics on for as long as the returned handle stays open. */
export function enableStats(): Disposable & { close(): void } {
  let fd = check(C.bpf_enable_stats(BPF_STATS_RUN_TIME) as number, 'bpf_enable_stats');
  openHandles++;
  const close = (): void => {
    if (fd < 0) return;
    closeFd(fd);
    fd = -1;
    openHandles--;
  };
  return { close, [Symbol.dispose]: close };
}
