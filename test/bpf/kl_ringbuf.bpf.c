// SPDX-License-Identifier: GPL-2.0
/* Ring-buffer records of varying size, some discarded, in a small ring (wraps around quickly): what the
 * JavaScript consumer that reads the mapped ring must handle. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024);
} klr_events SEC(".maps");

/* [0] sequence (every run takes one), [1] records the ring had no room for, [2] discarded on purpose */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} klr_ctr SEC(".maps");

struct klr_record {
	__u64 seq;
	__u32 size;
	__u32 fill;
	__u64 pad[3];
};

SEC("xdp")
int xdp_rb_mixed(struct xdp_md *ctx)
{
	__u32 k0 = 0, k1 = 1, k2 = 2;
	__u64 *seq = bpf_map_lookup_elem(&klr_ctr, &k0);
	__u64 *lost = bpf_map_lookup_elem(&klr_ctr, &k1);
	__u64 *discarded = bpf_map_lookup_elem(&klr_ctr, &k2);
	struct klr_record r = {};
	__u64 s;

	if (!seq || !lost || !discarded)
		return XDP_PASS;
	s = __sync_fetch_and_add(seq, 1);
	if (s % 3 == 2) {
		/* reserved, then discarded: the consumer must skip it */
		struct klr_record *d = bpf_ringbuf_reserve(&klr_events, sizeof(*d), 0);
		if (!d) {
			__sync_fetch_and_add(lost, 1);
			return XDP_PASS;
		}
		d->seq = s;
		bpf_ringbuf_discard(d, 0);
		__sync_fetch_and_add(discarded, 1);
		return XDP_PASS;
	}
	r.seq = s;
	r.size = 16 + (s % 4) * 8; /* 16, 24, 32 or 40 bytes: records of 24..48 bytes straddle the ring's end */
	r.fill = 0xabcd0000 | (__u32)(s & 0xffff);
	if (bpf_ringbuf_output(&klr_events, &r, r.size & 0x3f, 0))
		__sync_fetch_and_add(lost, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
