// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * dropin-tail (XDP), shaped like L3AF's connection-limit (_xdp_limit_conn): its object declares a
 * next-program array (the payload's map_name) but the program never tail-calls through it, so
 * nothing chained after it ever runs. It counts every packet and passes it.
 *
 * Maps: xdp_dt_count     PERCPU_ARRAY u32 -> u64, 1: packets seen
 *       xdp_dt_next_prog PROG_ARRAY, 1: present in the object, never used by the program
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "l3af_chain.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} xdp_dt_count SEC(".maps");

L3AF_NEXT_PROG_ARRAY(xdp_dt_next_prog);

SEC("xdp")
int xdp_dropin_tail(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&xdp_dt_count, &key);

	if (count)
		*count += 1;
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
