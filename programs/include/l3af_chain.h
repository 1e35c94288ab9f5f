/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Chaining conventions shared by every program of the project.
 *
 * A chain is a list of programs on one hook. Only the first one (a root) is attached; each program
 * reaches the next one with a tail call through slot L3AF_CHAIN_SLOT of its own one-slot
 * BPF_MAP_TYPE_PROG_ARRAY (its "next program" array). Whoever loads program N+1 writes its fd into
 * that slot of program N. When the slot is empty the tail call falls through and the program
 * returns its hook's "continue" verdict (XDP_PASS / TC_ACT_OK), so the end of a chain is
 * transparent.
 *
 * Maps carry no `pinning` attribute: the agent pins every map itself, per interface and version.
 */
#ifndef L3AF_CHAIN_H
#define L3AF_CHAIN_H

#ifdef L3AF_TARGET_WINDOWS
#include "windows/l3af_windows.h" /* eBPF-for-Windows' numbers in place of the two below */
#else
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#endif

/* The slot of a next-program array that holds the next program. */
#define L3AF_CHAIN_SLOT 0

/* Declares a one-slot next-program array called `name` (key u32, value u32 prog fd / id). */
#define L3AF_NEXT_PROG_ARRAY(name)                                                                 \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY);                                             \
		__uint(max_entries, 1);                                                            \
		__type(key, __u32);                                                                \
		__type(value, __u32);                                                              \
	} name SEC(".maps")

#endif /* L3AF_CHAIN_H */
