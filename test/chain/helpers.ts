// Shared bits of the chain tests: root and count-and-pass specs, counters, and an operation run under live traffic.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfMap, BpfProgram, u32, u64 } from '../../agent/src/bpf/index.ts';
import type { ChainDirection, PinLayout, ProgramSpec, RootSpecs } from '../../agent/src/chain/index.ts';
import { sendUdpReport, type VethLab } from '../harness/index.ts';

const BUILD = fileURLToPath(new URL('../../programs/build/', import.meta.url));

/** Path of a compiled package object (programs/build/<name>.bpf.o); run `make -C programs` first. */
export function packageObject(name: string): string {
  const p = `${BUILD}${name}.bpf.o`;
  if (!existsSync(p)) throw new Error(`${p} is missing: build it with 'make -C programs'`);
  return p;
}

/** The root programs as l3afd's defaults name them. */
export function rootSpecs(): RootSpecs {
  return {
    xdp_ingress: { name: 'xdp-root', version: 'latest', objectPath: packageObject('xdp_root'), entry: 'xdp_root', nextMap: 'xdp_root_array' },
    tc_ingress: { name: 'tc-root', version: 'latest', objectPath: packageObject('tc_root_ingress'), entry: 'tc_ingress_root', nextMap: 'tc_ingress_root_array' },
    tc_egress: { name: 'tc-root', version: 'latest', objectPath: packageObject('tc_root_egress'), entry: 'tc_egress_root', nextMap: 'tc_egress_root_array' },
  };
}

/** A count-and-pass instance called `name` for `direction`. */
export function capSpec(direction: ChainDirection, name: string, version = '1.0'): ProgramSpec {
  return direction === 'xdp_ingress'
    ? { name, version, objectPath: packageObject('count_and_pass'), entry: 'xdp_count_and_pass', nextMap: 'xdp_cap_next_prog' }
    : { name, version, objectPath: packageObject('count_and_pass_tc'), entry: 'tc_count_and_pass', nextMap: 'tc_cap_next_prog' };
}

/** Name of count-and-pass's per-CPU counter map for `direction`. */
export function counterMap(direction: ChainDirection): string {
  return direction === 'xdp_ingress' ? 'xdp_cap_count' : 'tc_cap_count';
}

/** An open handle on an instance's counter (kept open, it outlives the instance's pins). */
export class Counter {
  readonly #map: BpfMap;
  constructor(readonly label: string, path: string) {
    this.#map = BpfMap.openPinned(path);
  }
  static of(layout: PinLayout, iface: string, direction: ChainDirection, name: string, version = '1.0'): Counter {
    return new Counter(`${name}@${version}`, layout.mapPath(iface, direction, name, version, counterMap(direction)));
  }
  /** Packets counted, summed over CPUs. */
  read(): bigint {
    return this.#map.typed(u32, u64).sumPerCpu(0) ?? 0n;
  }
  close(): void {
    this.#map.close();
  }
}

/** The root's kernel run count (needs run statistics enabled): every packet the hook saw. */
export function rootRuns(rootPin: string): bigint {
  using p = BpfProgram.openPinned(rootPin);
  return p.info().runCount;
}

export interface TrafficRun {
  readonly what: string;
  readonly sent: number;
  /** Packets the root ran on during the run. */
  readonly root: bigint;
  /** Packets each counter counted during the run. */
  readonly counted: Record<string, bigint>;
  /** Root runs when the operation started and ended (relative to the run's start). */
  readonly rootAtOpStart: bigint;
  readonly rootAtOpEnd: bigint;
  readonly opMs: number;
}

export interface TrafficOptions {
  readonly port?: number;
  readonly count?: number;
  readonly ratePps?: number;
}

/**
 * Sends `count` UDP datagrams from the lab and runs `op` while they flow (once a fifth of them has
 * passed the root). Counters in `before` are read before and after; `after()` supplies counters
 * that only exist once the operation is done (read from zero).
 */
export async function underTraffic(
  lab: VethLab, rootPin: () => string, what: string, op: () => Promise<unknown>,
  before: Counter[], after: () => Counter[] = () => [], opts: TrafficOptions = {},
): Promise<TrafficRun> {
  const count = opts.count ?? 100_000;
  const ratePps = opts.ratePps ?? 50_000;
  const pin = rootPin();
  const root0 = rootRuns(pin);
  const c0 = before.map((c) => c.read());
  const sender = sendUdpReport(lab, { port: opts.port ?? 9000, count, ratePps, maxMs: Math.ceil((count / ratePps) * 1000) + 20_000 });
  let rootAtOpStart: bigint, rootAtOpEnd: bigint, opMs: number, rootPinAfter: string;
  try {
    const deadline = Date.now() + 15_000;
    while (rootRuns(pin) - root0 < BigInt(Math.floor(count / 5))) {
      if (Date.now() > deadline) throw new Error(`${what}: traffic did not start`);
      await new Promise((r) => setTimeout(r, 5));
    }
    rootAtOpStart = rootRuns(pin) - root0;
    const t0 = performance.now();
    await op();
    opMs = performance.now() - t0;
    rootPinAfter = rootPin();
    rootAtOpEnd = rootRuns(rootPinAfter) - root0;
  } catch (err) {
    await sender.catch(() => undefined); // let the bounded sender finish so the failure is the one reported
    throw err;
  }
  const report = await sender;
  assert.equal(report.failed, 0, `${what}: sender errors ${report.firstError}`);
  await new Promise((r) => setTimeout(r, 100));
  const root = rootRuns(rootPinAfter) - root0;
  const counted: Record<string, bigint> = {};
  before.forEach((c, i) => { counted[c.label] = c.read() - (c0[i] as bigint); });
  for (const c of after()) counted[c.label] = c.read();
  assert.ok(rootAtOpStart > 0n && rootAtOpEnd < root, `${what}: the operation ran while traffic flowed (${rootAtOpStart} < ${rootAtOpEnd} < ${root})`);
  return { what, sent: report.sent, root, counted, rootAtOpStart, rootAtOpEnd, opMs };
}

/** One line per run, for the test log and the report. */
export function formatRun(r: TrafficRun): string {
  const counts = Object.entries(r.counted).map(([k, v]) => `${k}=${v}`).join(' ');
  return `${r.what}: sent=${r.sent} root=${r.root} op at [${r.rootAtOpStart}..${r.rootAtOpEnd}] ${counts} op=${r.opMs.toFixed(1)}ms`;
}

/** Files a fresh bpffs mount holds at its top (the preloaded iterators), not pins of ours. */
const MOUNT_FILES = new Set(['maps.debug', 'progs.debug']);

/** Every file (pin) under `dir`, recursively, relative to it (a fresh mount's own files left out). */
export function pinsUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), join(rel, e.name));
      else if (rel !== '' || !MOUNT_FILES.has(e.name)) out.push(join(rel, e.name));
    }
  };
  walk(dir, '');
  return out.sort();
}

/** Every directory under `dir`, recursively. */
export function dirsUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      out.push(join(rel, e.name));
      walk(join(d, e.name), join(rel, e.name));
    }
  };
  walk(dir, '');
  return out.sort();
}
