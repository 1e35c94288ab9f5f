// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Maps of every shape the map monitors read, filled by one XDP program from the frames a test
// runs through it (BPF_PROG_TEST_RUN): a per-CPU counter, hash maps keyed by 1-, 2- and 8-byte
// integers, a 4-byte value, and a log2 histogram of frame lengths (slot i = lengths in
// [2^i, 2^(i+1)), slot 0 also holds 0 and 1; slot OBS_HIST_SUM = sum of the lengths).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define OBS_HIST_SLOTS 32
#define OBS_HIST_SUM OBS_HIST_SLOTS

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} obs_pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u8);
	__type(value, __u64);
} obs_by_byte SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u16);
	__type(value, __u64);
} obs_by_len SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} obs_by_len64 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} obs_u32 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, OBS_HIST_SLOTS + 1);
	__type(key, __u32);
	__type(value, __u64);
} obs_len_hist SEC(".maps");

static __always_inline __u32 log2_u32(__u32 v)
{
	__u32 r, s;
	r = (v > 0xFFFF) << 4; v >>= r;
	s = (v > 0xFF) << 3; v >>= s; r |= s;
	s = (v > 0xF) << 2; v >>= s; r |= s;
	s = (v > 0x3) << 1; v >>= s; r |= s;
	return r | (v >> 1);
}

#define COUNT(map, k) do { \
	__u64 *c = bpf_map_lookup_elem(&(map), &(k)); \
	if (c) { __sync_fetch_and_add(c, 1); } \
	else { __u64 one = 1; bpf_map_update_elem(&(map), &(k), &one, BPF_NOEXIST); } \
} while (0)

SEC("xdp")
int obs_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	__u32 zero = 0;
	__u64 *v;
	__u32 *v32;

	v = bpf_map_lookup_elem(&obs_pcpu, &zero);
	if (v)
		*v += 1;
	v32 = bpf_map_lookup_elem(&obs_u32, &zero);
	if (v32)
		__sync_fetch_and_add(v32, 1);

	if (data + 1 <= data_end) {
		__u8 b = *(__u8 *)data;
		COUNT(obs_by_byte, b);
	}
	__u16 l16 = len;
	COUNT(obs_by_len, l16);
	__u64 l64 = len;
	COUNT(obs_by_len64, l64);

	__u32 slot = log2_u32(len);
	if (slot >= OBS_HIST_SLOTS)
		slot = OBS_HIST_SLOTS - 1;
	v = bpf_map_lookup_elem(&obs_len_hist, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
	__u32 sum = OBS_HIST_SUM;
	v = bpf_map_lookup_elem(&obs_len_hist, &sum);
	if (v)
		__sync_fetch_and_add(v, len);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
