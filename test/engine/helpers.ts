// Shared bits of the engine tests: the local package repository, a config over a private bpffs and a temp state
// dir, l3afd payloads for ratelimiting and count-and-pass, and reads of their maps.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BpfMap, u16, u32, u64, u8 } from '../../agent/src/bpf/index.ts';
import { defaultConfig, type AgentConfig } from '../../agent/src/config/index.ts';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { createEngine, type Engine } from '../../agent/src/engine/index.ts';
import { chainManagerOptions } from '../../agent/src/engine/chain-options.ts';
import { platformName } from '../../agent/src/platform/platform-name.ts';
import type { AddUpdateBody, BpfProgram, NormalizedL3afBpfPrograms } from '../../agent/src/payload/index.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Builds programs/repo with `make -C programs package` when the packages are not there yet. */
export function ensurePackages(): void {
  const platform = platformName();
  const need = ['xdp-root/latest/${p}/l3af_xdp_root.tar.gz', 'tc-root/latest/${p}/l3af_tc_root.tar.gz',
    'ratelimiting/latest/${p}/l3af_ratelimiting.tar.gz', 'count-and-pass/latest/${p}/l3af_count_and_pass.tar.gz']
    .map((f) => join(ROOT, 'programs', 'repo', f.replace('${p}', platform)));
  if (need.every((f) => existsSync(f))) return;
  execFileSync('make', ['-C', join(ROOT, 'programs'), 'package'], { stdio: 'ignore', timeout: 300_000 });
  for (const f of need) if (!existsSync(f)) throw new Error(`${f} is missing after 'make -C programs package'`);
}

/** A temp state dir (config store, package cache) removed by dispose. */
export class StateDir {
  readonly path = mkdtempSync(join(tmpdir(), `l3af-engine-${process.pid}-`));
  [Symbol.dispose](): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** The embedded default config with pins under `pinRoot` and state (store, package cache) under `stateDir`. */
export function testConfig(pinRoot: string, stateDir: string): AgentConfig {
  const c = structuredClone(defaultConfig({ stateDir, projectRoot: ROOT }));
  c.l3afd.bpfMapDefaultPath = pinRoot;
  return c;
}

/** An engine over `config`, with a handle on its chain manager (to read chains back from the kernel). */
export function engineWithChains(config: AgentConfig): { engine: Engine; chains: () => ChainManager } {
  let cm: ChainManager | undefined;
  const engine = createEngine(config, {
    chainManager: (roots) => (cm = new ChainManager(chainManagerOptions(config, roots))),
  });
  return {
    engine,
    chains: () => {
      if (!cm) throw new Error('engine not started');
      return cm;
    },
  };
}

/**
 * A package repository under `dir` holding count-and-pass under each of `names` (l3afd fetches a package by
 * the program's name, so a second instance needs its own name in a repository); returns its file URL.
 */
export function countAndPassRepo(dir: string, names: string[]): string {
  const repo = join(dir, 'extra-repo');
  for (const n of names) cpSync(join(ROOT, 'programs', 'repo', 'count-and-pass'), join(repo, n), { recursive: true });
  return pathToFileURL(repo).href;
}

/** The seed-like ratelimiting program (rate `rate` per second on `ports`). */
export function ratelimiting(seq: number, rate: number, ports: number[], extra: Partial<BpfProgram> = {}): BpfProgram {
  return {
    name: 'ratelimiting', seq_id: seq, artifact: 'l3af_ratelimiting.tar.gz', version: 'latest', admin_status: 'enabled',
    prog_type: 'xdp', map_name: 'xdp_rl_ingress_next_prog', object_file: 'ratelimiting.bpf.o', entry_function_name: '_xdp_ratelimiting',
    cfg_version: 1,
    map_args: [
      { name: 'rl_config_map', args: [{ key: 0, value: rate }] },
      { name: 'rl_ports_map', args: ports.map((p) => ({ key: p, value: 1 })) },
    ],
    monitor_maps: [{ name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' }, { name: 'rl_recv_count_map', key: 0, aggregator: 'max-rate' }],
    ...extra,
  };
}

/** A count-and-pass instance (XDP) called `name`. */
export function countAndPass(name: string, seq: number, extra: Partial<BpfProgram> = {}): BpfProgram {
  return {
    name, seq_id: seq, artifact: 'l3af_count_and_pass.tar.gz', version: 'latest', admin_status: 'enabled', prog_type: 'xdp',
    map_name: 'xdp_cap_next_prog', object_file: 'count_and_pass.bpf.o', entry_function_name: 'xdp_count_and_pass', ...extra,
  };
}

/** An add/update body for one interface's XDP chain. */
export function xdpBody(host: string, iface: string, programs: BpfProgram[]): AddUpdateBody {
  return [{ host_name: host, iface, bpf_programs: { xdp_ingress: programs } }];
}

/** rl_config_map[0] (the rate) and the ports listed in rl_ports_map. */
export function ratelimitingMaps(pinRoot: string, iface: string, version = 'latest'): { rate: bigint; window: bigint; ports: number[] } {
  const dir = join(pinRoot, iface, 'ratelimiting', version.replace(/\./g, '_'));
  using cfg = BpfMap.openPinned(join(dir, 'rl_config_map'));
  using ports = BpfMap.openPinned(join(dir, 'rl_ports_map'));
  const c = cfg.typed(u32, u64);
  return { rate: c.get(0) ?? -1n, window: c.get(1) ?? -1n, ports: ports.typed(u16, u8).entries().map(([k]) => k).sort((a, b) => a - b) };
}

/** GET without the live `status` fields (what the config store holds). */
export function withoutStatus(els: NormalizedL3afBpfPrograms[]): NormalizedL3afBpfPrograms[] {
  const copy = structuredClone(els);
  for (const e of copy) {
    for (const list of Object.values(e.bpf_programs)) for (const p of list ?? []) delete (p as { status?: unknown }).status;
  }
  return copy;
}
