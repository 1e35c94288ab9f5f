// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// The cheapest XDP program: the baseline of every test_run figure.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
