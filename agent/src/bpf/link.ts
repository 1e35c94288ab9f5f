/**
 * BPF links: attachments owned by a kernel object. An unpinned link detaches when its last fd
 * closes (so when the process exits); a pinned link stays until it is unpinned.
 * Probe attach (kprobe, kretprobe, tracepoint, uprobe, uretprobe) and XDP links live here.
 */
import { C, bpf_kprobe_opts, linkInfoType as bpf_link_info, bpf_uprobe_opts, koffi, lastErrno, type Ptr } from './ffi.ts';
import { BpfError, check } from './errors.ts';
import { captureLibbpfLog } from './log.ts';
import { pinObject } from './pin.ts';
import { ifindex } from './netif.ts';
import { platform } from './platform.ts';
import type { BpfProgram } from './program.ts';

const LINK_TYPES = platform.name === 'windows'
  ? ['unspec', 'plain', 'cgroup', 'xdp'] // eBPF-for-Windows' enum bpf_link_type
  : ['unspec', 'raw_tracepoint', 'tracing', 'cgroup', 'iter', 'netns', 'xdp', 'perf_event', 'kprobe_multi', 'struct_ops', 'netfilter', 'tcx', 'uprobe_multi', 'netkit'];

export interface LinkInfo {
  readonly id: number;
  readonly type: string;
  readonly progId: number;
}

export class BpfLink implements Disposable {
  #handle: Ptr | null;
  /** What the link attaches, for messages. */
  readonly description: string;

  /** @internal */
  constructor(handle: Ptr, description: string) {
    this.#handle = handle;
    this.description = description;
  }

  /** Opens a pinned link. */
  static openPinned(path: string): BpfLink {
    const h = C.bpf_link__open(path) as Ptr | null;
    if (!h) throw new BpfError({ op: 'bpf_link__open', subject: { link: path }, errno: lastErrno() || 2 });
    return new BpfLink(h, path);
  }

  #h(): Ptr {
    if (!this.#handle) throw new BpfError({ op: 'bpf_link', subject: { link: this.description }, errno: 9, hint: 'link is closed' });
    return this.#handle;
  }

  get fd(): number {
    return C.bpf_link__fd(this.#h()) as number;
  }

  info(): LinkInfo {
    const info: Record<string, unknown> = {};
    const len = new Uint32Array([koffi.sizeof(bpf_link_info)]);
    check(C.bpf_obj_get_info_by_fd_link(this.fd, info, len) as number, 'bpf_obj_get_info_by_fd', { link: this.description });
    return { id: info.id as number, type: LINK_TYPES[info.type as number] ?? `type_${info.type}`, progId: info.prog_id as number };
  }

  /** Pins the link so the attachment outlives this process. */
  pin(path: string): void {
    pinObject(this.fd, path, { link: this.description });
  }

  /** Detaches the attachment now, pinned or not. */
  detach(): void {
    check(C.bpf_link__detach(this.#h()) as number, 'bpf_link__detach', { link: this.description });
  }

  /** Releases this handle; the attachment remains only if the link is pinned. */
  close(): void {
    if (!this.#handle) return;
    C.bpf_link__destroy(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function attach(op: string, subject: Record<string, string | number>, call: () => Ptr | null): BpfLink {
  const { result, error, log } = captureLibbpfLog(call);
  if (error) throw error;
  if (!result) {
    const errno = lastErrno() || 22;
    const hint = log.trim().split('\n').filter(Boolean).at(-1)?.replace(/^libbpf: /, '');
    throw new BpfError({ op, subject, errno, ...(hint ? { hint } : {}) });
  }
  return new BpfLink(result, Object.values(subject).join(':'));
}

/** Attaches an XDP program through a bpf_link (detached when the link's last reference goes). */
export function attachXdpLink(program: BpfProgram, iface: string | number): BpfLink {
  const idx = ifindex(iface);
  return attach('bpf_program__attach_xdp', { program: program.name, interface: iface }, () => C.bpf_program__attach_xdp(program.handle, idx) as Ptr | null);
}

/** Attaches to tracepoint `category:name` (tracefs must be mounted). */
export function attachTracepoint(program: BpfProgram, category: string, name: string): BpfLink {
  return attach('bpf_program__attach_tracepoint', { program: program.name, tracepoint: `${category}/${name}` },
    () => C.bpf_program__attach_tracepoint(program.handle, category, name) as Ptr | null);
}

/** Attaches to kernel function `fn` (entry, or return with `retprobe`). Needs CONFIG_KPROBES. */
export function attachKprobe(program: BpfProgram, fn: string, opts: { retprobe?: boolean; offset?: number } = {}): BpfLink {
  const o = { sz: koffi.sizeof(bpf_kprobe_opts), bpf_cookie: 0, offset: opts.offset ?? 0, retprobe: opts.retprobe ?? false };
  return attach('bpf_program__attach_kprobe_opts', { program: program.name, [opts.retprobe ? 'kretprobe' : 'kprobe']: fn },
    () => C.bpf_program__attach_kprobe_opts(program.handle, fn, o) as Ptr | null);
}

export interface UprobeTarget {
  /** Path of the binary or library. */
  readonly binary: string;
  /** Function symbol to probe (resolved by libbpf), or... */
  readonly symbol?: string;
  /** ...an offset in the file. */
  readonly offset?: number;
  /** Only this process (default: every process). */
  readonly pid?: number;
  readonly retprobe?: boolean;
}

/** Attaches to a user-space function (uprobe or uretprobe). */
export function attachUprobe(program: BpfProgram, t: UprobeTarget): BpfLink {
  if (!t.symbol && t.offset === undefined) throw new BpfError({ op: 'attach uprobe', subject: { program: program.name }, errno: 22, hint: 'give a symbol or an offset' });
  const o = { sz: koffi.sizeof(bpf_uprobe_opts), ref_ctr_offset: 0, bpf_cookie: 0, retprobe: t.retprobe ?? false, func_name: t.symbol ?? null };
  return attach('bpf_program__attach_uprobe_opts',
    { program: program.name, [t.retprobe ? 'uretprobe' : 'uprobe']: `${t.binary}:${t.symbol ?? t.offset}` },
    () => C.bpf_program__attach_uprobe_opts(program.handle, t.pid ?? -1, t.binary, t.offset ?? 0, o) as Ptr | null);
}

/** Where a probe program attaches, as its ELF section says (l3afd's convention). */
export type ProbeTarget =
  | { readonly kind: 'kprobe' | 'kretprobe'; readonly fn: string }
  | { readonly kind: 'tracepoint'; readonly category: string; readonly name: string }
  | { readonly kind: 'uprobe' | 'uretprobe'; readonly binary: string; readonly symbol: string };

/**
 * Parses a probe section name: `kprobe/<fn>`, `kretprobe/<fn>`, `tracepoint/<cat>/<name>` (also
 * `tp/`), `uprobe/<path>:<symbol>`, `uretprobe/<path>:<symbol>`. Undefined if not a probe section.
 */
export function parseProbeSection(section: string): ProbeTarget | undefined {
  const slash = section.indexOf('/');
  if (slash < 0) return undefined;
  const kind = section.slice(0, slash);
  const rest = section.slice(slash + 1);
  if (!rest) return undefined;
  switch (kind) {
    case 'kprobe':
    case 'kretprobe':
      return /^[A-Za-z0-9_.]+$/.test(rest) ? { kind, fn: rest } : undefined;
    case 'tracepoint':
    case 'tp': {
      const [category, name, ...more] = rest.split('/');
      return category && name && more.length === 0 ? { kind: 'tracepoint', category, name } : undefined;
    }
    case 'uprobe':
    case 'uretprobe': {
      const colon = rest.lastIndexOf(':');
      if (colon <= 0 || colon === rest.length - 1) return undefined;
      return { kind, binary: rest.slice(0, colon), symbol: rest.slice(colon + 1) };
    }
    default:
      return undefined;
  }
}

/** Attaches a probe program where `target` says. */
export function attachProbe(program: BpfProgram, target: ProbeTarget): BpfLink {
  switch (target.kind) {
    case 'kprobe':
    case 'kretprobe':
      return attachKprobe(program, target.fn, { retprobe: target.kind === 'kretprobe' });
    case 'tracepoint':
      return attachTracepoint(program, target.category, target.name);
    case 'uprobe':
    case 'uretprobe':
      return attachUprobe(program, { binary: target.binary, symbol: target.symbol, retprobe: target.kind === 'uretprobe' });
  }
}
