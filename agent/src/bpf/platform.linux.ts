import type { PlatformSpec } from './platform.ts';

/** Linux: the distribution's libbpf.so.1 and the kernel's uapi enum values (linux/bpf.h). */
export const linuxPlatform: PlatformSpec = {
  name: 'linux',
  libbpf: 'libbpf.so.1',
  libc: 'libc.so.6',
  netLib: 'libc.so.6',
  closeFd: { from: 'libc', symbol: 'close' },
  defaultPinRoot: '/sys/fs/bpf',
  pinsAreFiles: true,
  programTypes: {
    unspec: 0, socket_filter: 1, kprobe: 2, sched_cls: 3, sched_act: 4, tracepoint: 5, xdp: 6,
    perf_event: 7, cgroup_skb: 8, cgroup_sock: 9, sock_ops: 13, raw_tracepoint: 17,
    cgroup_sock_addr: 18, tracing: 26, ext: 28, lsm: 29, syscall: 31, netfilter: 32,
  },
  mapTypes: {
    unspec: 0, hash: 1, array: 2, prog_array: 3, perf_event_array: 4, percpu_hash: 5, percpu_array: 6,
    stack_trace: 7, cgroup_array: 8, lru_hash: 9, lru_percpu_hash: 10, lpm_trie: 11, array_of_maps: 12,
    hash_of_maps: 13, devmap: 14, sockmap: 15, cpumap: 16, xskmap: 17, sockhash: 18, queue: 22, stack: 23,
    devmap_hash: 25, ringbuf: 27, bloom_filter: 30, user_ringbuf: 31,
  },
  xdpActions: { aborted: 0, drop: 1, pass: 2, tx: 3, redirect: 4 },
  xdpFlags: { updateIfNoExist: 1, skbMode: 2, drvMode: 4, replace: 16 },
  hooks: { tc: true, kprobe: true, tracepoint: true, uprobe: true },
};
