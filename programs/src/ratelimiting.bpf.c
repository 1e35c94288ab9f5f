// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ratelimiting: XDP limiter of new TCP connections (SYN without ACK) to listed destination ports.
 *
 * Interface (compatible with L3AF's payloads): object ratelimiting.bpf.o, entry _xdp_ratelimiting,
 * maps rl_config_map, rl_ports_map, rl_window_map, rl_recv_count_map, rl_drop_count_map and the
 * next-program array xdp_rl_ingress_next_prog; plus the ring buffer rl_events (drop events).
 *
 * Candidate = a TCP segment with SYN set and ACK clear, whose destination port (host byte order)
 * is a key of rl_ports_map, in an IPv4 packet (any header length, i.e. with options) or an IPv6
 * packet (after up to 6 hop-by-hop / routing / fragment / destination-options / AH extension
 * headers), behind 0, 1 or 2 VLAN tags (802.1Q, 802.1ad, 0x9100). Non-first fragments are not
 * candidates (they carry no TCP header).
 *
 * Every candidate increments rl_recv_count_map[0]. It is accepted when
 *     prev * (1 - elapsed / window) + cur < rate
 * (the estimate of the last window's connections before this one is below the rate), so a
 * steady load over the rate gets exactly `rate` accepted per window (with `+ 1 <= rate` it
 * would settle at rate - 1: half the seed's rate of 2)
 * where cur/prev are the connections accepted in the current/previous window (window = aligned
 * slices of bpf_ktime_get_ns()) and elapsed the time since the current window began; the weight
 * is computed in 1/65536 steps. Accepted candidates increment cur; refused ones increment
 * rl_drop_count_map[0] and get XDP_DROP. The limit is shared by all listed ports.
 *
 * VERDICTS
 *   rate-limited candidate SYN                               -> XDP_DROP (ends the chain)
 *   everything else                                          -> next program of the chain
 *                                                               (tail call, slot 0), or XDP_PASS
 *                                                               when the chain ends here
 *   "everything else" includes every truncated or malformed frame: shorter than an Ethernet
 *   header (0..13 bytes), truncated VLAN tag, truncated IPv4/IPv6 header, IPv4 ihl < 5 or header
 *   longer than the frame, truncated IPv6 extension header, more than 2 VLAN tags or 6 extension
 *   headers, TCP header shorter than 20 bytes or data offset < 5. This program only judges
 *   what it can fully parse; the kernel's own stack discards such frames later.
 *
 * CONFIGURATION (rl_config_map, ARRAY u32 -> u64; all slots default to 0)
 *   [0] rate            accepted connections per window; 0 = no limit (candidates are counted in
 *                       rl_recv_count_map and passed). Values above 2^31-1 are treated as 2^31-1.
 *   [1] window_ns       window length in ns; 0 = 1 s (L3AF's fixed window). Clamped to
 *                       [1 ms, 1 h].
 *   [2] events_per_win  at most this many drop events per window into rl_events; 0 = none (the
 *                       default: set it only while a consumer reads rl_events, so nothing is
 *                       reserved when nobody listens).
 *
 * STATE (rl_window_map, ARRAY u32 -> u64, no user-space initialisation needed)
 *   [0], [1]  window counters: slot (window id & 1) holds (window id mod 2^32) << 32 | accepted.
 *   [2]       drop-event budget of the current window, same packing.
 *   [3]       drop events lost because rl_events was full.
 * Counting is exact under concurrency: a candidate takes its place with an atomic fetch-add and
 * checks the value it got back, undoing the add if it is over the limit, so two CPUs can never
 * both take the last place. A window slot is recycled with a compare-and-swap from an older
 * window id, so a stale count is never mistaken for a fresh one.
 */
#ifdef L3AF_TARGET_WINDOWS
/* eBPF-for-Windows: its helper ids, map type values, xdp_md and verdicts (programs/README.md) */
#include "windows/l3af_windows.h"
#include <linux/tcp.h>
#else
#include <linux/bpf.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#endif
#include <bpf/bpf_endian.h>

#include "l3af_chain.h"
#include "l3af_packet.h"

#define RL_CFG_RATE 0
#define RL_CFG_WINDOW_NS 1
#define RL_CFG_EVENTS_PER_WINDOW 2
#define RL_CFG_SLOTS 3

#define RL_WIN_SLOT_A 0
#define RL_WIN_SLOT_B 1
#define RL_WIN_EVENT_BUDGET 2
#define RL_WIN_EVENTS_LOST 3
#define RL_WIN_SLOTS 4

#define RL_DEFAULT_WINDOW_NS 1000000000ULL
#define RL_MIN_WINDOW_NS 1000000ULL
#define RL_MAX_WINDOW_NS 3600000000000ULL
#define RL_MAX_RATE 0x7fffffffULL
#define RL_MAX_PORTS 64
#define RL_EVENTS_BYTES (64 * 1024)

#define RL_WEIGHT_SHIFT 16 /* fixed-point precision of the previous window's weight */

#define RL_TCP_FLAG_SYN 0x02
#define RL_TCP_FLAG_ACK 0x10
#define RL_TCP_FLAGS_OFFSET 13

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_CFG_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} rl_config_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RL_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u8);
} rl_ports_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_WIN_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} rl_window_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rl_recv_count_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rl_drop_count_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RL_EVENTS_BYTES);
} rl_events SEC(".maps");

L3AF_NEXT_PROG_ARRAY(xdp_rl_ingress_next_prog);

/* One drop event in rl_events (72 bytes, little-endian host layout). */
struct rl_drop_event {
	__u64 ts_ns;     /* bpf_ktime_get_ns() of the drop */
	__u64 drops;     /* rl_drop_count_map[0] including this drop */
	__u64 window_ns; /* window length in force */
	__u32 rate;      /* rate in force */
	__u32 ifindex;   /* ingress ifindex */
	__u16 sport;     /* TCP source port, host order */
	__u16 dport;     /* TCP destination port, host order */
	__u16 vlan;      /* outer VLAN id, 0 when untagged */
	__u8 family;     /* 4 or 6 */
	__u8 pad;
	__u8 saddr[16];  /* network order; IPv4 uses the first 4 bytes, the rest is 0 */
	__u8 daddr[16];
};

#define RL_TAG(v) ((__u32)((v) >> 32))
#define RL_COUNT(v) ((v) & 0xffffffffULL)

static __always_inline __u64 *rl_cell(void *map, __u32 key)
{
	return bpf_map_lookup_elem(map, &key);
}

static __always_inline __u64 rl_config(__u32 key)
{
	__u64 *v = rl_cell(&rl_config_map, key);

	return v ? *(volatile __u64 *)v : 0;
}

/* Makes a packed (window id, count) cell belong to window `tag`: a cell holding any other window
 * (an older one, or one computed with a previous window length) is reset to (tag, 0) by
 * compare-and-swap. If the swap loses a race, the winner has claimed the cell for `tag` already
 * (or, for a CPU whose clock read lags a whole window, for its own window); the caller's
 * fetch-add sees which. */
static __always_inline void rl_claim(__u64 *cell, __u32 tag)
{
	__u64 v = *(volatile __u64 *)cell;

	if (RL_TAG(v) == tag)
		return;
	__sync_val_compare_and_swap(cell, v, (__u64)tag << 32);
}

struct rl_decision {
	__u64 now;
	__u64 window_ns;
	__u64 rate;
	__u32 tag;  /* current window id mod 2^32 */
	int drop;
};

/* Decides one candidate with the sliding window and records an accepted one. */
static __always_inline void rl_admit(struct rl_decision *d)
{
	__u64 wid = d->now / d->window_ns;
	__u64 elapsed = d->now - wid * d->window_ns;
	__u32 tag = (__u32)wid;
	__u64 *cur = rl_cell(&rl_window_map, (__u32)(wid & 1));
	__u64 *prev = rl_cell(&rl_window_map, (__u32)((wid & 1) ^ 1));
	__u64 pv, prev_count, weight, carried, old;

	d->tag = tag;
	d->drop = 0;
	if (!cur || !prev)
		return;

	pv = *(volatile __u64 *)prev;
	prev_count = RL_TAG(pv) == tag - 1 ? RL_COUNT(pv) : 0;
	weight = ((d->window_ns - elapsed) << RL_WEIGHT_SHIFT) / d->window_ns;
	carried = prev_count * weight;

	rl_claim(cur, tag);
	old = __sync_fetch_and_add(cur, 1);
	if (RL_TAG(old) != tag) {
		/* The slot is on another window: only possible for a CPU whose clock read lags by
		 * a whole window. Give the place back and let the packet through uncounted. */
		__sync_fetch_and_add(cur, (__u64)-1);
		return;
	}
	if (carried + (RL_COUNT(old) << RL_WEIGHT_SHIFT) >= (d->rate << RL_WEIGHT_SHIFT)) {
		__sync_fetch_and_add(cur, (__u64)-1);
		d->drop = 1;
	}
}

/* Emits at most config[2] drop events per window into rl_events. */
static __always_inline void rl_emit_drop(struct xdp_md *ctx, const struct rl_decision *d,
					 const struct l3af_flow *flow, const struct tcphdr *th,
					 __u64 drops)
{
	__u64 budget = rl_config(RL_CFG_EVENTS_PER_WINDOW);
	__u64 *cell, *lost, v, old;
	struct rl_drop_event *e;
#ifdef L3AF_TARGET_WINDOWS
	struct rl_drop_event record;
#endif

	if (!budget)
		return;
	if (budget > RL_MAX_RATE)
		budget = RL_MAX_RATE;
	cell = rl_cell(&rl_window_map, RL_WIN_EVENT_BUDGET);
	if (!cell)
		return;
	rl_claim(cell, d->tag);
	v = *(volatile __u64 *)cell;
	if (RL_TAG(v) == d->tag && RL_COUNT(v) >= budget)
		return;
	old = __sync_fetch_and_add(cell, 1);
	if (RL_TAG(old) != d->tag || RL_COUNT(old) >= budget)
		return;

#ifdef L3AF_TARGET_WINDOWS
	/* No ringbuf_reserve/submit on Windows: the event is built on the stack and copied in. */
	e = &record;
#else
	e = bpf_ringbuf_reserve(&rl_events, sizeof(*e), 0);
	if (!e) {
		lost = rl_cell(&rl_window_map, RL_WIN_EVENTS_LOST);
		if (lost)
			__sync_fetch_and_add(lost, 1);
		return;
	}
#endif
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = d->now;
	e->drops = drops;
	e->window_ns = d->window_ns;
	e->rate = (__u32)d->rate;
	e->ifindex = ctx->ingress_ifindex;
	e->sport = bpf_ntohs(th->source);
	e->dport = bpf_ntohs(th->dest);
	e->vlan = flow->vlan;
	e->family = flow->family;
	if (flow->family == 4) {
		const struct iphdr *ip = flow->l3;

		__builtin_memcpy(e->saddr, &ip->saddr, 4);
		__builtin_memcpy(e->daddr, &ip->daddr, 4);
	} else {
		const struct ipv6hdr *ip6 = flow->l3;

		__builtin_memcpy(e->saddr, &ip6->saddr, 16);
		__builtin_memcpy(e->daddr, &ip6->daddr, 16);
	}
#ifdef L3AF_TARGET_WINDOWS
	if (bpf_ringbuf_output(&rl_events, e, sizeof(*e), 0) < 0) {
		lost = rl_cell(&rl_window_map, RL_WIN_EVENTS_LOST);
		if (lost)
			__sync_fetch_and_add(lost, 1);
	}
#else
	bpf_ringbuf_submit(e, 0);
#endif
}

/* Returns 1 when the frame is a candidate SYN that the limiter refuses. */
static __always_inline int rl_should_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct l3af_flow flow;
	struct tcphdr *th;
	struct rl_decision d;
	__u64 *recv, *dropped;
	__u64 drops;
	__u8 flags;
	__u16 port;

	if (l3af_parse_l4(data, data_end, &flow) < 0 || flow.proto != IPPROTO_TCP)
		return 0;
	th = flow.l4;
	if ((void *)(th + 1) > data_end || th->doff < 5)
		return 0;
	flags = ((__u8 *)th)[RL_TCP_FLAGS_OFFSET];
	if ((flags & (RL_TCP_FLAG_SYN | RL_TCP_FLAG_ACK)) != RL_TCP_FLAG_SYN)
		return 0;
	port = bpf_ntohs(th->dest);
	if (!bpf_map_lookup_elem(&rl_ports_map, &port))
		return 0;

	recv = rl_cell(&rl_recv_count_map, 0);
	if (recv)
		__sync_fetch_and_add(recv, 1);

	d.rate = rl_config(RL_CFG_RATE);
	if (!d.rate)
		return 0;
	if (d.rate > RL_MAX_RATE)
		d.rate = RL_MAX_RATE;
	d.window_ns = rl_config(RL_CFG_WINDOW_NS);
	if (!d.window_ns)
		d.window_ns = RL_DEFAULT_WINDOW_NS;
	else if (d.window_ns < RL_MIN_WINDOW_NS)
		d.window_ns = RL_MIN_WINDOW_NS;
	else if (d.window_ns > RL_MAX_WINDOW_NS)
		d.window_ns = RL_MAX_WINDOW_NS;
	d.now = bpf_ktime_get_ns();

	rl_admit(&d);
	if (!d.drop)
		return 0;

	drops = 0;
	dropped = rl_cell(&rl_drop_count_map, 0);
	if (dropped)
		drops = __sync_fetch_and_add(dropped, 1) + 1;
	rl_emit_drop(ctx, &d, &flow, th, drops);
	return 1;
}

SEC("xdp")
int _xdp_ratelimiting(struct xdp_md *ctx)
{
	if (rl_should_drop(ctx))
		return XDP_DROP;
	bpf_tail_call(ctx, &xdp_rl_ingress_next_prog, L3AF_CHAIN_SLOT);
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
