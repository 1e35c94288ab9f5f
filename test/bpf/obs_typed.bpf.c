// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Struct-keyed maps for the typed monitor_maps tests, filled by one XDP program from the frames a
// test runs through it (BPF_PROG_TEST_RUN): IPv4 flows (addresses and ports in network order,
// the protocol) → {packets, bytes}; IPv6 sources with the destination port → {packets, bytes};
// a per-CPU hash of packets per IP protocol; packets per IPv4 source keyed by a plain __u32.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct flow4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct flow6 {
	__u8 saddr6[16];
	__be16 dport;
	__u16 pad;
};

struct counters {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow4);
	__type(value, struct counters);
} obs_flows4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow6);
	__type(value, struct counters);
} obs_flows6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} obs_proto_pcpu SEC(".maps");

/* keyed by the IPv4 source as a plain __u32 (network-order bytes): what key_type "ipv4" reads */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} obs_src4 SEC(".maps");

static __always_inline void add(void *map, void *key, __u64 len)
{
	struct counters *c = bpf_map_lookup_elem(map, key);
	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		__sync_fetch_and_add(&c->bytes, len);
	} else {
		struct counters one = { .packets = 1, .bytes = len };
		bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
	}
}

SEC("xdp")
int obs_typed_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct ethhdr *eth = data;
	__u32 proto;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end || ip->ihl != 5)
			return XDP_PASS;
		__be16 *ports = (void *)(ip + 1);
		if ((void *)(ports + 2) > data_end)
			return XDP_PASS;
		struct flow4 k = {};
		k.saddr = ip->saddr;
		k.daddr = ip->daddr;
		k.sport = ports[0];
		k.dport = ports[1];
		k.proto = ip->protocol;
		add(&obs_flows4, &k, len);
		proto = ip->protocol;
		__u32 src = ip->saddr;
		__u64 *s = bpf_map_lookup_elem(&obs_src4, &src);
		if (s) {
			__sync_fetch_and_add(s, 1);
		} else {
			__u64 one = 1;
			bpf_map_update_elem(&obs_src4, &src, &one, BPF_NOEXIST);
		}
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		__be16 *ports = (void *)(ip6 + 1);
		if ((void *)(ports + 2) > data_end)
			return XDP_PASS;
		struct flow6 k = {};
		__builtin_memcpy(k.saddr6, &ip6->saddr, 16);
		k.dport = ports[1];
		add(&obs_flows6, &k, len);
		proto = ip6->nexthdr;
	} else {
		return XDP_PASS;
	}
	__u64 *n = bpf_map_lookup_elem(&obs_proto_pcpu, &proto);
	if (n) {
		*n += 1;
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&obs_proto_pcpu, &proto, &one, BPF_NOEXIST);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
