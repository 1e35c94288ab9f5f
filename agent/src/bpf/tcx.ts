/**
 * TCX (kernel ≥ 6.6): a TC program attached to an interface's ingress or egress by a BPF link
 * (BPF_LINK_CREATE with attach type BPF_TCX_INGRESS 46 / BPF_TCX_EGRESS 47), as l3afd attaches
 * its TC root where the kernel has it. libbpf 1.1 has no TCX wrapper nor the constants; its
 * bpf_link_create passes the attach type and the interface index through. The link is pinned (it
 * outlives the agent); the hook runs it until the pin is removed and the link detached.
 */
import { release } from 'node:os';
import { C, bpf_link_update_opts, closeFd, koffi } from './ffi.ts';
import { check } from './errors.ts';
import { BpfLink } from './link.ts';
import { ifindex } from './netif.ts';
import { pinObject, unpin } from './pin.ts';
import type { BpfProgram } from './program.ts';
import type { TcDirection } from './tc.ts';

/** The kernel's attach types (uapi bpf.h; absent from libbpf 1.1's headers). */
export const BPF_TCX_INGRESS = 46;
export const BPF_TCX_EGRESS = 47;

/** True when this kernel release is at least 6.6 (TCX links). */
export function tcxSupported(kernelRelease: string = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > 6 || (maj === 6 && min >= 6);
}

export interface TcxAttachOptions {
  readonly iface: string | number;
  readonly direction: TcDirection;
  readonly program: BpfProgram;
  /** Where the link is pinned (l3afd: `<root>/links/<iface>/<name>/<ver>/<name>_tc_<direction>`). */
  readonly pinPath: string;
}

/** Attaches `program` with a TCX link and pins the link; returns the link id. */
export function attachTcx(opts: TcxAttachOptions): number {
  const idx = typeof opts.iface === 'number' ? opts.iface : ifindex(opts.iface);
  const subject = { iface: String(opts.iface), direction: opts.direction };
  const fd = check(C.bpf_link_create(opts.program.fd, idx, opts.direction === 'ingress' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS, null) as number, 'bpf_link_create(tcx)', subject);
  try {
    pinObject(fd, opts.pinPath, subject);
  } finally {
    closeFd(fd);
  }
  using link = BpfLink.openPinned(opts.pinPath);
  return link.info().id;
}

/** The program the pinned TCX link runs, or undefined when there is no such pin. */
export function tcxProgId(pinPath: string): number | undefined {
  let link: BpfLink;
  try {
    link = BpfLink.openPinned(pinPath);
  } catch {
    return undefined;
  }
  try {
    const info = link.info();
    return info.type === 'tcx' ? info.progId : undefined;
  } finally {
    link.close();
  }
}

/** Swaps the program of a pinned TCX link atomically, only if it still runs `expectedOld`. */
export function updateTcx(pinPath: string, program: BpfProgram, expectedOld: BpfProgram): void {
  using link = BpfLink.openPinned(pinPath);
  const o = { sz: koffi.sizeof(bpf_link_update_opts), flags: 4 /* BPF_F_REPLACE */, old_prog_fd: expectedOld.fd };
  check(C.bpf_link_update(link.fd, program.fd, o) as number, 'bpf_link_update(tcx)', { link: pinPath });
}

/** Detaches the pinned TCX link and removes its pin (false when there was none). */
export function detachTcx(pinPath: string): boolean {
  let link: BpfLink;
  try {
    link = BpfLink.openPinned(pinPath);
  } catch {
    return false;
  }
  try {
    link.detach();
  } finally {
    link.close();
  }
  unpin(pinPath);
  return true;
}
