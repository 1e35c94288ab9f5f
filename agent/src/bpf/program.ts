/**
 * BPF programs: identity, kernel info and run statistics, pins, and BPF_PROG_TEST_RUN.
 * Attaching lives in the files named after each hook (xdp.ts, tc.ts, link.ts).
 */
import { C, closeFd, progInfoType as bpf_prog_info, bpf_test_run_opts, koffi, type Ptr } from './ffi.ts';
import { BpfError, check } from './errors.ts';
import { programTypeName, type ProgramType } from './platform.ts';
import { openPinned, pinObject } from './pin.ts';

export interface ProgramInfo {
  readonly id: number;
  readonly name: string;
  /** The program's tag (hash of its instructions), hex. */
  readonly tag: string;
  readonly type: ProgramType | `type_${number}`;
  /** Nanoseconds since boot when the program was loaded. */
  readonly loadTimeNs: bigint;
  /** Times the program ran and nanoseconds it ran in total: counted while kernel stats are enabled. */
  readonly runCount: bigint;
  readonly runTimeNs: bigint;
  readonly recursionMisses: bigint;
  readonly verifiedInstructions: number;
  readonly xlatedBytes: number;
  readonly jitedBytes: number;
  /** Ids of the maps the program uses. */
  readonly mapIds: number[];
  readonly btfId: number;
  readonly gplCompatible: boolean;
}

/** Reads the kernel's description of a program fd, including the ids of its maps. */
export function programInfoByFd(fd: number): ProgramInfo {
  const len = new Uint32Array([koffi.sizeof(bpf_prog_info)]);
  const first: Record<string, unknown> = {};
  check(C.bpf_obj_get_info_by_fd_prog(fd, first, len) as number, 'bpf_obj_get_info_by_fd', { fd });
  const nrMaps = first.nr_map_ids as number;
  let info = first;
  const ids = new Uint32Array(nrMaps);
  if (nrMaps > 0) {
    info = { nr_map_ids: nrMaps, map_ids: ids };
    len[0] = koffi.sizeof(bpf_prog_info);
    check(C.bpf_obj_get_info_by_fd_prog(fd, info, len) as number, 'bpf_obj_get_info_by_fd', { fd });
  }
  // eBPF-for-Windows' bpf_prog_info has no tag, times, counters, sizes or BTF id: those read as 0
  const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
  const big = (v: unknown): bigint => (typeof v === 'bigint' || typeof v === 'number' ? BigInt(v) : 0n);
  const tag = info.tag === undefined ? '' : Buffer.from(info.tag as number[]).toString('hex');
  return {
    id: info.id as number,
    name: info.name as string,
    tag,
    type: programTypeName(info.type as number),
    loadTimeNs: big(info.load_time),
    runCount: big(info.run_cnt),
    runTimeNs: big(info.run_time_ns),
    recursionMisses: big(info.recursion_misses),
    verifiedInstructions: n(info.verified_insns),
    xlatedBytes: n(info.xlated_prog_len),
    jitedBytes: n(info.jited_prog_len),
    mapIds: [...ids],
    btfId: n(info.btf_id),
    gplCompatible: (n(info.bits0) & 1) === 1,
  };
}

export interface TestRunOptions {
  /** The packet (or input) handed to the program. */
  readonly data: Buffer;
  /** Times to run it; the reported duration is the mean per run. Default 1. */
  readonly repeat?: number;
  /** Room for the output packet; default data length + 256. */
  readonly dataOutSize?: number;
  /** Context in (e.g. struct xdp_md / __sk_buff fields), optional. */
  readonly ctx?: Buffer;
}

export interface TestRunResult {
  /** The program's return value (an XDP verdict, a TC action, ...). */
  readonly retval: number;
  /** Mean nanoseconds per run, as the kernel measured it. */
  readonly durationNs: number;
  /** The packet after the program ran. */
  readonly dataOut: Buffer;
}

/** Ids of every program loaded in the kernel. */
export function programIds(): number[] {
  const out: number[] = [];
  const next = new Uint32Array(1);
  let start = 0;
  for (;;) {
    const ret = C.bpf_prog_get_next_id(start, next) as number;
    if (ret === -2) return out;
    check(ret, 'bpf_prog_get_next_id');
    start = next[0] ?? 0;
    out.push(start);
  }
}

export class BpfProgram implements Disposable {
  readonly name: string;
  /** ELF section (empty for programs opened from a pin or id). */
  readonly section: string;
  #fd: number;
  readonly #owned: boolean;
  /** libbpf's bpf_program handle, for attach calls; only programs of a loaded object have one. */
  readonly #handle: Ptr | undefined;
  #type: ProgramType | `type_${number}`;

  /** @internal use BpfObject.program(), {@link BpfProgram.openPinned} or {@link BpfProgram.fromId}. */
  constructor(init: { fd: number; owned: boolean; name: string; section?: string; handle?: Ptr; type: ProgramType | `type_${number}` }) {
    this.#fd = init.fd;
    this.#owned = init.owned;
    this.name = init.name;
    this.section = init.section ?? '';
    this.#handle = init.handle;
    this.#type = init.type;
  }

  static #fromFd(fd: number): BpfProgram {
    try {
      const info = programInfoByFd(fd);
      return new BpfProgram({ fd, owned: true, name: info.name, type: info.type });
    } catch (err) {
      closeFd(fd);
      throw err;
    }
  }

  /** Opens a pinned program; the result owns its fd. */
  static openPinned(path: string): BpfProgram {
    return BpfProgram.#fromFd(openPinned(path, 'program'));
  }

  /** Opens a loaded program by kernel id; the result owns its fd. */
  static fromId(id: number): BpfProgram {
    return BpfProgram.#fromFd(check(C.bpf_prog_get_fd_by_id(id) as number, 'bpf_prog_get_fd_by_id', { id }));
  }

  get fd(): number {
    if (this.#fd < 0) throw new BpfError({ op: 'program fd', subject: { program: this.name }, errno: 9, hint: 'program is closed or not loaded' });
    return this.#fd;
  }

  get type(): ProgramType | `type_${number}` {
    return this.#type;
  }

  /** @internal libbpf's handle, for the attach modules. */
  get handle(): Ptr {
    if (this.#handle === undefined) {
      throw new BpfError({ op: 'attach', subject: { program: this.name }, errno: 22, hint: 'only programs of a loaded BpfObject can be attached this way' });
    }
    return this.#handle;
  }

  /** The kernel's description of the program, with run statistics. */
  info(): ProgramInfo {
    return programInfoByFd(this.fd);
  }

  /** The program's kernel id. */
  get id(): number {
    return this.info().id;
  }

  /** Pins the program at `path`. */
  pin(path: string): void {
    pinObject(this.fd, path, { program: this.name });
  }

  /** Runs the program on `data` in the kernel (BPF_PROG_TEST_RUN). */
  testRun(opts: TestRunOptions): TestRunResult {
    const out = Buffer.alloc(opts.dataOutSize ?? opts.data.length + 256);
    const o: Record<string, unknown> = {
      sz: koffi.sizeof(bpf_test_run_opts),
      data_in: opts.data,
      data_size_in: opts.data.length,
      data_out: out,
      data_size_out: out.length,
      repeat: opts.repeat ?? 1,
    };
    if (opts.ctx) {
      o.ctx_in = opts.ctx;
      o.ctx_size_in = opts.ctx.length;
    }
    check(C.bpf_prog_test_run_opts(this.fd, o) as number, 'bpf_prog_test_run_opts', { program: this.name });
    return {
      retval: o.retval as number,
      durationNs: o.duration as number,
      dataOut: out.subarray(0, Math.min(o.data_size_out as number, out.length)),
    };
  }

  /** Closes the fd if this program owns it (programs of an object close with the object). */
  close(): void {
    if (this.#owned && this.#fd >= 0) closeFd(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
