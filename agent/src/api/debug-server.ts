/**
 * l3afd's chain debug listener (`[ebpf-chain-debug] enabled` / `addr`): `GET /bpfs/<iface>` answers
 * a JSON array of l3afd's runtime objects for the interface's three chains, each in kernel chain
 * order with its root first: `Program` (the payload program with every l3afd key), `FilePath`,
 * `RestartCount`, `PrevMapNamePath`, `MapNamePath`, `ProgID` (kernel program id), `BpfMaps`,
 * `MetricsBpfMaps`, `_`, `ProgMapID`, `PrevProgMapID`, `HostConfig`, `ProbeLinks`. l3afd's e2e suite
 * reads `.ProgID`, `.Program.name` and `.Program.map_name` and checks the ids with bpftool.
 *
 * Intended differences: `HostConfig` is null (l3afd dumps its whole configuration here, a leak on
 * an unauthenticated port), and the map ids l3afd keeps in memory are read back from the pins
 * (0 when not pinned). Plain http, no auth — as l3afd; bind it to localhost.
 */
import { statSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { BpfMap } from '../bpf/index.ts';
import { PinLayout, type ChainDescription, type ElementState } from '../chain/index.ts';
import type { AgentConfig } from '../config/index.ts';
import type { ChainInspector } from '../engine/engine.ts';
import type { Engine } from '../engine/types.ts';
import { isPlainMonitorMap, normalizeProgram, type ChainDirection, type NormalizedBpfProgram } from '../payload/index.ts';
import { parseHostPort } from '../config/values.ts';

/** One element of l3afd's `/bpfs/<iface>` answer. */
export interface DebugBpf {
  Program: NormalizedBpfProgram;
  FilePath: string;
  RestartCount: number;
  PrevMapNamePath: string;
  MapNamePath: string;
  ProgID: number;
  BpfMaps: Record<string, { Name: string; MapID: number; Type: number }> | null;
  MetricsBpfMaps: Record<string, { Name: string; MapID: number; Type: number; Key: number; Aggregator: string }> | null;
  _: null;
  ProgMapID: number;
  PrevProgMapID: number;
  HostConfig: null;
  ProbeLinks: null;
}

function mapId(path: string): number {
  if (path === '') return 0;
  try {
    statSync(path);
    using m = BpfMap.openPinned(path);
    return m.info().id;
  } catch {
    return 0;
  }
}

/** The root program of a chain as l3afd models it (from `[xdp-root]` / `[tc-root]`). */
function rootProgram(config: AgentConfig, d: ChainDirection, e: ElementState): NormalizedBpfProgram {
  const xdp = d === 'xdp_ingress';
  const r = xdp ? config.xdpRoot : config.tcRoot;
  const ingress = d !== 'tc_egress';
  return normalizeProgram({
    name: e.name, seq_id: 0, artifact: r.artifact, version: r.version, admin_status: 'enabled', prog_type: xdp ? 'xdp' : 'tc',
    map_name: xdp ? config.xdpRoot.ingressMapName : ingress ? config.tcRoot.ingressMapName : config.tcRoot.egressMapName,
    object_file: xdp ? config.xdpRoot.objectFile : ingress ? config.tcRoot.ingressObjectFile : config.tcRoot.egressObjectFile,
    entry_function_name: xdp ? config.xdpRoot.entryFunctionName : ingress ? config.tcRoot.ingressEntryFunctionName : config.tcRoot.egressEntryFunctionName,
  });
}

/** l3afd's `BPFDetails(iface)`: every chain element of `iface`, root first, in chain order. */
export function bpfDetails(engine: Engine & Partial<ChainInspector>, config: AgentConfig, iface: string): DebugBpf[] {
  const layout = new PinLayout(config.l3afd.bpfMapDefaultPath);
  const chains: ChainDescription[] = typeof engine.describeChains === 'function' ? engine.describeChains(iface) : [];
  const desired = engine.get(iface).find((e) => e.iface === iface);
  const out: DebugBpf[] = [];
  for (const c of chains) {
    const listed = (desired?.bpf_programs[c.direction] ?? []) as (NormalizedBpfProgram & { status?: { user_program?: { restarts?: number } } })[];
    let prevPath = '';
    for (const [i, e] of [c.root, ...c.programs].entries()) {
      const found = i === 0 ? undefined : listed.find((p) => p.name === e.name);
      const program = i === 0 ? rootProgram(config, c.direction, e) : found ? (({ status: _s, ...p }) => p)(found) as NormalizedBpfProgram : normalizeProgram({ name: e.name, artifact: '', version: e.version, admin_status: 'enabled' } as never);
      const mapPath = program.map_name === '' ? '' : layout.mapPath(iface, c.direction, program.name, e.version, program.map_name);
      const maps = (program.map_args ?? []).map((m) => ({ Name: m.name, MapID: mapId(layout.mapPath(iface, c.direction, program.name, e.version, m.name)), Type: 0 }));
      const metrics = (program.monitor_maps ?? []).filter(isPlainMonitorMap).map((m) => ({ key: `${m.name}${m.key}${m.aggregator}`, v: { Name: m.name, MapID: mapId(layout.mapPath(iface, c.direction, program.name, e.version, m.name)), Type: 0, Key: m.key, Aggregator: m.aggregator } }));
      out.push({
        Program: program,
        FilePath: '',
        RestartCount: found?.status?.user_program?.restarts ?? 0,
        PrevMapNamePath: prevPath,
        MapNamePath: mapPath,
        ProgID: e.id,
        BpfMaps: maps.length === 0 ? null : Object.fromEntries(maps.map((m) => [m.Name, m])),
        MetricsBpfMaps: metrics.length === 0 ? null : Object.fromEntries(metrics.map((m) => [m.key, m.v])),
        _: null,
        ProgMapID: mapId(mapPath),
        PrevProgMapID: mapId(prevPath),
        HostConfig: null,
        ProbeLinks: null,
      });
      prevPath = mapPath;
    }
  }
  return out;
}

/** Starts the debug listener on `[ebpf-chain-debug] addr`; resolves with the server (close it on shutdown). */
export async function startDebugServer(engine: Engine, config: AgentConfig): Promise<FastifyInstance> {
  const hp = parseHostPort(config.ebpfChainDebug.addr);
  if (!hp) throw new Error(`[ebpf-chain-debug] addr: not a host:port (${config.ebpfChainDebug.addr})`);
  const app = Fastify({ logger: false }) as unknown as FastifyInstance;
  const answer = (iface: string) => JSON.stringify(bpfDetails(engine, config, iface));
  app.get('/bpfs/', async (_req, reply) => reply.type('application/json').send(`${answer('')}\n`));
  app.get<{ Params: { iface: string } }>('/bpfs/:iface', async (req, reply) => reply.type('application/json').send(`${answer(req.params.iface)}\n`));
  await app.listen({ host: hp.host === '' ? '0.0.0.0' : hp.host, port: hp.port });
  return app;
}
