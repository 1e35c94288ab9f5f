/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What an XDP program of this project needs to be built for eBPF-for-Windows (clang -target bpf
 * -DL3AF_TARGET_WINDOWS), in place of Linux's <linux/bpf.h> and libbpf's <bpf/bpf_helpers.h>.
 * Only the numbers differ between the platforms; the program sources stay the same.
 *
 * Where each value comes from (microsoft/ebpf-for-windows, read at commit 0be2d1c, and
 * microsoft/xdp-for-windows for the XDP hook):
 *   helper ids          include/ebpf_structs.h, enum ebpf_helper_id_t (BPF_FUNC_*)
 *   map type values     include/ebpf_structs.h, enum bpf_map_type (BPF_MAP_TYPE_*)
 *   xdp_md, verdicts    xdp-for-windows published/external/xdp/ebpfhook.h (the same layout and
 *                       values as ebpf-for-windows tests/include/xdp_hooks.h): real pointers
 *                       data/data_end, u64 data_meta, u32 ingress_ifindex; XDP_PASS 1, XDP_DROP 2,
 *                       XDP_TX 3 (any other value drops)
 *   BTF map fields      include/bpf_helpers.h: __uint(name, v) is a pointer to an int array of v
 *                       elements, __type(name, t) a pointer to t (the same encoding as libbpf's)
 *   platform marker     include/bpf_helpers_platform.h: a true bool in section ".ebpf_for_windows"
 *                       marks an ELF built against the Windows headers (cilium/ebpf reads it)
 * Packet layouts (Ethernet, IPv4, IPv6, TCP) are wire formats: the Linux uapi headers keep serving
 * them (eBPF-for-Windows ships copies of the same headers under include/uapi/linux/).
 */
#ifndef L3AF_WINDOWS_H
#define L3AF_WINDOWS_H

#include <linux/types.h>

#define L3AF_PLATFORM_WINDOWS 1

/* Section and BTF map-definition macros (same encoding on both platforms). */
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* include/ebpf_structs.h, enum bpf_map_type. */
enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PROG_ARRAY = 3,
	BPF_MAP_TYPE_PERCPU_HASH = 4,
	BPF_MAP_TYPE_PERCPU_ARRAY = 5,
	BPF_MAP_TYPE_LRU_HASH = 8,
	BPF_MAP_TYPE_LPM_TRIE = 9,
	BPF_MAP_TYPE_RINGBUF = 13,
	BPF_MAP_TYPE_PERF_EVENT_ARRAY = 14,
};

/* XDP hook context and verdicts (xdp-for-windows published/external/xdp/ebpfhook.h). */
struct xdp_md {
	void *data;
	void *data_end;
	__u64 data_meta;
	__u32 ingress_ifindex;
};

enum xdp_action {
	XDP_PASS = 1,
	XDP_DROP = 2,
	XDP_TX = 3,
};

/* Helper ids, include/ebpf_structs.h, enum ebpf_helper_id_t. */
enum l3af_windows_helper_id {
	L3AF_WIN_FUNC_MAP_LOOKUP_ELEM = 1,
	L3AF_WIN_FUNC_MAP_UPDATE_ELEM = 2,
	L3AF_WIN_FUNC_MAP_DELETE_ELEM = 3,
	L3AF_WIN_FUNC_TAIL_CALL = 5,
	L3AF_WIN_FUNC_KTIME_GET_NS = 9,
	L3AF_WIN_FUNC_RINGBUF_OUTPUT = 11,
};

/* A helper is a call of its id: a constant function pointer holding the id. */
#define L3AF_WIN_HELPER(ret, name, id, params) static ret (*const name) params = (void *)(id)

L3AF_WIN_HELPER(void *, bpf_map_lookup_elem, L3AF_WIN_FUNC_MAP_LOOKUP_ELEM, (void *map, const void *key));
L3AF_WIN_HELPER(long, bpf_map_update_elem, L3AF_WIN_FUNC_MAP_UPDATE_ELEM,
		(void *map, const void *key, const void *value, __u64 flags));
L3AF_WIN_HELPER(long, bpf_map_delete_elem, L3AF_WIN_FUNC_MAP_DELETE_ELEM, (void *map, const void *key));
L3AF_WIN_HELPER(long, bpf_tail_call, L3AF_WIN_FUNC_TAIL_CALL, (void *ctx, void *prog_array_map, __u32 index));
L3AF_WIN_HELPER(__u64, bpf_ktime_get_ns, L3AF_WIN_FUNC_KTIME_GET_NS, (void));
/* eBPF-for-Windows has no bpf_ringbuf_reserve/submit: a record is copied in with ringbuf_output. */
L3AF_WIN_HELPER(long, bpf_ringbuf_output, L3AF_WIN_FUNC_RINGBUF_OUTPUT,
		(void *ringbuf, const void *data, __u64 size, __u64 flags));

/* Marks the object as built against the Windows headers (each program is one translation unit). */
const _Bool __ebpf_for_windows_tag SEC(".ebpf_for_windows") = 1;

#endif /* L3AF_WINDOWS_H */
