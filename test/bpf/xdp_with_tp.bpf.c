// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// An XDP chain element with a tracepoint beside it in the same object (issue 5 item 7): both count
// into one array map, so a test sees that the tracepoint was attached with the object's own maps.
//   xwt_counts[0]  frames seen by the XDP program
//   xwt_counts[1]  getppid() calls seen by the tracepoint
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "l3af_chain.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} xwt_counts SEC(".maps");

L3AF_NEXT_PROG_ARRAY(xwt_next_prog);

static __always_inline void bump(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&xwt_counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("xdp")
int xwt_xdp(struct xdp_md *ctx)
{
	bump(0);
	bpf_tail_call(ctx, &xwt_next_prog, L3AF_CHAIN_SLOT);
	return XDP_PASS;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int xwt_getppid(void *ctx)
{
	bump(1);
	return 0;
}

char _license[] SEC("license") = "Dual BSD/GPL";
