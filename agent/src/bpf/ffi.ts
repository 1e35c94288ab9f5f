/**
 * koffi declarations of the libbpf API (libbpf 1.1 ABI) and the few C runtime calls the kernel
 * layer needs. Nothing outside agent/src/bpf imports this file or koffi.
 *
 * koffi 3 returns pointers as BigInt (or null for NULL) and carries no pointer type, so every
 * handle is wrapped in a class by the modules that own it; this file only declares.
 */
import koffi from 'koffi';
import { platform } from './platform.ts';

type Fn = ReturnType<ReturnType<typeof koffi.load>['func']>;

type Lib = ReturnType<typeof koffi.load>;

/**
 * Loads a library; when it is absent (eBPF-for-Windows not installed, no libbpf.so.1) the agent
 * still starts and every call into it fails with {@link libbpfUnavailable}'s reason.
 */
function tryLoad(name: string): { lib: Lib | null; error: string | null } {
  try {
    return { lib: koffi.load(name), error: null };
  } catch (err) {
    return { lib: null, error: (err as Error).message };
  }
}

const libLoad = tryLoad(platform.libbpf);
const lib = libLoad.lib;
const libc = koffi.load(platform.libc);
const netLib = platform.netLib === platform.libc ? libc : koffi.load(platform.netLib);

/**
 * Why the libbpf API cannot be used here (null when it can): on Windows, eBPF-for-Windows'
 * ebpfapi.dll is not installed; on Linux, libbpf.so.1 is missing.
 */
export function libbpfUnavailable(): string | null {
  if (libLoad.error === null) return null;
  return platform.name === 'windows'
    ? `eBPF-for-Windows (${platform.libbpf}) is not installed: ${libLoad.error}`
    : `${platform.libbpf} cannot be loaded: ${libLoad.error}`;
}

/** Pointer handles: BigInt addresses, null for NULL. */
export type Ptr = bigint;

for (const name of ['bpf_object', 'bpf_program', 'bpf_map', 'bpf_link', 'ring_buffer', 'perf_buffer']) {
  koffi.opaque(name);
}

// ---- opts structs; the first field is their size (libbpf's ABI-extensible opts) ----
export const bpf_test_run_opts = koffi.struct('bpf_test_run_opts', {
  sz: 'size_t',
  data_in: 'void *', data_out: 'void *', data_size_in: 'uint32_t', data_size_out: 'uint32_t',
  ctx_in: 'void *', ctx_out: 'void *', ctx_size_in: 'uint32_t', ctx_size_out: 'uint32_t',
  retval: 'uint32_t', repeat: 'int', duration: 'uint32_t', flags: 'uint32_t', cpu: 'uint32_t', batch_size: 'uint32_t',
});
export const bpf_xdp_attach_opts = koffi.struct('bpf_xdp_attach_opts', { sz: 'size_t', old_prog_fd: 'int' });
export const bpf_xdp_query_opts = koffi.struct('bpf_xdp_query_opts', {
  sz: 'size_t', prog_id: 'uint32_t', drv_prog_id: 'uint32_t', hw_prog_id: 'uint32_t', skb_prog_id: 'uint32_t',
  attach_mode: 'uint8_t',
});
export const bpf_tc_hook = koffi.struct('bpf_tc_hook', { sz: 'size_t', ifindex: 'int', attach_point: 'int', parent: 'uint32_t' });
export const bpf_tc_opts = koffi.struct('bpf_tc_opts', {
  sz: 'size_t', prog_fd: 'int', flags: 'uint32_t', prog_id: 'uint32_t', handle: 'uint32_t', priority: 'uint32_t',
});
export const bpf_uprobe_opts = koffi.struct('bpf_uprobe_opts', {
  sz: 'size_t', ref_ctr_offset: 'size_t', bpf_cookie: 'uint64_t', retprobe: 'bool', func_name: 'const char *',
});
export const bpf_kprobe_opts = koffi.struct('bpf_kprobe_opts', {
  sz: 'size_t', bpf_cookie: 'uint64_t', offset: 'size_t', retprobe: 'bool',
});
export const bpf_map_batch_opts = koffi.struct('bpf_map_batch_opts', { sz: 'size_t', elem_flags: 'uint64_t', flags: 'uint64_t' });

// ---- info structs (linux/bpf.h), layouts checked against the C headers by info-layout.test.ts ----
export const bpf_prog_info = koffi.struct('bpf_prog_info', {
  type: 'uint32_t', id: 'uint32_t', tag: koffi.array('uint8_t', 8), jited_prog_len: 'uint32_t',
  xlated_prog_len: 'uint32_t', jited_prog_insns: 'uint64_t', xlated_prog_insns: 'uint64_t', load_time: 'uint64_t',
  created_by_uid: 'uint32_t', nr_map_ids: 'uint32_t', map_ids: 'void *', name: koffi.array('char', 16, 'String'),
  ifindex: 'uint32_t', /* gpl_compatible:1 + 31 bits */ bits0: 'uint32_t', netns_dev: 'uint64_t', netns_ino: 'uint64_t',
  nr_jited_ksyms: 'uint32_t', nr_jited_func_lens: 'uint32_t', jited_ksyms: 'uint64_t', jited_func_lens: 'uint64_t',
  btf_id: 'uint32_t', func_info_rec_size: 'uint32_t', func_info: 'uint64_t', nr_func_info: 'uint32_t',
  nr_line_info: 'uint32_t', line_info: 'uint64_t', jited_line_info: 'uint64_t', nr_jited_line_info: 'uint32_t',
  line_info_rec_size: 'uint32_t', jited_line_info_rec_size: 'uint32_t', nr_prog_tags: 'uint32_t',
  prog_tags: 'uint64_t', run_time_ns: 'uint64_t', run_cnt: 'uint64_t', recursion_misses: 'uint64_t',
  verified_insns: 'uint32_t', attach_btf_obj_id: 'uint32_t', attach_btf_id: 'uint32_t',
});
export const bpf_map_info = koffi.struct('bpf_map_info', {
  type: 'uint32_t', id: 'uint32_t', key_size: 'uint32_t', value_size: 'uint32_t', max_entries: 'uint32_t',
  map_flags: 'uint32_t', name: koffi.array('char', 16, 'String'), ifindex: 'uint32_t',
  btf_vmlinux_value_type_id: 'uint32_t', netns_dev: 'uint64_t', netns_ino: 'uint64_t', btf_id: 'uint32_t',
  btf_key_type_id: 'uint32_t', btf_value_type_id: 'uint32_t', pad0: 'uint32_t', map_extra: 'uint64_t',
});
/** libbpf's bpf_link_update_opts (expected old program: an atomic swap only if it still runs). */
export const bpf_link_update_opts = koffi.struct('bpf_link_update_opts', { sz: 'size_t', flags: 'uint32_t', old_prog_fd: 'uint32_t' });
/** The common head of bpf_link_info plus room for the per-type union (we read `xdp.ifindex` / `tcx`). */
export const bpf_link_info = koffi.struct('bpf_link_info', {
  type: 'uint32_t', id: 'uint32_t', prog_id: 'uint32_t', pad0: 'uint32_t', u0: 'uint64_t', u1: 'uint64_t', u2: 'uint64_t', u3: 'uint64_t',
});

// ---- info structs of eBPF-for-Windows (include/ebpf_structs.h): BPF_OBJ_NAME_LEN 64, `id` before
// `type`, Windows-only GUIDs and counts; checked against a mingw-w64 build by test/windows/layout.test.ts ----
const guid = koffi.array('uint8_t', 16);
export const bpf_prog_info_windows = koffi.struct('ebpfwin_bpf_prog_info', {
  id: 'uint32_t', type: 'int32_t', nr_map_ids: 'uint32_t', map_ids: 'void *', name: koffi.array('char', 64, 'String'),
  type_uuid: guid, attach_type_uuid: guid, pinned_path_count: 'uint32_t', link_count: 'uint32_t',
});
export const bpf_map_info_windows = koffi.struct('ebpfwin_bpf_map_info', {
  id: 'uint32_t', type: 'int32_t', key_size: 'uint32_t', value_size: 'uint32_t', max_entries: 'uint32_t',
  name: koffi.array('char', 64, 'String'), map_flags: 'uint32_t', inner_map_id: 'uint32_t', pinned_path_count: 'uint32_t',
});
export const bpf_link_info_windows = koffi.struct('ebpfwin_bpf_link_info', {
  id: 'uint32_t', prog_id: 'uint32_t', type: 'int32_t', attach_type: 'int32_t', attach_type_uuid: guid, program_type_uuid: guid,
  u0: 'uint64_t',
});
/** The info structs of this platform (Linux: linux/bpf.h; Windows: ebpf_structs.h). */
export const progInfoType = platform.name === 'windows' ? bpf_prog_info_windows : bpf_prog_info;
export const mapInfoType = platform.name === 'windows' ? bpf_map_info_windows : bpf_map_info;
export const linkInfoType = platform.name === 'windows' ? bpf_link_info_windows : bpf_link_info;

// ---- callbacks ----
export const libbpf_print_fn_t = koffi.proto('int libbpf_print_fn_t(int level, void *fmt, void *ap)');
export const ring_buffer_sample_fn = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');
export const perf_buffer_sample_fn = koffi.proto('void perf_buffer_sample_fn(void *ctx, int cpu, void *data, uint32_t size)');
export const perf_buffer_lost_fn = koffi.proto('void perf_buffer_lost_fn(void *ctx, int cpu, uint64_t cnt)');

/** Declares a libbpf function; a symbol this library lacks becomes a function that throws ENOSYS. */
function fn(proto: string, from: Lib | null = lib): Fn {
  if (from === null) return unavailable(proto);
  try {
    return from.func(proto);
  } catch (err) {
    const name = /\b([a-z_0-9]+)\s*\(/i.exec(proto)?.[1] ?? proto;
    const missing = (() => {
      throw Object.assign(new Error(`${name} is not exported by ${platform.libbpf}: ${(err as Error).message}`), { errno: 38 });
    }) as unknown as Fn;
    return missing;
  }
}

/** A function standing for one of an absent library: every call throws ENOENT with the reason. */
function unavailable(proto: string): Fn {
  const name = /\b([a-z_0-9]+)\s*\(/i.exec(proto)?.[1] ?? proto;
  return (() => {
    throw Object.assign(new Error(`${name}: ${libbpfUnavailable() ?? 'library not loaded'}`), { errno: 2 });
  }) as unknown as Fn;
}

/** `fn` for a declaration by name, return type and argument types. */
function fnTyped(name: string, ret: string, args: unknown[]): Fn {
  if (lib === null) return unavailable(`${name}(`);
  return lib.func(name, ret, args as never);
}

export const C = {
  // objects
  bpf_object__open_file: fn('bpf_object *bpf_object__open_file(const char *path, const void *opts)'),
  bpf_object__load: fn('int bpf_object__load(bpf_object *obj)'),
  bpf_object__close: fn('void bpf_object__close(bpf_object *obj)'),
  bpf_object__next_program: fn('bpf_program *bpf_object__next_program(bpf_object *obj, bpf_program *prev)'),
  bpf_object__next_map: fn('bpf_map *bpf_object__next_map(bpf_object *obj, bpf_map *prev)'),
  // programs
  bpf_program__name: fn('const char *bpf_program__name(bpf_program *prog)'),
  bpf_program__section_name: fn('const char *bpf_program__section_name(bpf_program *prog)'),
  bpf_program__type: fn('int bpf_program__type(bpf_program *prog)'),
  bpf_program__set_type: fn('int bpf_program__set_type(bpf_program *prog, int type)'),
  bpf_program__fd: fn('int bpf_program__fd(bpf_program *prog)'),
  bpf_program__set_autoload: fn('int bpf_program__set_autoload(bpf_program *prog, bool autoload)'),
  bpf_program__attach: fn('bpf_link *bpf_program__attach(bpf_program *prog)'),
  bpf_program__attach_xdp: fn('bpf_link *bpf_program__attach_xdp(bpf_program *prog, int ifindex)'),
  bpf_program__attach_tracepoint: fn('bpf_link *bpf_program__attach_tracepoint(bpf_program *prog, const char *category, const char *name)'),
  bpf_program__attach_kprobe_opts: fn('bpf_link *bpf_program__attach_kprobe_opts(bpf_program *prog, const char *func, const bpf_kprobe_opts *opts)'),
  bpf_program__attach_uprobe_opts: fn('bpf_link *bpf_program__attach_uprobe_opts(bpf_program *prog, int pid, const char *binary, size_t offset, const bpf_uprobe_opts *opts)'),
  bpf_prog_test_run_opts: fn('int bpf_prog_test_run_opts(int prog_fd, _Inout_ bpf_test_run_opts *opts)'),
  bpf_prog_get_fd_by_id: fn('int bpf_prog_get_fd_by_id(uint32_t id)'),
  bpf_prog_get_next_id: fn('int bpf_prog_get_next_id(uint32_t start, uint32_t *next)'),
  // maps
  bpf_map__name: fn('const char *bpf_map__name(bpf_map *map)'),
  bpf_map__fd: fn('int bpf_map__fd(bpf_map *map)'),
  bpf_map__reuse_fd: fn('int bpf_map__reuse_fd(bpf_map *map, int fd)'),
  bpf_map__set_max_entries: fn('int bpf_map__set_max_entries(bpf_map *map, uint32_t max_entries)'),
  bpf_map_lookup_elem: fn('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
  bpf_map_update_elem: fn('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
  bpf_map_delete_elem: fn('int bpf_map_delete_elem(int fd, const void *key)'),
  bpf_map_get_next_key: fn('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
  bpf_map_lookup_batch: fn('int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, uint32_t *count, const bpf_map_batch_opts *opts)'),
  bpf_map_get_fd_by_id: fn('int bpf_map_get_fd_by_id(uint32_t id)'),
  // generic objects
  bpf_obj_pin: fn('int bpf_obj_pin(int fd, const char *path)'),
  bpf_obj_get: fn('int bpf_obj_get(const char *path)'),
  bpf_obj_get_info_by_fd_prog: fnTyped('bpf_obj_get_info_by_fd', 'int', ['int', koffi.inout(koffi.pointer(progInfoType)), koffi.pointer('uint32_t')]),
  bpf_obj_get_info_by_fd_map: fnTyped('bpf_obj_get_info_by_fd', 'int', ['int', koffi.inout(koffi.pointer(mapInfoType)), koffi.pointer('uint32_t')]),
  bpf_obj_get_info_by_fd_link: fnTyped('bpf_obj_get_info_by_fd', 'int', ['int', koffi.inout(koffi.pointer(linkInfoType)), koffi.pointer('uint32_t')]),
  bpf_enable_stats: fn('int bpf_enable_stats(int type)'),
  // links
  bpf_link__pin: fn('int bpf_link__pin(bpf_link *link, const char *path)'),
  bpf_link__unpin: fn('int bpf_link__unpin(bpf_link *link)'),
  bpf_link__fd: fn('int bpf_link__fd(bpf_link *link)'),
  bpf_link__open: fn('bpf_link *bpf_link__open(const char *path)'),
  bpf_link__destroy: fn('int bpf_link__destroy(bpf_link *link)'),
  bpf_link__disconnect: fn('void bpf_link__disconnect(bpf_link *link)'),
  bpf_link__detach: fn('int bpf_link__detach(bpf_link *link)'),
  // raw links (TCX: libbpf 1.1 has no wrapper, its bpf_link_create passes the attach type through)
  bpf_link_create: fn('int bpf_link_create(int prog_fd, int target_fd, int attach_type, const void *opts)'),
  bpf_link_update: fn('int bpf_link_update(int link_fd, int new_prog_fd, const bpf_link_update_opts *opts)'),
  // xdp and tc
  bpf_xdp_attach: fn('int bpf_xdp_attach(int ifindex, int prog_fd, uint32_t flags, const bpf_xdp_attach_opts *opts)'),
  bpf_xdp_detach: fn('int bpf_xdp_detach(int ifindex, uint32_t flags, const bpf_xdp_attach_opts *opts)'),
  bpf_xdp_query: fn('int bpf_xdp_query(int ifindex, int flags, _Inout_ bpf_xdp_query_opts *opts)'),
  bpf_tc_hook_create: fn('int bpf_tc_hook_create(bpf_tc_hook *hook)'),
  bpf_tc_hook_destroy: fn('int bpf_tc_hook_destroy(bpf_tc_hook *hook)'),
  bpf_tc_attach: fn('int bpf_tc_attach(const bpf_tc_hook *hook, _Inout_ bpf_tc_opts *opts)'),
  bpf_tc_detach: fn('int bpf_tc_detach(const bpf_tc_hook *hook, const bpf_tc_opts *opts)'),
  bpf_tc_query: fn('int bpf_tc_query(const bpf_tc_hook *hook, _Inout_ bpf_tc_opts *opts)'),
  // ring and perf buffers
  ring_buffer__new: fn('ring_buffer *ring_buffer__new(int map_fd, ring_buffer_sample_fn *cb, void *ctx, const void *opts)'),
  ring_buffer__consume: fn('int ring_buffer__consume(ring_buffer *rb)'),
  ring_buffer__epoll_fd: fn('int ring_buffer__epoll_fd(ring_buffer *rb)'),
  ring_buffer__free: fn('void ring_buffer__free(ring_buffer *rb)'),
  perf_buffer__new: fn('perf_buffer *perf_buffer__new(int map_fd, size_t page_cnt, perf_buffer_sample_fn *sample_cb, perf_buffer_lost_fn *lost_cb, void *ctx, const void *opts)'),
  perf_buffer__consume: fn('int perf_buffer__consume(perf_buffer *pb)'),
  perf_buffer__epoll_fd: fn('int perf_buffer__epoll_fd(perf_buffer *pb)'),
  perf_buffer__free: fn('void perf_buffer__free(perf_buffer *pb)'),
  // misc
  libbpf_num_possible_cpus: fn('int libbpf_num_possible_cpus()'),
  libbpf_set_print: fn('void *libbpf_set_print(libbpf_print_fn_t *fn)'),
  libbpf_version_string: fn('const char *libbpf_version_string()'),
  vsnprintf: fn('int vsnprintf(void *buf, size_t n, void *fmt, void *ap)', libc),
  if_nametoindex: fn('unsigned int if_nametoindex(const char *name)', netLib),
  if_indextoname: fn('void *if_indextoname(unsigned int index, void *buf)', netLib),
  // Windows: if_nametoindex takes only the NDIS name (`ethernet_32768`); an interface's friendly
  // name (its alias, `Ethernet 4`, what payloads and os.networkInterfaces() use) goes through its LUID
  ConvertInterfaceAliasToLuid: platform.name === 'windows'
    ? fn('uint32_t ConvertInterfaceAliasToLuid(const char16_t *alias, _Out_ uint64_t *luid)', netLib) : unavailable('ConvertInterfaceAliasToLuid('),
  ConvertInterfaceLuidToIndex: platform.name === 'windows'
    ? fn('uint32_t ConvertInterfaceLuidToIndex(const uint64_t *luid, _Out_ uint32_t *index)', netLib) : unavailable('ConvertInterfaceLuidToIndex('),
};

export { koffi };

const closeFdFn = fn(`int ${platform.closeFd.symbol}(int fd)`, platform.closeFd.from === 'libc' ? libc : lib);

/**
 * Closes an fd the libbpf API returned (program, map, link, stats). Not node:fs's closeSync: the
 * fd was not opened by node:fs (worker threads warn), and on Windows it is not a CRT fd at all.
 */
export function closeFd(fd: number): void {
  if (fd >= 0) closeFdFn(fd);
}

/** errno of the last failed call (only meaningful right after a call that reported failure). */
export function lastErrno(): number {
  return koffi.errno();
}

/** A registered C callback for `proto`; unregister only after the C side let go of it. */
export function registerCallback(callback: (...args: never[]) => unknown, proto: ReturnType<typeof koffi.proto>): Ptr {
  return koffi.register(callback, koffi.pointer(proto));
}
export function unregisterCallback(ptr: Ptr): void {
  koffi.unregister(ptr);
}

/** Copies `size` bytes at a C pointer into a fresh Buffer. */
export function copyOut(ptr: Ptr, size: number): Buffer {
  return Buffer.from(new Uint8Array(koffi.view(ptr, size)).slice());
}

/** C runtime calls used for bpffs and tracefs mounts (Linux). */
export const libcCalls = {
  mount: fn('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)', libc),
  umount2: fn('int umount2(const char *target, int flags)', libc),
  // ring buffers are read from their mapped pages (ringbuf.ts)
  mmap: fn('void *mmap(void *addr, size_t length, int prot, int flags, int fd, intptr_t offset)', libc),
  munmap: fn('int munmap(void *addr, size_t length)', libc),
  getpagesize: fn('int getpagesize()', libc),
  pthread_sigmask: fn('int pthread_sigmask(int how, const void *set, void *oldset)', libc),
  // glibc: gives freed malloc memory (libbpf's object loads, BTF parsing) back to the system (native-heap.ts)
  malloc_trim: fn('int malloc_trim(size_t pad)', libc),
};

const SIG_BLOCK = 0;
const SIG_SETMASK = 2;
const SIGPROF = 27;

/**
 * Runs `fn` with SIGPROF blocked in this thread (Linux). The verifier gives up with EAGAIN when a signal is
 * pending during a load; a CPU profiler (`node --cpu-prof`) sends SIGPROF every sampling interval, so every
 * libbpf retry would fail. A blocked signal stays pending without interrupting the verifier and is taken
 * when the mask is restored.
 */
export function withSigprofBlocked<T>(fn: () => T): T {
  if (platform.name !== 'linux') return fn();
  const set = Buffer.alloc(128); // sigset_t
  set[(SIGPROF - 1) >> 3] = 1 << ((SIGPROF - 1) & 7);
  const old = Buffer.alloc(128);
  if ((libcCalls.pthread_sigmask(SIG_BLOCK, set, old) as number) !== 0) return fn();
  try {
    return fn();
  } finally {
    libcCalls.pthread_sigmask(SIG_SETMASK, old, null);
  }
}

/** An ArrayBuffer over `size` bytes of C memory at `ptr` (no copy; valid while the memory is). */
export function memoryView(ptr: Ptr, size: number): ArrayBuffer {
  return koffi.view(ptr, size);
}
