/** The sizes and field offsets koffi computes for the C structs the kernel layer passes, for checking against C. */
import { koffi, bpf_prog_info, bpf_map_info, bpf_test_run_opts, bpf_xdp_attach_opts, bpf_xdp_query_opts, bpf_tc_hook, bpf_tc_opts, bpf_uprobe_opts, bpf_kprobe_opts, bpf_map_batch_opts } from './ffi.ts';

export interface StructLayout {
  readonly size: number;
  readonly offsets: Readonly<Record<string, number>>;
}

const STRUCTS = { bpf_prog_info, bpf_map_info, bpf_test_run_opts, bpf_xdp_attach_opts, bpf_xdp_query_opts, bpf_tc_hook, bpf_tc_opts, bpf_uprobe_opts, bpf_kprobe_opts, bpf_map_batch_opts };

/** Every declared struct's size and member offsets (padding members excluded). */
export function structLayouts(): Record<keyof typeof STRUCTS, StructLayout> {
  const out = {} as Record<keyof typeof STRUCTS, StructLayout>;
  for (const [name, type] of Object.entries(STRUCTS) as [keyof typeof STRUCTS, (typeof STRUCTS)[keyof typeof STRUCTS]][]) {
    const members = koffi.type(type).members ?? {};
    const offsets: Record<string, number> = {};
    for (const m of Object.keys(members)) if (!/^(pad|bits)/.test(m)) offsets[m] = koffi.offsetof(type, m);
    out[name] = { size: koffi.sizeof(type), offsets };
  }
  return out;
}
