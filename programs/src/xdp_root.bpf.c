// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xdp-root: the program attached to an interface's XDP hook. It only starts the chain: a tail
 * call through slot 0 of xdp_root_array; with an empty chain it returns XDP_PASS, so an attached
 * root without programs behind it is a transparent pass-through.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "l3af_chain.h"

L3AF_NEXT_PROG_ARRAY(xdp_root_array);

SEC("xdp")
int xdp_root(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &xdp_root_array, L3AF_CHAIN_SLOT);
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
