/**
 * User-space companion of the ratelimiting XDP program, with the contract of L3AF's former
 * `ratelimiting_user` program (what a payload's `cmd_start` with `start_args: {ports, rate}` runs):
 *
 *   npx tsx programs/companion/ratelimiting.ts --iface=IF --rate=N --ports=80,8080
 *       --map-name=<pinned next-prog array of the previous program> [--direction=xdpingress]
 *       [--verbose=N] [--pin-dir=DIR] [--version=V] [--object=PATH]
 *
 * `--flag=value` and `--flag value` are both accepted. It loads ratelimiting.bpf.o, writes the rate
 * (rl_config_map[0]) and the ports (rl_ports_map), pins every map of the object under --pin-dir
 * (default: $L3AF_PIN_DIR, else `ratelimiting/<version>` beside the --map-name program's folder, i.e.
 * `<bpffs root>/<iface>/ratelimiting/<version>` as l3afd lays it out; version default `latest`), including its own
 * next-program array xdp_rl_ingress_next_prog for the program that follows it, then links itself
 * after the previous program by writing its program into slot 0 of the array pinned at --map-name.
 * It then prints `ready` on stdout and stays alive. On SIGTERM, SIGINT or SIGHUP it unlinks itself
 * (empties that slot only while it still holds this program), removes its pins and exits 0.
 *
 * On Linux it never attaches to the interface: like L3AF's, it only joins a chain that a root already
 * started, so --map-name is required. On Windows --map-name is optional: l3afd's Windows setups run
 * with `bpf-chaining-enabled: false`, so without it the program attaches itself to --iface's XDP hook
 * (eBPF-for-Windows' bpf_xdp_attach) and detaches on shutdown; pins are names there (`BPF:\…`), not files.
 * As a single executable (ratelimiting.exe, programs/windows.ts) its default --object is the
 * ratelimiting.bpf.o beside the executable.
 *
 * Exit codes: 0 after a clean shutdown, 2 for bad arguments or a missing interface / pin
 * (nothing was changed), 1 for a failure while loading, pinning or linking (what was done is undone).
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BpfMap, BpfObject, ProgArray, attachXdp, detachXdp, ifindex, platform, u16, u32, u64, u8, unpin } from '../../agent/src/bpf/index.ts';
import { joinPinName } from '../../agent/src/bpf/pin-name.ts';

/** The object beside this file when there is one (a packaged single executable), else the build's. */
const BESIDE_OBJECT = fileURLToPath(new URL('./ratelimiting.bpf.o', import.meta.url));
const DEFAULT_OBJECT = existsSync(BESIDE_OBJECT) ? BESIDE_OBJECT : fileURLToPath(new URL('../build/ratelimiting.bpf.o', import.meta.url));
const ENTRY = '_xdp_ratelimiting';
const NEXT_ARRAY = 'xdp_rl_ingress_next_prog';
const MAX_RATE = 0x7fffffff;
const MAX_PORTS = 64; // rl_ports_map's max_entries
const DIRECTIONS = ['xdpingress', 'ingress'];

const USAGE = `usage: ratelimiting --iface=IF --rate=N --ports=P1[,P2...] --map-name=PINNED_PREV_ARRAY
                    [--direction=xdpingress] [--verbose=0..5] [--pin-dir=DIR] [--version=V] [--object=PATH]
                    [--log-dir=DIR] [--rules-file=PATH (accepted, unused)]`;

/** A usage error: reported on stderr with exit code 2. */
class UsageError extends Error {}

/** The companion's validated settings. */
export interface CompanionOptions {
  readonly iface: string;
  readonly rate: number;
  readonly ports: readonly number[];
  /** The previous program's pinned array; undefined on Windows without --map-name (attach to --iface itself). */
  readonly mapName: string | undefined;
  readonly pinDir: string;
  readonly object: string;
  readonly verbose: number;
  /** l3afd's `--log-dir`: log lines also go to `<logDir>/ratelimiting.log`. */
  readonly logDir: string | undefined;
}

function parseInteger(flag: string, text: string, min: number, max: number): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new UsageError(`--${flag}: '${text}' is not a non-negative integer`);
  const n = Number(t);
  if (n < min || n > max) throw new UsageError(`--${flag}: ${n} is out of range ${min}..${max}`);
  return n;
}

/**
 * Where the maps are pinned without --pin-dir: `$L3AF_PIN_DIR` when the agent set it (the exact
 * folder it waits at), else next to the previous program's folder, as l3afd lays pins out under
 * its `BpfMapDefaultPath` (`<root>/<iface>/<program>/<version>/<map>`): the --map-name path with its
 * last three segments replaced by `ratelimiting/<version>`. So a non-default bpffs root is followed
 * without any option l3afd does not pass.
 */
export function pinDirFor(mapName: string, version: string, env: NodeJS.ProcessEnv): string {
  const given = env.L3AF_PIN_DIR?.trim();
  if (given) return given;
  return join(dirname(dirname(dirname(mapName))), 'ratelimiting', version);
}

/** Parses and validates the command line; throws UsageError on anything wrong. */
export function parseCompanionArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, os: NodeJS.Platform = process.platform): CompanionOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        iface: { type: 'string', short: 'i' },
        rate: { type: 'string', short: 'r' },
        ports: { type: 'string', short: 'p' },
        'map-name': { type: 'string', short: 'm' },
        direction: { type: 'string', short: 'd' },
        verbose: { type: 'string', short: 'v' },
        'pin-dir': { type: 'string' },
        version: { type: 'string' },
        object: { type: 'string' },
        // l3afd's contract passes these to every user program: the log folder, and a rules file
        // (ratelimiting takes no rules; the file is accepted and not read)
        'log-dir': { type: 'string' },
        'rules-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return 'help';
  const iface = values.iface?.trim();
  if (!iface) throw new UsageError('--iface is required');
  if (values.rate === undefined) throw new UsageError('--rate is required (new connections per second)');
  const rate = parseInteger('rate', values.rate, 1, MAX_RATE);
  if (values.ports === undefined) throw new UsageError('--ports is required (comma-separated TCP ports, e.g. 80,8080)');
  const ports = [...new Set(values.ports.split(',').map((p) => parseInteger('ports', p, 1, 65_535)))];
  if (ports.length > MAX_PORTS) throw new UsageError(`--ports: at most ${MAX_PORTS} ports, got ${ports.length}`);
  if (values.direction !== undefined && !DIRECTIONS.includes(values.direction.trim())) {
    throw new UsageError(`--direction: '${values.direction}' is not supported; ratelimiting is an XDP ingress program (xdpingress)`);
  }
  const verbose = values.verbose === undefined ? 2 : parseInteger('verbose', values.verbose, 0, 5);
  const mapName = values['map-name']?.trim() || undefined;
  const windows = os === 'win32';
  if (!mapName && !windows) {
    throw new UsageError('--map-name is required: the pinned next-program array of the previous program in the chain '
      + '(e.g. the root\'s xdp_root_array). This program only joins an existing chain; it never attaches to the interface.');
  }
  const version = (values.version ?? 'latest').trim().replaceAll('.', '_');
  if (!/^[A-Za-z0-9_-]+$/.test(version)) throw new UsageError(`--version: '${values.version}' is not a valid version`);
  if (/[/]|^\.\.?$/.test(iface)) throw new UsageError(`--iface: '${iface}' is not an interface name`);
  // Windows pins are names in eBPF-for-Windows' pin table (BPF:\…): never resolved as file paths
  const asPath = (p: string): string => (windows ? p : resolve(p));
  const pinDir = values['pin-dir'] !== undefined ? asPath(values['pin-dir'])
    : mapName !== undefined ? asPath(pinDirFor(asPath(mapName), version, env))
      : env.L3AF_PIN_DIR?.trim() || joinPinName('names', 'BPF:', iface, 'ratelimiting', version);
  const object = resolve(values.object ?? DEFAULT_OBJECT);
  const logDir = values['log-dir']?.trim() ? resolve(values['log-dir'].trim()) : undefined;
  return { iface, rate, ports, mapName, pinDir, object, verbose, logDir };
}

/** Checks what must exist before anything is changed; throws UsageError. */
function checkEnvironment(o: CompanionOptions): void {
  try {
    ifindex(o.iface);
  } catch {
    throw new UsageError(`--iface: no network interface named '${o.iface}'`);
  }
  if (o.mapName !== undefined && platform.pinsAreFiles && !existsSync(o.mapName)) throw new UsageError(`--map-name: nothing is pinned at ${o.mapName}`);
  if (!existsSync(o.object)) throw new UsageError(`--object: ${o.object} does not exist (run 'make -C programs')`);
}

/** A running companion: the loaded object, its pins and its link. */
export class Companion {
  readonly #pins: Array<{ path: string; id: number }> = [];
  #linkedId: number | undefined;
  #attached = false;
  #done = false;

  private constructor(readonly options: CompanionOptions, private readonly obj: BpfObject, private readonly prev: BpfMap | undefined, private readonly log: (level: number, msg: string) => void) {}

  /** Loads, configures, pins and links (or, without --map-name, attaches); undoes what it did when a step fails. */
  static start(o: CompanionOptions, log: (level: number, msg: string) => void): Companion {
    let prev: BpfMap | undefined;
    if (o.mapName !== undefined) {
      try {
        prev = BpfMap.openPinned(o.mapName);
      } catch (err) {
        throw new UsageError(`--map-name: cannot open ${o.mapName}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (prev.type !== 'prog_array') {
        prev.close();
        throw new UsageError(`--map-name: ${o.mapName} is a ${prev.type} map, not a program array`);
      }
    }
    let obj: BpfObject | undefined;
    let c: Companion | undefined;
    try {
      obj = BpfObject.open(o.object);
      obj.load();
      c = new Companion(o, obj, prev, log);
      c.#configure();
      c.#pinAll();
      if (prev) c.#link();
      else c.#attach();
      return c;
    } catch (err) {
      if (c) c.stop();
      else {
        obj?.close();
        prev?.close();
      }
      throw err;
    }
  }

  #configure(): void {
    const o = this.options;
    this.obj.map('rl_config_map').typed(u32, u64).set(0, BigInt(o.rate));
    const ports = this.obj.map('rl_ports_map').typed(u16, u8);
    for (const p of o.ports) ports.set(p, 1);
    this.log(1, `rate ${o.rate}/s on ports ${o.ports.join(',')}`);
  }

  #pinAll(): void {
    const dir = this.options.pinDir;
    if (platform.pinsAreFiles) mkdirSync(dir, { recursive: true });
    const maps = this.obj.maps();
    const taken = platform.pinsAreFiles ? maps.map((m) => this.#pinPath(m.name)).filter((p) => existsSync(p)) : [];
    if (taken.length > 0) throw new UsageError(`--pin-dir: already pinned (another instance, or stale pins to remove): ${taken.join(', ')}`);
    for (const m of maps) {
      const path = this.#pinPath(m.name);
      m.pin(path);
      this.#pins.push({ path, id: m.info().id });
      this.log(1, `pinned ${path}`);
    }
  }

  #pinPath(name: string): string {
    return platform.pinsAreFiles ? join(this.options.pinDir, name) : joinPinName('names', this.options.pinDir, name);
  }

  /** Windows without a chain: the program goes on the interface's XDP hook itself. */
  #attach(): void {
    attachXdp({ iface: this.options.iface, program: this.obj.program(ENTRY) });
    this.#attached = true;
    this.log(1, `attached program ${this.obj.program(ENTRY).id} to ${this.options.iface}`);
  }

  #link(): void {
    const prog = this.obj.program(ENTRY);
    new ProgArray(this.prev as BpfMap).set(0, prog);
    this.#linkedId = prog.id;
    this.log(1, `linked program ${this.#linkedId} into slot 0 of ${this.options.mapName}`);
  }

  /** The kernel id of this companion's program. */
  get programId(): number {
    return this.obj.program(ENTRY).id;
  }

  /**
   * Unlinks (only while the previous array's slot 0 still holds this program), removes this
   * companion's pins and closes everything. Idempotent.
   */
  stop(): void {
    if (this.#done) return;
    this.#done = true;
    const problems: string[] = [];
    if (this.#attached) {
      try {
        detachXdp({ iface: this.options.iface, expectedOld: this.obj.program(ENTRY) });
        this.log(1, `detached from ${this.options.iface}`);
      } catch (err) {
        problems.push(`detach: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (this.#linkedId !== undefined && this.prev) {
      try {
        const arr = new ProgArray(this.prev);
        const current = arr.get(0);
        if (current === this.#linkedId) {
          arr.clear(0);
          this.log(1, `unlinked from ${this.options.mapName}`);
        } else {
          this.log(1, `slot 0 of ${this.options.mapName} holds ${current ?? 'nothing'}, not this program: left alone`);
        }
      } catch (err) {
        problems.push(`unlink: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    for (const pin of this.#pins.reverse()) {
      try {
        using m = BpfMap.openPinned(pin.path);
        if (m.info().id === pin.id) unpin(pin.path);
        else this.log(1, `${pin.path} now pins another map: left alone`);
      } catch (err) {
        problems.push(`unpin ${pin.path}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    try {
      if (platform.pinsAreFiles && existsSync(this.options.pinDir) && readdirSync(this.options.pinDir).length === 0) rmdirSync(this.options.pinDir);
    } catch {
      // another process may have put something there; leaving an empty directory is harmless
    }
    this.obj.close();
    this.prev?.close();
    if (problems.length > 0) throw new Error(problems.join('; '));
  }
}

function main(argv: string[]): void {
  let options: CompanionOptions | 'help';
  try {
    options = parseCompanionArgs(argv);
    if (options !== 'help') checkEnvironment(options);
  } catch (err) {
    process.stderr.write(`ratelimiting: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const verbose = options.verbose;
  // --verbose follows L3AF's levels: 0 off, 1 debug, 2 info (default), 3 warning, 4 error, 5 critical.
  const logFile = options.logDir ? join(options.logDir, 'ratelimiting.log') : undefined;
  if (options.logDir) mkdirSync(options.logDir, { recursive: true });
  const log = (level: number, msg: string): void => {
    if (verbose === 0 || level < verbose) return;
    process.stderr.write(`ratelimiting: ${msg}\n`);
    if (logFile) appendFileSync(logFile, `${new Date().toISOString()} ${msg}\n`);
  };
  let companion: Companion;
  try {
    companion = Companion.start(options, log);
  } catch (err) {
    process.stderr.write(`ratelimiting: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  }
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const shutdown = (signal: string): void => {
    clearInterval(keepAlive);
    log(2, `${signal}: stopping`);
    try {
      companion.stop();
    } catch (err) {
      process.stderr.write(`ratelimiting: cleanup failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    }
    process.exit(0);
  };
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(s, () => shutdown(s));
  const where = options.mapName !== undefined ? `linked after ${options.mapName}` : `attached to ${options.iface}`;
  log(2, `program ${companion.programId} ${where}; next array pinned at ${platform.pinsAreFiles ? join(options.pinDir, NEXT_ARRAY) : joinPinName('names', options.pinDir, NEXT_ARRAY)}`);
  process.stdout.write('ready\n');
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
