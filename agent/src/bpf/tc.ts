/**
 * TC programs on the clsact qdisc (ingress and egress), in direct-action mode, through
 * libbpf's bpf_tc_* netlink calls. Like netlink XDP, filters outlive the process.
 */
import { C, bpf_tc_hook, bpf_tc_opts, koffi } from './ffi.ts';
import { BpfError, check } from './errors.ts';
import { ifindex } from './netif.ts';

export type TcDirection = 'ingress' | 'egress';

const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;
const BPF_TC_F_REPLACE = 1;

function hook(iface: string | number, attachPoint: number): Record<string, unknown> {
  return { sz: koffi.sizeof(bpf_tc_hook), ifindex: ifindex(iface), attach_point: attachPoint, parent: 0 };
}

function point(direction: TcDirection): number {
  return direction === 'ingress' ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

/** Adds the clsact qdisc to the interface; false if it was already there. */
export function createClsact(iface: string | number): boolean {
  const ret = C.bpf_tc_hook_create(hook(iface, BPF_TC_INGRESS)) as number;
  if (ret === -17) return false;
  check(ret, 'bpf_tc_hook_create', { interface: iface });
  return true;
}

/** Removes the clsact qdisc and every filter on it; false if there was none. */
export function destroyClsact(iface: string | number): boolean {
  const ret = C.bpf_tc_hook_destroy(hook(iface, BPF_TC_INGRESS | BPF_TC_EGRESS)) as number;
  if (ret === -2 || ret === -22) return false;
  check(ret, 'bpf_tc_hook_destroy', { interface: iface });
  return true;
}

export interface TcFilterId {
  readonly iface: string | number;
  readonly direction: TcDirection;
  /** Filter handle; default 1. */
  readonly handle?: number;
  /** Filter priority; default 1. */
  readonly priority?: number;
}

export interface TcAttachOptions extends TcFilterId {
  readonly program: { readonly fd: number };
  /** Replace a filter with the same handle and priority (atomic swap). Default false. */
  readonly replace?: boolean;
}

export interface TcAttachment {
  readonly handle: number;
  readonly priority: number;
  readonly progId: number;
}

/** Attaches `program` as a direct-action filter; creates clsact if missing. */
export function attachTc(opts: TcAttachOptions): TcAttachment {
  createClsact(opts.iface);
  const o: Record<string, unknown> = {
    sz: koffi.sizeof(bpf_tc_opts), prog_fd: opts.program.fd, flags: opts.replace ? BPF_TC_F_REPLACE : 0,
    handle: opts.handle ?? 1, priority: opts.priority ?? 1,
  };
  const ret = C.bpf_tc_attach(hook(opts.iface, point(opts.direction)), o) as number;
  if (ret < 0) {
    const hint = ret === -17 ? 'a filter with this handle and priority exists; pass replace: true to swap it' : undefined;
    throw new BpfError({ op: 'bpf_tc_attach', subject: { interface: opts.iface, direction: opts.direction }, errno: -ret, ...(hint ? { hint } : {}) });
  }
  return { handle: o.handle as number, priority: o.priority as number, progId: o.prog_id as number };
}

/** The program id of a filter, or undefined when there is no such filter. */
export function queryTc(id: TcFilterId): number | undefined {
  const o: Record<string, unknown> = { sz: koffi.sizeof(bpf_tc_opts), handle: id.handle ?? 1, priority: id.priority ?? 1 };
  const ret = C.bpf_tc_query(hook(id.iface, point(id.direction)), o) as number;
  if (ret === -2 || ret === -22) return undefined;
  check(ret, 'bpf_tc_query', { interface: id.iface, direction: id.direction });
  return o.prog_id as number;
}

/** Removes a filter; false if it was not there. */
export function detachTc(id: TcFilterId): boolean {
  const o: Record<string, unknown> = { sz: koffi.sizeof(bpf_tc_opts), handle: id.handle ?? 1, priority: id.priority ?? 1 };
  const ret = C.bpf_tc_detach(hook(id.iface, point(id.direction)), o) as number;
  if (ret === -2 || ret === -22) return false;
  if (ret < 0) throw new BpfError({ op: 'bpf_tc_detach', subject: { interface: id.iface, direction: id.direction }, errno: -ret });
  return true;
}
