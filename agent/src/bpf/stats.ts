/** Kernel run statistics of BPF programs (run count and run time in bpf_prog_info). */
import { readFileSync } from 'node:fs';
import { C, closeFd } from './ffi.ts';
import { check } from './errors.ts';

const BPF_STATS_RUN_TIME = 0;
let openHandles = 0;

/** Whether the kernel is collecting run statistics now: by sysctl, or through a handle of this process. */
export function statsEnabled(): boolean {
  if (openHandles > 0) return true;
  try {
    return readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() !== '0';
  } catch {
    return false;
  }
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
