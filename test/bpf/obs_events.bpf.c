// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Event records with a BTF struct: one XDP program writes one `struct obs_event` per run into the
// ring buffer obs_events (numbered 1, 2, ... with a global atomic in obs_ctr[0]), counting in
// obs_ctr[1] the records the full ring refused, and keeps the last one in obs_last. obs_last's
// value type keeps the struct in the object's BTF (a type used only through a ring buffer
// reservation is not emitted), so the agent can decode records field by field from BTF. The
// fields cover what the decoder handles: unsigned and signed integers, a 64-bit value beyond
// 2^53, bitfields, an enum, a char array and a byte array.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum obs_kind { OBS_SHORT = 1, OBS_LONG = 2 };

struct obs_event {
	__u64 seq;        /* 1, 2, ... */
	__u32 len;        /* frame length */
	__s16 delta;      /* len - 100 */
	__u8 low3 : 3;    /* len & 7 */
	__u8 long_frame : 1; /* len > 100 */
	enum obs_kind kind; /* OBS_LONG when len > 100 */
	char tag[8];      /* "obs" */
	__u8 dst[6];      /* the frame's first 6 bytes (destination MAC) */
	__u64 big;        /* 2^63 + seq */
};

/* The last record, also a declared map value: keeps struct obs_event in the object's BTF (a global
 * would do too, but its .bss map cannot be pinned: bpffs refuses dots in names). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct obs_event);
} obs_last SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} obs_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} obs_ctr SEC(".maps"); /* [0] sequence, [1] records lost (ring full) */

SEC("xdp")
int obs_emit(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 k0 = 0, k1 = 1, len = end - data;
	__u64 *seq = bpf_map_lookup_elem(&obs_ctr, &k0);
	__u64 *lost = bpf_map_lookup_elem(&obs_ctr, &k1);
	struct obs_event *e;

	if (!seq || !lost || data + 6 > end)
		return XDP_PASS;
	e = bpf_ringbuf_reserve(&obs_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(lost, 1);
		return XDP_PASS;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->seq = __sync_fetch_and_add(seq, 1) + 1;
	e->len = len;
	e->delta = (__s16)len - 100;
	e->low3 = len & 7;
	e->long_frame = len > 100;
	e->kind = len > 100 ? OBS_LONG : OBS_SHORT;
	e->tag[0] = 'o';
	e->tag[1] = 'b';
	e->tag[2] = 's';
	__builtin_memcpy(e->dst, data, 6);
	e->big = (1ULL << 63) + e->seq;
	bpf_map_update_elem(&obs_last, &k0, e, BPF_ANY);
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
