// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's counting step (not a package): with [l3af] chain-counting on, the chain manager places one
 * instance before each chained program. It counts the packet in a per-CPU counter and tail-calls the program
 * it counts for (slot 0 of its own next array), so packets entering each program of a chain are known
 * although the kernel's run statistics count only the program on the hook. One entry per hook type:
 * l3af_count_xdp (XDP) and l3af_count_tc (TC); the loader keeps the one its chain needs.
 *
 * Maps: l3af_count      PERCPU_ARRAY u32 -> u64, 1 entry: packets that entered the counted program
 *       l3af_count_next PROG_ARRAY, 1 slot: the counted program
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "l3af_chain.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} l3af_count SEC(".maps");

L3AF_NEXT_PROG_ARRAY(l3af_count_next);

static __always_inline void count(void)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&l3af_count, &key);

	if (n)
		*n += 1; /* per-CPU value: no other CPU writes it */
}

SEC("xdp")
int l3af_count_xdp(struct xdp_md *ctx)
{
	count();
	bpf_tail_call(ctx, &l3af_count_next, L3AF_CHAIN_SLOT);
	return XDP_PASS; /* the counted program is gone: as at the end of a chain */
}

SEC("tc")
int l3af_count_tc(struct __sk_buff *skb)
{
	count();
	bpf_tail_call(skb, &l3af_count_next, L3AF_CHAIN_SLOT);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";
