// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * count-and-pass (TC): counts every packet in a per-CPU counter, then continues the chain
 * (tail call through slot 0 of its own next-program array) or returns TC_ACT_OK when it is last.
 * Works on ingress and egress. Used by chain tests and benchmarks.
 *
 * Maps: tc_cap_count     PERCPU_ARRAY u32 -> u64, 1 entry: packets seen (sum over CPUs)
 *       tc_cap_next_prog PROG_ARRAY, 1 slot: next program of the chain
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
} tc_cap_count SEC(".maps");

L3AF_NEXT_PROG_ARRAY(tc_cap_next_prog);

SEC("tc")
int tc_count_and_pass(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&tc_cap_count, &key);

	if (count)
		*count += 1; /* per-CPU value: no other CPU writes it */
	bpf_tail_call(skb, &tc_cap_next_prog, L3AF_CHAIN_SLOT);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";
