// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * dropin-limit (XDP), shaped like L3AF's ratelimiting: it counts and limits only when its counters
 * exist. With no value under key 0 of dl_recv_count it passes everything (L3AF's ratelimiting
 * returns XDP_PASS when its counter lookup fails), so it limits only when the loader wrote the
 * monitored keys (l3afd zero-initialises every monitor_maps key at load).
 *
 * Only IPv4 UDP to port dl_config[0] is a candidate: candidates are counted in dl_recv_count[0];
 * the first dl_config[1] pass, later ones are dropped and counted in dl_drop_count[0].
 *
 * Maps: dl_recv_count  HASH u32 -> u64, 1     candidates seen (only once key 0 exists)
 *       dl_drop_count  HASH u32 -> u64, 1     candidates dropped
 *       dl_config      ARRAY u32 -> u64, 2    [0] UDP port, [1] candidates let through
 *       xdp_dl_next_prog PROG_ARRAY, 1        next program of the chain
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "l3af_chain.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dl_recv_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dl_drop_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} dl_config SEC(".maps");

L3AF_NEXT_PROG_ARRAY(xdp_dl_next_prog);

SEC("xdp")
int xdp_dropin_limit(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u32 zero = 0, one = 1;

	if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		goto next;
	__u64 *port = bpf_map_lookup_elem(&dl_config, &zero);
	__u64 *allowed = bpf_map_lookup_elem(&dl_config, &one);
	if (!port || !allowed || bpf_ntohs(udp->dest) != *port)
		goto next;
	__u64 *recv = bpf_map_lookup_elem(&dl_recv_count, &zero);
	if (!recv)
		return XDP_PASS; /* no counter: pass everything, as L3AF's ratelimiting */
	__u64 seen = __sync_fetch_and_add(recv, 1) + 1;
	if (seen > *allowed) {
		__u64 *drops = bpf_map_lookup_elem(&dl_drop_count, &zero);
		if (drops)
			__sync_fetch_and_add(drops, 1);
		return XDP_DROP;
	}
next:
	bpf_tail_call(ctx, &xdp_dl_next_prog, L3AF_CHAIN_SLOT);
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
