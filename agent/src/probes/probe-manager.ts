/**
 * Probe programs: the payloads' global `probes` list, and the non-network programs of an XDP/TC
 * package's object (l3afd attaches those beside the network program).
 *
 * Every attachment is a BPF link pinned at `<pinRoot>/probes/<name>/<version>/links/<program>`
 * (maps with plain names at `.../maps/<map>`), so it outlives the agent, and a restarted agent
 * adopts it ({@link ProbeManager.adopt}) instead of attaching a second time. A state file keeps
 * each set's fingerprint (object sha256 + targets): applying the same set again changes nothing
 * (l3afd duplicates it). A set is attached into `<version>~staged` and renamed into place only
 * when every program attached, so a failure (e.g. a kprobe on a kernel without kprobes) leaves
 * the previous set as it was. Removal detaches and unpins.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { writeFileAtomicSync } from '../store/atomic-file.ts';
import { dirname, join } from 'node:path';
import {
  BpfError, BpfLink, BpfObject, Tracefs, attachKprobe, attachTracepoint, attachUprobe, unpinTree, type BpfProgram,
} from '../bpf/index.ts';
import { describeTarget, kprobeOptions, planProbes, uprobeOptions, type ExplicitProbe, type ProbePlan } from './probe-target.ts';
import { messageOf } from '../error-message.ts';

/** A probe set to attach: a package's object (the `probes` list) or an object someone else loaded. */
export interface ProbeSetSpec {
  /** Package name (the set's identity). */
  readonly name: string;
  readonly version: string;
  /** ELF object to open and load (absolute). */
  readonly objectPath: string;
  /** Explicit targets (proposed `probe` payload field); sections are used otherwise. */
  readonly probes?: readonly ExplicitProbe[];
}

/** One live attachment. */
export interface ProbeLinkStatus {
  readonly program: string;
  /** e.g. `tracepoint/syscalls/sys_enter_getppid`; 'unknown' for an adopted link without a state record. */
  readonly target: string;
  readonly linkId: number;
  readonly progId: number;
  readonly pin: string;
}

/** A probe set as it is. */
export interface ProbeSetStatus {
  readonly name: string;
  readonly version: string;
  readonly links: ProbeLinkStatus[];
  /** Adopted from pins by this manager (not attached by it). */
  readonly adopted: boolean;
}

/** What one operation did to a set. */
export interface ProbeResult {
  readonly name: string;
  readonly outcome: 'added' | 'updated' | 'unchanged' | 'removed' | 'failed';
  readonly reason?: string;
  readonly status?: ProbeSetStatus;
}

/** Options of {@link ProbeManager}. */
export interface ProbeManagerOptions {
  /** bpffs folder (mounted) under which `probes/` is kept. */
  readonly pinRoot: string;
  /** JSON file with each set's fingerprint and targets (written atomically). */
  readonly stateFile: string;
}

interface SetRecord {
  version: string;
  fingerprint: string;
  targets: Record<string, string>;
}

interface LiveSet {
  version: string;
  fingerprint: string | null;
  adopted: boolean;
  links: Map<string, { link: BpfLink; target: string; pin: string }>;
}

const SEGMENT = /^[A-Za-z0-9_-]{1,128}$/;
const STAGED = '~staged';

function segment(what: string, s: string): string {
  if (!SEGMENT.test(s)) throw new ProbeError(`${what} '${s}' cannot be a pin path segment (letters, digits, '_', '-')`);
  return s;
}

/** Version as a pin segment (dots → underscores, as l3afd). */
export function probeVersionSegment(version: string): string {
  return segment('version', version.replace(/\./g, '_'));
}

/** A probe operation that failed; `cause` keeps the kernel layer's error. */
export class ProbeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProbeError';
  }
}

/** Whether this kernel can attach kprobes (the perf `kprobe` PMU exists only with CONFIG_KPROBES). */
export function kprobesAvailable(): boolean {
  return existsSync('/sys/bus/event_source/devices/kprobe');
}

/** Turns a kernel-layer attach failure into a message that names what is missing. */
export function explainAttachError(plan: ProbePlan, err: unknown): ProbeError {
  const target = describeTarget(plan.target, plan.offset);
  const base = `attaching program '${plan.program}' to ${target} failed`;
  if (!(err instanceof BpfError)) return new ProbeError(`${base}: ${messageOf(err)}`, { cause: err });
  const k = plan.target.kind;
  let why = err.message;
  if ((k === 'kprobe' || k === 'kretprobe') && err.code === 'ENOENT') {
    why = kprobesAvailable()
      ? `kernel function '${plan.target.kind === 'kprobe' || plan.target.kind === 'kretprobe' ? plan.target.fn : ''}' is not found or not traceable (ENOENT)`
      : 'this kernel has no kprobe support (CONFIG_KPROBES is off: /sys/bus/event_source/devices/kprobe is missing), ENOENT';
  } else if (k === 'tracepoint' && err.code === 'ENOENT') {
    why = `no such tracepoint (or tracefs is not mounted at ${Tracefs.path}), ENOENT`;
  } else if ((k === 'uprobe' || k === 'uretprobe') && err.code === 'ENOENT') {
    why = `binary or symbol not found (${err.message})`;
  }
  return new ProbeError(`${base}: ${why}`, { cause: err });
}

/** Attaches one plan through the kernel layer. */
export function attachPlan(program: BpfProgram, plan: ProbePlan): BpfLink {
  try {
    switch (plan.target.kind) {
      case 'kprobe':
      case 'kretprobe': {
        const o = kprobeOptions(plan);
        return attachKprobe(program, o.fn, { retprobe: o.retprobe, offset: o.offset });
      }
      case 'tracepoint':
        Tracefs.ensure();
        return attachTracepoint(program, plan.target.category, plan.target.name);
      case 'uprobe':
      case 'uretprobe':
        return attachUprobe(program, uprobeOptions(plan));
    }
  } catch (err) {
    throw explainAttachError(plan, err);
  }
}

function fingerprintOf(objectPath: string, targets: Record<string, string>): string {
  const h = createHash('sha256');
  h.update(readFileSync(objectPath));
  h.update(JSON.stringify(Object.entries(targets).sort()));
  return h.digest('hex');
}

/** Manages probe sets: attach (idempotent), adopt after a restart, remove. */
export class ProbeManager {
  readonly #pinRoot: string;
  readonly #stateFile: string;
  readonly #sets = new Map<string, LiveSet>();

  constructor(opts: ProbeManagerOptions) {
    this.#pinRoot = opts.pinRoot;
    this.#stateFile = opts.stateFile;
    mkdirSync(dirname(this.#stateFile), { recursive: true });
  }

  /** `<pinRoot>/probes/<name>/<version>` */
  dirOf(name: string, version: string): string {
    return join(this.#pinRoot, 'probes', segment('probe name', name), probeVersionSegment(version));
  }

  // ------------------------------------------------------------ state file

  #readState(): Record<string, SetRecord> {
    try {
      const doc = JSON.parse(readFileSync(this.#stateFile, 'utf8')) as { version?: number; sets?: Record<string, SetRecord> };
      if (doc.version !== 1 || typeof doc.sets !== 'object' || doc.sets === null) throw new ProbeError(`${this.#stateFile} is not a version 1 probe state`);
      return doc.sets;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
  }

  #writeState(): void {
    const sets: Record<string, SetRecord> = {};
    for (const [name, s] of this.#sets) {
      if (s.fingerprint === null) continue;
      sets[name] = { version: s.version, fingerprint: s.fingerprint, targets: Object.fromEntries([...s.links].map(([p, l]) => [p, l.target])) };
    }
    writeFileAtomicSync(this.#stateFile, `${JSON.stringify({ version: 1, sets }, null, 2)}\n`);
  }

  // ------------------------------------------------------------ adopt

  /**
   * Opens every pinned probe link under `<pinRoot>/probes` (nothing is attached): the sets a
   * previous agent left are supervised again. Leftover staged folders are removed (their
   * links detach). Returns the adopted sets.
   */
  adopt(): ProbeSetStatus[] {
    const root = join(this.#pinRoot, 'probes');
    if (!existsSync(root)) return [];
    const state = this.#readState();
    const out: ProbeSetStatus[] = [];
    for (const name of readdirSync(root)) {
      if (this.#sets.has(name)) continue;
      for (const ver of readdirSync(join(root, name))) {
        const dir = join(root, name, ver);
        if (ver.endsWith(STAGED)) {
          unpinTree(dir);
          continue;
        }
        const rec = state[name];
        const set: LiveSet = { version: rec && probeVersionSegment(rec.version) === ver ? rec.version : ver, fingerprint: rec && probeVersionSegment(rec.version) === ver ? rec.fingerprint : null, adopted: true, links: new Map() };
        const linksDir = join(dir, 'links');
        for (const prog of existsSync(linksDir) ? readdirSync(linksDir) : []) {
          const pin = join(linksDir, prog);
          set.links.set(prog, { link: BpfLink.openPinned(pin), target: rec?.targets[prog] ?? 'unknown', pin });
        }
        if (this.#sets.has(name)) {
          // two versions pinned (a crash between attach and cleanup): keep the recorded one
          if (rec && probeVersionSegment(rec.version) === ver) {
            this.#dropSet(name);
          } else {
            for (const l of set.links.values()) l.link.close();
            unpinTree(dir);
            continue;
          }
        }
        this.#sets.set(name, set);
      }
      const s = this.#status(name);
      if (s) out.push(s);
    }
    this.#writeState();
    return out;
  }

  // ------------------------------------------------------------ apply

  /**
   * Attaches the set (loading its object), or leaves it as it is when the same object and
   * targets are already attached. A changed set is attached anew and then replaces the old one;
   * if any program fails to attach, nothing changes and the error says why.
   */
  apply(spec: ProbeSetSpec): ProbeResult {
    const current = this.#sets.get(spec.name);
    let obj: BpfObject | undefined;
    try {
      obj = BpfObject.open(spec.objectPath);
      obj.load();
      const { plans } = planProbes(obj.programs().map((p) => ({ name: p.name, section: p.section, type: p.type })), spec.probes ?? []);
      if (plans.length === 0) throw new ProbeError(`object ${spec.objectPath} has no probe program`);
      const targets = Object.fromEntries(plans.map((p) => [p.program, describeTarget(p.target, p.offset)]));
      const fingerprint = fingerprintOf(spec.objectPath, targets);
      if (current && current.version === spec.version && current.fingerprint === fingerprint && [...current.links.values()].every((l) => existsSync(l.pin))) {
        return { name: spec.name, outcome: 'unchanged', status: this.#status(spec.name) as ProbeSetStatus };
      }
      this.#attachSet(spec.name, spec.version, obj, plans, fingerprint);
      return { name: spec.name, outcome: current ? 'updated' : 'added', ...(current ? { reason: current.version !== spec.version ? `version ${current.version} → ${spec.version}` : 'object or targets changed' } : {}), status: this.#status(spec.name) as ProbeSetStatus };
    } catch (err) {
      return { name: spec.name, outcome: 'failed', reason: messageOf(err), ...(current ? { status: this.#status(spec.name) as ProbeSetStatus } : {}) };
    } finally {
      obj?.close(); // pinned links keep the programs; pinned maps keep the maps
    }
  }

  /**
   * Attaches the non-network programs of an object another component loaded (an XDP/TC
   * package): l3afd's auto-attach. `owner` names the set (e.g. `<iface>-<name>`). Throws on failure
   * (nothing stays attached). Remove it with {@link remove} when the package goes.
   */
  attachObjectProbes(owner: string, version: string, obj: BpfObject, probes: readonly ExplicitProbe[] = []): ProbeResult {
    const { plans } = planProbes(obj.programs().map((p) => ({ name: p.name, section: p.section, type: p.type })), probes);
    if (plans.length === 0) return { name: owner, outcome: 'unchanged', reason: 'no probe program in the object' };
    const targets = Object.fromEntries(plans.map((p) => [p.program, describeTarget(p.target, p.offset)]));
    const current = this.#sets.get(owner);
    const fingerprint = fingerprintOf(obj.path, targets);
    if (current && current.version === version && current.fingerprint === fingerprint && [...current.links.values()].every((l) => existsSync(l.pin))) {
      return { name: owner, outcome: 'unchanged', status: this.#status(owner) as ProbeSetStatus };
    }
    this.#attachSet(owner, version, obj, plans, fingerprint, false);
    return { name: owner, outcome: current ? 'updated' : 'added', status: this.#status(owner) as ProbeSetStatus };
  }

  #attachSet(name: string, version: string, obj: BpfObject, plans: readonly ProbePlan[], fingerprint: string, pinMaps = true): void {
    const final = this.dirOf(name, version);
    const staged = `${final}${STAGED}`;
    unpinTree(staged);
    const links = new Map<string, { link: BpfLink; target: string; pin: string }>();
    try {
      for (const plan of plans) {
        const link = attachPlan(obj.program(plan.program), plan);
        const pin = join(staged, 'links', segment('program name', plan.program));
        links.set(plan.program, { link, target: describeTarget(plan.target, plan.offset), pin });
        link.pin(pin);
      }
      if (pinMaps) {
        for (const m of obj.maps()) if (SEGMENT.test(m.name)) m.pin(join(staged, 'maps', m.name));
      }
    } catch (err) {
      for (const l of links.values()) {
        try {
          l.link.detach();
        } catch {
          // not attached
        }
        l.link.close();
      }
      unpinTree(staged, this.#pinRoot);
      throw err;
    }
    // the new set is attached: drop the old one, then move the new one into place
    if (this.#sets.has(name)) this.#dropSet(name);
    unpinTree(final);
    mkdirSync(dirname(final), { recursive: true });
    renameSync(staged, final);
    for (const l of links.values()) l.pin = l.pin.replace(staged, final);
    this.#sets.set(name, { version, fingerprint, adopted: false, links });
    this.#writeState();
  }

  /** Detaches and unpins a set (and its maps); false when there was none. */
  #dropSet(name: string): boolean {
    const set = this.#sets.get(name);
    if (!set) return false;
    for (const l of set.links.values()) {
      try {
        l.link.detach();
      } catch {
        // already detached
      }
      l.link.close();
    }
    unpinTree(this.dirOf(name, set.version), this.#pinRoot);
    this.#sets.delete(name);
    return true;
  }

  /** Removes a probe set: detached, unpinned, forgotten. */
  remove(name: string): ProbeResult {
    const had = this.#dropSet(name);
    this.#writeState();
    return had ? { name, outcome: 'removed' } : { name, outcome: 'unchanged', reason: 'not present' };
  }

  #status(name: string): ProbeSetStatus | undefined {
    const s = this.#sets.get(name);
    if (!s) return undefined;
    const links = [...s.links].map(([program, l]) => {
      const info = l.link.info();
      return { program, target: l.target, linkId: info.id, progId: info.progId, pin: l.pin };
    });
    return { name, version: s.version, links, adopted: s.adopted };
  }

  /** Status of one set. */
  status(name: string): ProbeSetStatus | undefined {
    return this.#status(name);
  }

  /** Every set. */
  list(): ProbeSetStatus[] {
    return [...this.#sets.keys()].map((n) => this.#status(n) as ProbeSetStatus);
  }

  /** Pin folder of a set's maps (for monitors), undefined when the set is unknown. */
  mapDir(name: string): string | undefined {
    const s = this.#sets.get(name);
    return s ? join(this.dirOf(name, s.version), 'maps') : undefined;
  }

  /** Closes the handles; the pinned links stay attached (for the next agent to adopt). */
  close(): void {
    for (const s of this.#sets.values()) for (const l of s.links.values()) l.link.close();
    this.#sets.clear();
  }
}
