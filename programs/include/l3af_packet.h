/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Bounded, verifier-friendly packet parsing down to the L4 header.
 *
 * l3af_parse_l4() walks Ethernet, up to two VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8 and the
 * pre-standard QinQ 0x9100), then IPv4 (header length taken from ihl, so options are skipped) or
 * IPv6 (up to L3AF_IPV6_MAX_EXT extension headers: hop-by-hop, routing, fragment, destination
 * options and AH). Every read is preceded by an explicit bounds check against data_end, so any
 * truncated or malformed frame simply yields "not parsed".
 *
 * It only reports a flow when the L4 header starts inside the frame and the packet is not a
 * non-first fragment (those carry no L4 header).
 */
#ifndef L3AF_PACKET_H
#define L3AF_PACKET_H

#ifdef L3AF_TARGET_WINDOWS
#include "windows/l3af_windows.h" /* eBPF-for-Windows' numbers in place of linux/bpf.h, bpf_helpers.h */
#else
#include <linux/bpf.h>
#endif
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#ifndef L3AF_TARGET_WINDOWS
#include <bpf/bpf_helpers.h>
#endif
#include <bpf/bpf_endian.h>

/* VLAN tags accepted in front of the IP header (outermost first). */
#define L3AF_MAX_VLAN_TAGS 2
/* IPv6 extension headers skipped before giving up on a packet. */
#define L3AF_IPV6_MAX_EXT 6

#define L3AF_IPV4_OFFSET_MASK 0x1fff /* fragment offset bits of iphdr.frag_off (host order) */
#define L3AF_IPV6_OFFSET_MASK 0xfff8 /* fragment offset bits of the fragment header (host order) */

/* What l3af_parse_l4() found. Pointers are into the packet and already bounds-checked for the
 * fixed part of their header (l3) or for nothing at all (l4: the caller checks its own header). */
struct l3af_flow {
	void *l3;     /* IPv4 or IPv6 header */
	void *l4;     /* first byte after the IP header and its options/extension headers */
	__u16 vlan;   /* VLAN id of the outermost tag, 0 when untagged */
	__u8 family;  /* 4 or 6 */
	__u8 proto;   /* L4 protocol number (IPPROTO_*) */
};

struct l3af_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct l3af_ipv6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct l3af_ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

static __always_inline int l3af_is_vlan_proto(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD) ||
	       proto == bpf_htons(ETH_P_QINQ1);
}

/* Returns 0 and fills *flow when an IPv4/IPv6 packet whose L4 header starts at flow->l4 was
 * found; returns -1 for anything else (not IP, truncated, malformed, too many tags or extension
 * headers, non-first fragment). */
static __always_inline int l3af_parse_l4(void *data, void *data_end, struct l3af_flow *flow)
{
	struct ethhdr *eth = data;
	void *cur;
	__be16 proto;
	int i;

	if ((void *)(eth + 1) > data_end)
		return -1;
	proto = eth->h_proto;
	cur = eth + 1;
	flow->vlan = 0;

#pragma unroll
	for (i = 0; i < L3AF_MAX_VLAN_TAGS; i++) {
		struct l3af_vlan_hdr *vh = cur;

		if (!l3af_is_vlan_proto(proto))
			break;
		if ((void *)(vh + 1) > data_end)
			return -1;
		if (i == 0)
			flow->vlan = bpf_ntohs(vh->tci) & 0x0fff;
		proto = vh->encap_proto;
		cur = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cur;
		__u32 hlen;

		if ((void *)(ip + 1) > data_end)
			return -1;
		if (ip->version != 4 || ip->ihl < 5)
			return -1;
		hlen = (__u32)ip->ihl * 4;
		if (cur + hlen > data_end)
			return -1;
		if (bpf_ntohs(ip->frag_off) & L3AF_IPV4_OFFSET_MASK)
			return -1;
		flow->l3 = ip;
		flow->l4 = cur + hlen;
		flow->family = 4;
		flow->proto = ip->protocol;
		return 0;
	}

	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;
		__u8 nh;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		if (ip6->version != 6)
			return -1;
		flow->l3 = ip6;
		nh = ip6->nexthdr;
		cur = ip6 + 1;

		for (i = 0; i < L3AF_IPV6_MAX_EXT; i++) {
			struct l3af_ipv6_ext *ext = cur;
			__u32 len;

			if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS) {
				if ((void *)(ext + 1) > data_end)
					return -1;
				len = ((__u32)ext->hdrlen + 1) * 8;
			} else if (nh == IPPROTO_AH) {
				if ((void *)(ext + 1) > data_end)
					return -1;
				len = ((__u32)ext->hdrlen + 2) * 4;
			} else if (nh == IPPROTO_FRAGMENT) {
				struct l3af_ipv6_frag *fh = cur;

				if ((void *)(fh + 1) > data_end)
					return -1;
				if (bpf_ntohs(fh->frag_off) & L3AF_IPV6_OFFSET_MASK)
					return -1;
				len = sizeof(*fh);
			} else {
				break;
			}
			if (cur + len > data_end)
				return -1;
			nh = ext->nexthdr;
			cur += len;
		}
		if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
		    nh == IPPROTO_AH || nh == IPPROTO_FRAGMENT)
			return -1; /* more extension headers than we walk */
		flow->l4 = cur;
		flow->family = 6;
		flow->proto = nh;
		return 0;
	}

	return -1;
}

#endif /* L3AF_PACKET_H */
