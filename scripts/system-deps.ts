/**
 * The system-dependency step of `npm start` and `npm test`: finds which of the programs and files
 * the command needs are missing and, as root on Debian or Ubuntu, installs exactly their packages
 * with apt-get (printing the command it runs); anywhere else it stops with one line naming the
 * packages and the command to run. Quick and silent when everything is there.
 *
 *   tsx scripts/system-deps.ts start    # what `npm start` needs (build and run the agent)
 *   tsx scripts/system-deps.ts test     # what `npm test` needs (start's, plus the test tools)
 *   tsx scripts/system-deps.ts test --check   # only report (exit 1 when something is missing)
 *
 * The one list of Debian packages the project needs is {@link REQUIREMENTS}: add a package here
 * (not to .ci/run, which runs the README's commands).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Which README command needs a requirement. */
export type Purpose = 'start' | 'test';

/** One thing the machine must have, how to see it is there, and the Debian package that provides it. */
export interface Requirement {
  /** What it is, for messages. */
  what: string;
  /** Programs (any one on PATH is enough) or absolute files (any one existing is enough). */
  anyOf: readonly string[];
  /** Debian (and Ubuntu) package. */
  pkg: string;
  /** `start`: needed by `npm start` (and so by `npm test`); `test`: only by `npm test`. */
  for: Purpose;
}

/** Everything `npm start` and `npm test` need from the system, beyond Node and npm. */
export const REQUIREMENTS: readonly Requirement[] = [
  // building the eBPF programs (make -C programs) and running the agent (libbpf.so.1 via koffi)
  { what: 'make', anyOf: ['make'], pkg: 'make', for: 'start' },
  { what: 'clang', anyOf: ['clang'], pkg: 'clang', for: 'start' },
  { what: 'llvm (llvm-objdump, llvm-strip)', anyOf: ['llvm-objdump', 'llvm-strip'], pkg: 'llvm', for: 'start' },
  { what: 'libbpf headers and libbpf.so.1', anyOf: ['/usr/include/bpf/libbpf.h'], pkg: 'libbpf-dev', for: 'start' },
  { what: 'kernel UAPI headers', anyOf: ['/usr/include/linux/bpf.h'], pkg: 'linux-libc-dev', for: 'start' },
  { what: 'libc headers', anyOf: ['/usr/include/stdio.h'], pkg: 'libc6-dev', for: 'start' },
  { what: 'bpftool', anyOf: ['bpftool'], pkg: 'bpftool', for: 'start' },
  { what: 'ip (iproute2)', anyOf: ['ip'], pkg: 'iproute2', for: 'start' },
  // the tests: probes, metric checks, native stack, browser test, containers, Windows under Wine
  { what: 'gcc', anyOf: ['gcc'], pkg: 'gcc', for: 'test' },
  { what: 'python3', anyOf: ['python3'], pkg: 'python3', for: 'test' },
  { what: 'CA certificates', anyOf: ['/etc/ssl/certs/ca-certificates.crt'], pkg: 'ca-certificates', for: 'test' },
  { what: 'Prometheus (prometheus, promtool)', anyOf: ['promtool'], pkg: 'prometheus', for: 'test' },
  { what: 'node_exporter', anyOf: ['prometheus-node-exporter'], pkg: 'prometheus-node-exporter', for: 'test' },
  { what: 'Chromium', anyOf: ['chromium'], pkg: 'chromium', for: 'test' },
  { what: 'Docker engine (dockerd)', anyOf: ['dockerd'], pkg: 'docker.io', for: 'test' },
  { what: 'docker-compose', anyOf: ['docker-compose'], pkg: 'docker-compose', for: 'test' },
  { what: 'mmdebstrap (local base images)', anyOf: ['mmdebstrap'], pkg: 'mmdebstrap', for: 'test' },
  { what: 'Wine (64-bit)', anyOf: ['wine64', '/usr/lib/wine/wine64'], pkg: 'wine64', for: 'test' },
  { what: 'MinGW-w64 C compiler', anyOf: ['x86_64-w64-mingw32-gcc'], pkg: 'gcc-mingw-w64-x86-64', for: 'test' },
  { what: 'MinGW-w64 Windows headers', anyOf: ['/usr/x86_64-w64-mingw32/include/windows.h'], pkg: 'mingw-w64-x86-64-dev', for: 'test' },
];

/** The requirements of a README command: `start` needs its own, `test` needs both. */
export function requirementsFor(purpose: Purpose, all: readonly Requirement[] = REQUIREMENTS): Requirement[] {
  return all.filter((r) => purpose === 'test' || r.for === 'start');
}

/** Looks a program up on PATH (plus the sbin directories a non-login root shell may lack). */
export function onPath(program: string, path: string = process.env.PATH ?? ''): boolean {
  const dirs = [...path.split(delimiter).filter((d) => d !== ''), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  return dirs.some((d) => {
    try {
      accessSync(join(d, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** How {@link missing} looks at the machine (replaceable in unit tests). */
export interface Probe {
  program(name: string): boolean;
  file(path: string): boolean;
}

/** The real machine. */
export const hostProbe: Probe = { program: (name) => onPath(name), file: (p) => existsSync(p) };

/** Whether a requirement is met: one of its programs is on PATH or one of its files exists. */
export function present(req: Requirement, probe: Probe = hostProbe): boolean {
  return req.anyOf.some((x) => (x.startsWith('/') ? probe.file(x) : probe.program(x)));
}

/** The requirements of `purpose` that are not met. */
export function missing(purpose: Purpose, probe: Probe = hostProbe, all: readonly Requirement[] = REQUIREMENTS): Requirement[] {
  return requirementsFor(purpose, all).filter((r) => !present(r, probe));
}

/** What the machine is, as far as installing goes. */
export interface Host {
  /** Effective uid 0. */
  root: boolean;
  /** /etc/os-release says Debian or Ubuntu (ID or ID_LIKE). */
  debianLike: boolean;
  /** apt-get is on PATH. */
  aptGet: boolean;
  /** The distribution's name from /etc/os-release (for the message), if any. */
  distro?: string;
}

/** Reads /etc/os-release's ID, ID_LIKE and PRETTY_NAME. */
export function parseOsRelease(text: string): { id: string; idLike: string[]; pretty?: string } {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) kv.set(m[1], m[2].replace(/^["']|["']$/g, ''));
  }
  const pretty = kv.get('PRETTY_NAME');
  return { id: kv.get('ID') ?? '', idLike: (kv.get('ID_LIKE') ?? '').split(/\s+/).filter((s) => s !== ''), ...(pretty !== undefined ? { pretty } : {}) };
}

/** This machine. */
export function thisHost(): Host {
  let os: ReturnType<typeof parseOsRelease> = { id: '', idLike: [] };
  try {
    os = parseOsRelease(readFileSync('/etc/os-release', 'utf8'));
  } catch {
    // no os-release: not a distribution we know how to install on
  }
  const debianLike = [os.id, ...os.idLike].some((x) => x === 'debian' || x === 'ubuntu');
  return { root: process.getuid?.() === 0, debianLike, aptGet: onPath('apt-get'), ...(os.pretty !== undefined ? { distro: os.pretty } : {}) };
}

/** What the step will do. */
export type Plan =
  | { action: 'none' }
  | { action: 'install'; missing: Requirement[]; packages: string[]; command: string[] }
  | { action: 'tell'; missing: Requirement[]; packages: string[]; line: string };

/** apt-get's install command for `packages` (waits for another apt/dpkg to finish instead of failing). */
export function aptInstall(packages: readonly string[]): string[] {
  return ['apt-get', '-o', 'DPkg::Lock::Timeout=900', 'install', '-y', '-q', '--no-install-recommends', ...packages];
}

/** From what is missing and what the host is, what to do: nothing, install, or tell the user. */
export function plan(missingReqs: readonly Requirement[], host: Host): Plan {
  if (missingReqs.length === 0) return { action: 'none' };
  const packages = [...new Set(missingReqs.map((r) => r.pkg))];
  const list = missingReqs.map((r) => r.what).join(', ');
  if (host.root && host.debianLike && host.aptGet) return { action: 'install', missing: [...missingReqs], packages, command: aptInstall(packages) };
  const cmd = (host.root ? '' : 'sudo ') + aptInstall(packages).filter((a) => a !== '-o' && a !== 'DPkg::Lock::Timeout=900').join(' ');
  const line = host.debianLike
    ? `l3af: missing ${list}; install them with: ${cmd}`
    : `l3af: missing ${list}; install the packages that provide them (Debian names: ${packages.join(' ')}; on Debian/Ubuntu: ${cmd})`;
  return { action: 'tell', missing: [...missingReqs], packages, line };
}

/** Whether apt has package lists at all (a fresh container has none: `apt-get update` first). */
export function aptListsPresent(dir = '/var/lib/apt/lists'): boolean {
  try {
    return readdirSync(dir).some((f) => f.endsWith('_Packages') || f.endsWith('_Packages.lz4') || f.endsWith('_Packages.gz'));
  } catch {
    return false;
  }
}

function runLoud(argv: readonly string[]): number {
  process.stderr.write(`l3af: + ${argv.join(' ')}\n`);
  const res = spawnSync(argv[0] as string, argv.slice(1), {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return res.status ?? 1;
}

const UPDATE = ['apt-get', '-o', 'DPkg::Lock::Timeout=900', 'update', '-q'];

/** Carries out a plan; returns the exit code for the npm script (0: go on). */
export function apply(p: Plan, purpose: Purpose): number {
  if (p.action === 'none') return 0;
  if (p.action === 'tell') {
    process.stderr.write(`${p.line}\n`);
    return 1;
  }
  process.stderr.write(`l3af: npm ${purpose} needs ${p.missing.map((r) => r.what).join(', ')}: installing ${p.packages.join(' ')}\n`);
  let updated = false;
  if (!aptListsPresent()) {
    if (runLoud(UPDATE) !== 0) return 1;
    updated = true;
  }
  if (runLoud(p.command) === 0) return 0;
  // stale lists ("Unable to locate package", 404 on a superseded version): refresh once and retry
  if (updated || runLoud(UPDATE) !== 0) return 1;
  return runLoud(p.command) === 0 ? 0 : 1;
}

function main(args: string[]): number {
  const purpose = args[0];
  if (purpose !== 'start' && purpose !== 'test') {
    process.stderr.write('usage: tsx scripts/system-deps.ts start|test [--check]\n');
    return 2;
  }
  const gone = missing(purpose);
  if (args.includes('--check')) {
    for (const r of gone) process.stdout.write(`missing: ${r.what} (${r.pkg})\n`);
    return gone.length === 0 ? 0 : 1;
  }
  const p = plan(gone, thisHost());
  const code = apply(p, purpose);
  if (code === 0 && p.action === 'install') {
    const still = missing(purpose);
    if (still.length > 0) {
      process.stderr.write(`l3af: still missing after apt-get: ${still.map((r) => `${r.what} (${r.pkg})`).join(', ')}\n`);
      return 1;
    }
  }
  return code;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exit(main(process.argv.slice(2)));
