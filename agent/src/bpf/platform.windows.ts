import type { PlatformSpec } from './platform.ts';

/**
 * Windows: eBPF-for-Windows' ebpfapi.dll exports the libbpf API, with its own enum values
 * (ebpf_structs.h) and XDP-for-Windows' verdicts (xdp/ebpfhook.h). Pins are names in the
 * kernel's pin table (`BPF:\...`), not files. No TC, kprobe, tracepoint or uprobe hooks.
 */
export const windowsPlatform: PlatformSpec = {
  name: 'windows',
  libbpf: 'ebpfapi.dll',
  libc: 'ucrtbase.dll',
  netLib: 'iphlpapi.dll',
  closeFd: { from: 'libbpf', symbol: 'ebpf_close_fd' },
  defaultPinRoot: 'BPF:',
  pinsAreFiles: false,
  programTypes: { unspec: 0, xdp: 1, bind: 2, cgroup_sock_addr: 3, sock_ops: 4, netevent: 5, process: 6, sample: 999 },
  mapTypes: {
    unspec: 0, hash: 1, array: 2, prog_array: 3, percpu_hash: 4, percpu_array: 5, hash_of_maps: 6,
    array_of_maps: 7, lru_hash: 8, lpm_trie: 9, queue: 10, lru_percpu_hash: 11, stack: 12, ringbuf: 13,
    perf_event_array: 14, xskmap: 16,
  },
  xdpActions: { pass: 1, drop: 2, tx: 3 },
  xdpFlags: { updateIfNoExist: 0, skbMode: 0, drvMode: 0, replace: 1 },
  hooks: { tc: false, kprobe: false, tracepoint: false, uprobe: false },
};
