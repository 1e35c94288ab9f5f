// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tc-root (egress): the program attached to an interface's TC egress hook (clsact or TCX). It only
 * starts the chain: a tail call through slot 0 of tc_egress_root_array; with an empty chain it
 * returns TC_ACT_OK, so an attached root without programs behind it lets every packet through.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "l3af_chain.h"

L3AF_NEXT_PROG_ARRAY(tc_egress_root_array);

SEC("tc")
int tc_egress_root(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &tc_egress_root_array, L3AF_CHAIN_SLOT);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";
