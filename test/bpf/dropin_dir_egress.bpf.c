// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * dropin-dir, egress object (TC), shaped like L3AF's ipfix-flow-exporter / traffic-mirroring: one
 * package with one object per TC direction, loaded under the same program name on tc_ingress and
 * tc_egress. Entry and maps carry the direction (l3afd pins both under
 * <root>/tc/globals/<iface>/<name>/<ver>/), and dd_shared is declared by both objects (l3afd's
 * pins make it one map).
 *
 * Maps: dd_egress_count     PERCPU_ARRAY u32 -> u64, 1: packets seen in this direction
 *       dd_shared         ARRAY u32 -> u64, 2: [0] ingress packets, [1] egress packets (both objects)
 *       dd_egress_jmp_table PROG_ARRAY, 1: next program of the chain
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
} dd_egress_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} dd_shared SEC(".maps");

L3AF_NEXT_PROG_ARRAY(dd_egress_jmp_table);

SEC("tc")
int _egress_dropin_dir(struct __sk_buff *skb)
{
	__u32 key = 0, slot = 1;
	__u64 *count = bpf_map_lookup_elem(&dd_egress_count, &key);
	__u64 *shared = bpf_map_lookup_elem(&dd_shared, &slot);

	if (count)
		*count += 1;
	if (shared)
		__sync_fetch_and_add(shared, 1);
	bpf_tail_call(skb, &dd_egress_jmp_table, L3AF_CHAIN_SLOT);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";
