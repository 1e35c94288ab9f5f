// Shared bits of the engine tests: an engine with a handle on its chains, l3afd payloads for ratelimiting and count-and-pass, and reads of their maps.
import { join } from 'node:path';
import { BpfMap, u16, u32, u64, u8 } from '../../agent/src/bpf/index.ts';
import type { AgentConfig } from '../../agent/src/config/index.ts';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { createEngine, type Engine } from '../../agent/src/engine/index.ts';
import { chainManagerOptions } from '../../agent/src/engine/chain-options.ts';
import type { AddUpdateBody, BpfProgram, NormalizedL3afBpfPrograms } from '../../agent/src/payload/index.ts';

// the repository, state dir and config helpers live in the harness (repo.ts, lab.ts); re-exported for the engine tests
export { ROOT, countAndPassRepo, ensurePackages } from '../harness/repo.ts';
export { StateDir, testConfig } from '../harness/lab.ts';

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
