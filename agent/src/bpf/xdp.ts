/**
 * XDP attach through netlink (bpf_xdp_attach): the attachment survives the process, which is
 * what a daemon that restarts without touching the data plane needs. A replace can be made
 * conditional on the program that is expected to be there, so two writers never clobber
 * each other.
 */
import { C, bpf_xdp_attach_opts, bpf_xdp_query_opts, koffi } from './ffi.ts';
import { BpfError, check } from './errors.ts';
import { platform } from './platform.ts';
import { ifindex } from './netif.ts';

/** `skb` = generic XDP (any driver), `drv` = native (driver support needed). */
export type XdpMode = 'skb' | 'drv';

export interface XdpAttachOptions {
  /** Interface name or index. */
  readonly iface: string | number;
  readonly program: { readonly fd: number };
  /** Default `drv`. */
  readonly mode?: XdpMode;
  /**
   * Undefined: attach, replacing whatever is there. `null`: only if nothing is attached.
   * A program: only if that program is the one attached (atomic replace).
   */
  readonly expectedOld?: { readonly fd: number } | null;
}

export interface XdpState {
  /** What the kernel reports as attached. */
  readonly attached: 'none' | 'drv' | 'skb' | 'hw' | 'multi';
  /** The id of the attached program (0 when none). */
  readonly progId: number;
  readonly drvProgId: number;
  readonly skbProgId: number;
  readonly hwProgId: number;
}

const ATTACH_MODES: XdpState['attached'][] = ['none', 'drv', 'skb', 'hw', 'multi'];

function modeFlag(mode: XdpMode): number {
  return mode === 'skb' ? platform.xdpFlags.skbMode : platform.xdpFlags.drvMode;
}

/** Attaches `program` to the interface's XDP hook. */
export function attachXdp(opts: XdpAttachOptions): void {
  const idx = ifindex(opts.iface);
  const mode = opts.mode ?? 'drv';
  let flags = modeFlag(mode);
  let attachOpts: Record<string, unknown> | null = null;
  if (opts.expectedOld === null) flags |= platform.xdpFlags.updateIfNoExist;
  else if (opts.expectedOld) {
    flags |= platform.xdpFlags.replace;
    attachOpts = { sz: koffi.sizeof(bpf_xdp_attach_opts), old_prog_fd: opts.expectedOld.fd };
  }
  const ret = C.bpf_xdp_attach(idx, opts.program.fd, flags, attachOpts) as number;
  if (ret < 0) {
    const hint = ret === -16 ? 'another program is attached (or a bpf_link holds the hook)'
      : ret === -17 ? (opts.expectedOld ? 'the attached program is not the expected one' : 'a program is attached in the other XDP mode')
        : undefined;
    throw new BpfError({ op: 'bpf_xdp_attach', subject: { interface: opts.iface, mode }, errno: -ret, ...(hint ? { hint } : {}) });
  }
}

/** What is attached to the interface's XDP hook. */
export function queryXdp(iface: string | number): XdpState {
  const o: Record<string, unknown> = { sz: koffi.sizeof(bpf_xdp_query_opts) };
  check(C.bpf_xdp_query(ifindex(iface), 0, o) as number, 'bpf_xdp_query', { interface: iface });
  return {
    attached: ATTACH_MODES[o.attach_mode as number] ?? 'multi',
    progId: o.prog_id as number,
    drvProgId: o.drv_prog_id as number,
    skbProgId: o.skb_prog_id as number,
    hwProgId: o.hw_prog_id as number,
  };
}

export interface XdpDetachOptions {
  readonly iface: string | number;
  /** The mode it was attached in; default: whatever the kernel reports. */
  readonly mode?: XdpMode;
  /** Only detach if this program is the one attached. */
  readonly expectedOld?: { readonly fd: number };
}

/** Detaches the interface's XDP program; false when nothing was attached. */
export function detachXdp(opts: XdpDetachOptions): boolean {
  const state = queryXdp(opts.iface);
  if (state.attached === 'none') return false;
  const mode = opts.mode ?? (state.attached === 'skb' ? 'skb' : 'drv');
  let flags = modeFlag(mode);
  let detachOpts: Record<string, unknown> | null = null;
  if (opts.expectedOld) {
    flags |= platform.xdpFlags.replace;
    detachOpts = { sz: koffi.sizeof(bpf_xdp_attach_opts), old_prog_fd: opts.expectedOld.fd };
  }
  check(C.bpf_xdp_detach(ifindex(opts.iface), flags, detachOpts) as number, 'bpf_xdp_detach', { interface: opts.iface, mode });
  return true;
}
