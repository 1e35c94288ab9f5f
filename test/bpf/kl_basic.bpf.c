// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Small programs that exercise the kernel layer in tests: counters, per-CPU and hash maps,
// a tail-call chain, a UDP dropper, TC, ring and perf buffers, tracepoint, uprobe, kprobe.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum { C_ROOT = 0, C_CHAIN = 1, C_FALLTHRU = 2, C_DROPPED = 3, C_TC_IN = 4, C_TC_OUT = 5, C_TP = 6, C_UPROBE = 7, C_MAX = 8 };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} kl_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} kl_percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} kl_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} kl_percpu_hash SEC(".maps");

/* [0] = UDP destination port to drop (host order), 0 = none */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} kl_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} kl_jmp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} kl_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} kl_perf SEC(".maps");

/* [0] ring buffer event sequence, [1] perf event sequence: global, taken atomically */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} kl_seq SEC(".maps");

struct kl_event {
	__u64 seq;
	__u32 len;
	__u32 cpu;
};

static __always_inline void bump(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&kl_counters, &idx);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void bump_percpu(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&kl_percpu, &idx);
	if (v)
		*v += 1;
}

SEC("xdp")
int xdp_root(struct xdp_md *ctx)
{
	bump(C_ROOT);
	bump_percpu(0);
	bpf_tail_call(ctx, &kl_jmp, 0);
	bump(C_FALLTHRU);
	return XDP_PASS;
}

SEC("xdp")
int xdp_drop_udp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 key = 0, *port;

	bump(C_CHAIN);
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl < 5)
		return XDP_PASS;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end)
		return XDP_PASS;
	port = bpf_map_lookup_elem(&kl_cfg, &key);
	if (port && *port && bpf_ntohs(udp->dest) == *port) {
		bump(C_DROPPED);
		return XDP_DROP;
	}
	return XDP_PASS;
}

SEC("tc")
int tc_count_ingress(struct __sk_buff *skb)
{
	bump(C_TC_IN);
	return TC_ACT_OK;
}

SEC("tc")
int tc_count_egress(struct __sk_buff *skb)
{
	bump(C_TC_OUT);
	return TC_ACT_OK;
}

/* One ring buffer event per run, numbered in order (whatever CPU the run is on). */
SEC("xdp")
int xdp_emit(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *seq = bpf_map_lookup_elem(&kl_seq, &key);
	struct kl_event *ev;

	if (!seq)
		return XDP_PASS;
	ev = bpf_ringbuf_reserve(&kl_events, sizeof(*ev), 0);
	if (!ev)
		return XDP_ABORTED;
	ev->seq = __sync_fetch_and_add(seq, 1);
	ev->len = ctx->data_end - ctx->data;
	ev->cpu = bpf_get_smp_processor_id();
	bpf_ringbuf_submit(ev, 0);
	return XDP_PASS;
}

SEC("xdp")
int xdp_perf(struct xdp_md *ctx)
{
	__u32 key = 1;
	__u64 *seq = bpf_map_lookup_elem(&kl_seq, &key);
	struct kl_event ev = {};

	if (!seq)
		return XDP_PASS;
	ev.seq = __sync_fetch_and_add(seq, 1);
	ev.len = ctx->data_end - ctx->data;
	ev.cpu = bpf_get_smp_processor_id();
	bpf_perf_event_output(ctx, &kl_perf, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	return XDP_PASS;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int tp_getppid(void *ctx)
{
	bump(C_TP);
	return 0;
}

SEC("uprobe")
int uprobe_counter(void *ctx)
{
	bump(C_UPROBE);
	return 0;
}

SEC("kprobe/do_unlinkat")
int kprobe_unlink(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
