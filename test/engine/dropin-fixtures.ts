// Packages shaped like L3AF's, built from test/bpf by `make -C programs`: dropin-limit (ratelimiting-shaped:
// limits only when its counters exist), dropin-tail (connection-limit-shaped: a next array it never tail-calls
// through), dropin-dir (ipfix / traffic-mirroring-shaped: one object per TC direction under one name).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUILD_DIR, type PackageSpec } from '../../programs/packages.ts';
import { writePackage } from '../../programs/repository.ts';
import { platformName } from '../../agent/src/platform/platform-name.ts';
import { queryTc, tcxProgId } from '../../agent/src/bpf/index.ts';
import type { BpfProgram } from '../../agent/src/payload/index.ts';
import { ensurePackages } from './helpers.ts';

function testObjects(...names: string[]): PackageSpec['files'] {
  return names.map((n) => {
    const source = join(BUILD_DIR, 'test', `${n}.bpf.o`);
    if (!existsSync(source)) throw new Error(`${source} is missing: build it with 'make -C programs'`);
    return { source, name: `${n}.bpf.o` };
  });
}

export const DROPIN_PACKAGES: readonly PackageSpec[] = [
  { name: 'dropin-limit', artifact: 'l3af_dropin_limit.tar.gz', version: '1.0.0', files: testObjects('dropin_limit') },
  { name: 'dropin-tail', artifact: 'l3af_dropin_tail.tar.gz', version: '1.0.0', files: testObjects('dropin_tail') },
  { name: 'dropin-dir', artifact: 'l3af_dropin_dir.tar.gz', version: '1.0.0', files: testObjects('dropin_dir_ingress', 'dropin_dir_egress') },
];

/** Writes the dropin packages into `<dir>/dropin-repo`; returns the repository's file URL. */
export async function dropinRepo(dir: string): Promise<string> {
  ensurePackages();
  const repo = join(dir, 'dropin-repo');
  for (const spec of DROPIN_PACKAGES) await writePackage(repo, platformName(), spec);
  return pathToFileURL(repo).href;
}

/** dropin-limit: candidates are UDP datagrams to `port`; the first `allowed` pass, the others drop. */
export function dropinLimit(repo: string, seq: number, port: number, allowed: number, extra: Partial<BpfProgram> = {}): BpfProgram {
  return {
    name: 'dropin-limit', seq_id: seq, artifact: 'l3af_dropin_limit.tar.gz', version: 'latest', admin_status: 'enabled', prog_type: 'xdp',
    map_name: 'xdp_dl_next_prog', object_file: 'dropin_limit.bpf.o', entry_function_name: 'xdp_dropin_limit', cfg_version: 1,
    ebpf_package_repo_url: repo,
    map_args: [{ name: 'dl_config', args: [{ key: 0, value: port }, { key: 1, value: allowed }] }],
    monitor_maps: [{ name: 'dl_recv_count', key: 0, aggregator: 'scalar' }, { name: 'dl_drop_count', key: 0, aggregator: 'scalar' }],
    ...extra,
  };
}

/** dropin-tail: counts and passes, never continues the chain. */
export function dropinTail(repo: string, seq: number, extra: Partial<BpfProgram> = {}): BpfProgram {
  return {
    name: 'dropin-tail', seq_id: seq, artifact: 'l3af_dropin_tail.tar.gz', version: 'latest', admin_status: 'enabled', prog_type: 'xdp',
    map_name: 'xdp_dt_next_prog', object_file: 'dropin_tail.bpf.o', entry_function_name: 'xdp_dropin_tail', cfg_version: 1,
    ebpf_package_repo_url: repo, ...extra,
  };
}

/** dropin-dir for one TC direction (same name on both). */
export function dropinDir(repo: string, direction: 'ingress' | 'egress', seq: number, extra: Partial<BpfProgram> = {}): BpfProgram {
  return {
    name: 'dropin-dir', seq_id: seq, artifact: 'l3af_dropin_dir.tar.gz', version: 'latest', admin_status: 'enabled', prog_type: 'tc',
    map_name: `dd_${direction}_jmp_table`, object_file: `dropin_dir_${direction}.bpf.o`, entry_function_name: `_${direction}_dropin_dir`,
    cfg_version: 1, ebpf_package_repo_url: repo, ...extra,
  };
}

/**
 * The program the kernel runs at a TC hook of `iface`, whichever way it is attached: the clsact filter (handle 1,
 * priority 1), else a pinned TCX link under `<pinRoot>/links/<iface>/` named `*_tc_<direction>` (its link info,
 * read from the kernel, must be a tcx link).
 */
export function tcHookProgId(pinRoot: string, iface: string, direction: 'ingress' | 'egress'): number | undefined {
  const filter = queryTc({ iface, direction });
  if (filter !== undefined) return filter;
  const base = join(pinRoot, 'links', iface);
  const walk = (dir: string): string[] => {
    try {
      return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
    } catch {
      return [];
    }
  };
  for (const p of walk(base)) if (p.endsWith(`_tc_${direction}`)) return tcxProgId(p);
  return undefined;
}
