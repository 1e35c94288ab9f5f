// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * count-and-pass (XDP): counts every packet in a per-CPU counter, then continues the chain
 * (tail call through slot 0 of its own next-program array) or returns XDP_PASS when it is last.
 * Used by chain tests and benchmarks.
 *
 * Maps: xdp_cap_count     PERCPU_ARRAY u32 -> u64, 1 entry: packets seen (sum over CPUs)
 *       xdp_cap_next_prog PROG_ARRAY, 1 slot: next program of the chain
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "l3af_chain.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} xdp_cap_count SEC(".maps");

L3AF_NEXT_PROG_ARRAY(xdp_cap_next_prog);

SEC("xdp")
int xdp_count_and_pass(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&xdp_cap_count, &key);

	if (count)
		*count += 1; /* per-CPU value: no other CPU writes it */
	bpf_tail_call(ctx, &xdp_cap_next_prog, L3AF_CHAIN_SLOT);
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
