/**
 * BPF objects: an ELF file opened, loaded into the kernel and closed — libbpf's bpf_object.
 * Programs and maps are looked up by name once the object is loaded.
 */
import { C, lastErrno, withSigprofBlocked, type Ptr } from './ffi.ts';
import { BpfError, check } from './errors.ts';
import { captureLibbpfLog } from './log.ts';
import { programTypeName, programTypeValue, type ProgramType } from './platform.ts';
import { BpfProgram } from './program.ts';
import { BpfMap } from './map.ts';

export interface OpenOptions {
  /**
   * Program types by program (function) name, for sections libbpf does not recognise
   * (L3AF's packages use names such as `xdp_ratelimiting`). Programs whose type libbpf
   * cannot tell and that are not listed here are typed from their section prefix.
   */
  readonly programTypes?: Readonly<Record<string, ProgramType>>;
}

/** Section prefixes → program type, for sections libbpf's strict matching does not know. */
const SECTION_PREFIXES: ReadonlyArray<[RegExp, ProgramType]> = [
  [/^xdp/, 'xdp'],
  [/^(tc|classifier)/, 'sched_cls'],
  [/^action/, 'sched_act'],
  [/^(kprobe|kretprobe|uprobe|uretprobe)/, 'kprobe'],
  [/^(tracepoint|tp)\b/, 'tracepoint'],
  [/^socket/, 'socket_filter'],
];

/** The program type a section name implies, if any. */
export function programTypeForSection(section: string): ProgramType | undefined {
  return SECTION_PREFIXES.find(([re]) => re.test(section))?.[1];
}

interface ProgramEntry {
  readonly handle: Ptr;
  readonly name: string;
  readonly section: string;
}

export class BpfObject implements Disposable {
  readonly path: string;
  #handle: Ptr | null;
  #loaded = false;
  readonly #programEntries: ProgramEntry[] = [];
  readonly #mapHandles = new Map<string, Ptr>();
  readonly #programs = new Map<string, BpfProgram>();
  readonly #maps = new Map<string, BpfMap>();

  private constructor(path: string, handle: Ptr) {
    this.path = path;
    this.#handle = handle;
    for (let p = C.bpf_object__next_program(handle, null) as Ptr | null; p; p = C.bpf_object__next_program(handle, p) as Ptr | null) {
      this.#programEntries.push({ handle: p, name: C.bpf_program__name(p) as string, section: C.bpf_program__section_name(p) as string });
    }
    for (let m = C.bpf_object__next_map(handle, null) as Ptr | null; m; m = C.bpf_object__next_map(handle, m) as Ptr | null) {
      this.#mapHandles.set(C.bpf_map__name(m) as string, m);
    }
  }

  /** Opens an ELF object (nothing is loaded into the kernel yet). */
  static open(path: string, opts: OpenOptions = {}): BpfObject {
    const { result, error, log } = captureLibbpfLog(() => C.bpf_object__open_file(path, null) as Ptr | null);
    if (error) throw error;
    if (!result) {
      const errno = lastErrno() || 22;
      throw new BpfError({ op: 'bpf_object__open_file', subject: { object: path }, errno, hint: lastLine(log) });
    }
    const obj = new BpfObject(path, result);
    try {
      obj.#assignTypes(opts.programTypes ?? {});
    } catch (err) {
      obj.close();
      throw err;
    }
    return obj;
  }

  #assignTypes(types: Readonly<Record<string, ProgramType>>): void {
    for (const p of this.#programEntries) {
      const wanted = types[p.name] ?? (C.bpf_program__type(p.handle) === 0 ? programTypeForSection(p.section) : undefined);
      if (wanted === undefined) continue;
      check(C.bpf_program__set_type(p.handle, programTypeValue(wanted)) as number, 'bpf_program__set_type', { object: this.path, program: p.name });
    }
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /** Names of the object's programs (functions) and maps, known before loading. */
  get programNames(): string[] {
    return this.#programEntries.map((p) => p.name);
  }
  get mapNames(): string[] {
    return [...this.#mapHandles.keys()];
  }

  /** Each program's ELF section by program name, known before loading (e.g. to skip or keep probes). */
  get programSections(): ReadonlyMap<string, string> {
    return new Map(this.#programEntries.map((p) => [p.name, p.section]));
  }

  #requireOpen(): Ptr {
    if (!this.#handle) throw new BpfError({ op: 'bpf_object', subject: { object: this.path }, errno: 9, hint: 'object is closed' });
    return this.#handle;
  }

  /**
   * Before load: make map `name` use an existing map (e.g. one pinned by a previous run)
   * instead of creating a new one, so its state carries over.
   */
  reuseMap(name: string, existing: BpfMap): void {
    this.#requireOpen();
    const m = this.#mapHandles.get(name);
    if (!m) throw new BpfError({ op: 'bpf_map__reuse_fd', subject: { object: this.path, map: name }, errno: 2, hint: 'no such map in the object' });
    check(C.bpf_map__reuse_fd(m, existing.fd) as number, 'bpf_map__reuse_fd', { object: this.path, map: name });
  }

  /** Before load: do not load program `name` (e.g. a probe the caller attaches elsewhere). */
  skipProgram(name: string): void {
    const p = this.#programEntries.find((e) => e.name === name);
    if (!p) throw new BpfError({ op: 'bpf_program__set_autoload', subject: { object: this.path, program: name }, errno: 2 });
    check(C.bpf_program__set_autoload(p.handle, false) as number, 'bpf_program__set_autoload', { program: name });
  }

  /** Loads every program and creates every map. A verifier rejection carries the verifier's log. */
  load(): void {
    const handle = this.#requireOpen();
    if (this.#loaded) return;
    const { result, error, log } = captureLibbpfLog(() => withSigprofBlocked(() => C.bpf_object__load(handle) as number));
    if (error) throw error;
    if ((result ?? 0) < 0) {
      throw new BpfError({
        op: 'bpf_object__load',
        subject: { object: this.path },
        errno: -(result ?? 0),
        ...(verifierLog(log) ? { verifierLog: verifierLog(log) } : { hint: lastLine(log) }),
      });
    }
    this.#loaded = true;
    for (const p of this.#programEntries) {
      const fd = C.bpf_program__fd(p.handle) as number;
      if (fd < 0) continue; // autoload disabled
      const type = programTypeName(C.bpf_program__type(p.handle) as number);
      this.#programs.set(p.name, new BpfProgram({ fd, owned: false, name: p.name, section: p.section, handle: p.handle, type }));
    }
    for (const [name, m] of this.#mapHandles) {
      const fd = C.bpf_map__fd(m) as number;
      if (fd >= 0) this.#maps.set(name, new BpfMap(fd, false, name));
    }
  }

  #requireLoaded(what: string): void {
    this.#requireOpen();
    if (!this.#loaded) throw new BpfError({ op: what, subject: { object: this.path }, errno: 22, hint: 'load the object first' });
  }

  /** A loaded program by its function name. */
  program(name: string): BpfProgram {
    this.#requireLoaded('program');
    const p = this.#programs.get(name);
    if (!p) throw new BpfError({ op: 'find program', subject: { object: this.path, program: name }, errno: 2, hint: `the object has: ${[...this.#programs.keys()].join(', ')}` });
    return p;
  }

  /** A map by name. */
  map(name: string): BpfMap {
    this.#requireLoaded('map');
    const m = this.#maps.get(name);
    if (!m) throw new BpfError({ op: 'find map', subject: { object: this.path, map: name }, errno: 2, hint: `the object has: ${[...this.#maps.keys()].join(', ')}` });
    return m;
  }

  programs(): BpfProgram[] {
    this.#requireLoaded('programs');
    return [...this.#programs.values()];
  }

  maps(): BpfMap[] {
    this.#requireLoaded('maps');
    return [...this.#maps.values()];
  }

  /**
   * Closes the object: its fds close, so programs and maps without another reference (a pin,
   * an attachment, a prog array slot) are freed by the kernel.
   */
  close(): void {
    if (!this.#handle) return;
    for (const p of this.#programs.values()) p.close();
    for (const m of this.#maps.values()) m.close();
    C.bpf_object__close(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function verifierLog(log: string): string | undefined {
  const start = log.indexOf('BEGIN PROG LOAD LOG');
  if (start < 0) return undefined;
  const end = log.indexOf('END PROG LOAD LOG', start);
  const body = log.slice(log.indexOf('\n', start) + 1, end < 0 ? undefined : end);
  return body.replace(/^-- /gm, '').trim();
}

function lastLine(log: string): string | undefined {
  const lines = log.trim().split('\n').filter(Boolean);
  return lines.at(-1)?.replace(/^libbpf: /, '');
}
