/**
 * The eBPF packages this project ships, as l3afd artifacts. Each one becomes
 * `{repo}/{name}/{version}/{platform}/{artifact}` (see programs/README.md); the archive holds one
 * folder named after the artifact up to its first '.', e.g. `l3af_ratelimiting/`.
 */
import { fileURLToPath } from 'node:url';

/** programs/build/, where `make -C programs` puts the objects. */
export const BUILD_DIR = fileURLToPath(new URL('./build/', import.meta.url));
/** programs/companion/, the user-space companions packaged beside their objects. */
export const COMPANION_DIR = fileURLToPath(new URL('./companion/', import.meta.url));
/** programs/repo/, the default local package repository (gitignored). */
export const DEFAULT_REPO_DIR = fileURLToPath(new URL('./repo/', import.meta.url));

/** One file of a package. */
export interface PackageFile {
  /** Absolute path of the file to pack. */
  readonly source: string;
  /** Its name inside the package folder (no '/' or '..'). */
  readonly name: string;
  /** Permission bits stored in the archive; default 0o644 (0o755 for executables). */
  readonly mode?: number;
}

/** A folder of a package, copied whole (e.g. a bundle's node_modules/). */
export interface PackageTree {
  /** Absolute path of the folder. */
  readonly source: string;
  /** Its name inside the package folder (no '/' or '..'). */
  readonly name: string;
}

/** One package: what l3afd calls a program's `name`, `version` and `artifact`. */
export interface PackageSpec {
  /** Package (program) name, the first path segment in the repository. */
  readonly name: string;
  /** Archive file name; the part before the first '.' is the folder inside the archive. */
  readonly artifact: string;
  /** The package's own version; it is written under this and under `latest`. */
  readonly version: string;
  readonly files: readonly PackageFile[];
  /** Folders packed whole beside the files. */
  readonly trees?: readonly PackageTree[];
}

function objects(...names: string[]): PackageFile[] {
  return names.map((n) => ({ source: `${BUILD_DIR}${n}.bpf.o`, name: `${n}.bpf.o` }));
}

/** Every package built by `npx tsx programs/package.ts`. */
export const PACKAGES: readonly PackageSpec[] = [
  { name: 'xdp-root', artifact: 'l3af_xdp_root.tar.gz', version: '1.0.0', files: objects('xdp_root') },
  { name: 'tc-root', artifact: 'l3af_tc_root.tar.gz', version: '1.0.0', files: objects('tc_root_ingress', 'tc_root_egress') },
  {
    name: 'ratelimiting',
    artifact: 'l3af_ratelimiting.tar.gz',
    version: '1.0.0',
    // The companion (L3AF's user-program contract), bundled into one file with koffi beside it
    // (programs/bundle.ts), and its launcher: the package runs on a host with Node and libbpf only.
    files: [
      ...objects('ratelimiting'),
      { source: `${BUILD_DIR}companion/ratelimiting.mjs`, name: 'ratelimiting.mjs' },
      { source: `${COMPANION_DIR}ratelimiting.sh`, name: 'ratelimiting', mode: 0o755 },
    ],
    trees: [{ source: `${BUILD_DIR}companion/node_modules`, name: 'node_modules' }],
  },
  {
    name: 'count-and-pass',
    artifact: 'l3af_count_and_pass.tar.gz',
    version: '1.0.0',
    files: objects('count_and_pass', 'count_and_pass_tc'),
  },
];
