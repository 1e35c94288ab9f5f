/**
 * The kernel steps of one chain the applier executes: load into the chain, replace (maps carried over when
 * the new object accepts them), unlink, map_args, monitored keys; each inside its load/link spans.
 */
import { existsSync } from 'node:fs';
import type { BpfObject } from '../bpf/index.ts';
import { ChainError, type ChainDescription, type ChainDirection, type ProgramSpec } from '../chain/index.ts';
import { pinsIn } from '../chain/pin-layout.ts';
import type { NormalizedBpfProgram } from '../payload/index.ts';
import { withSpan } from '../telemetry/tracing.ts';
import type { EngineCore } from './core.ts';
import { EngineError } from './errors.ts';
import { applyMapArgs, mapsInDir, type MapArgsTarget } from './map-args.ts';
import { initMonitorMaps } from './monitor-init.ts';
import { attachObjectProbes, dropObjectProbes } from './object-probes.ts';
import { objectIn, fetchPackage } from './packages.ts';
import { LoadLinkSpans, programAttributes } from './step-spans.ts';

/** `spec` whose `loaded` hook also ends the load span and opens the link span. */
export function withLoadSpans(spec: ProgramSpec, spans: LoadLinkSpans): ProgramSpec {
  return {
    ...spec,
    loaded: (obj) => {
      spec.loaded?.(obj);
      spans.loaded();
    } };
}

/**
 * Fetches `p`'s package (span `fetch`; the artifact store checks the archive's sha256 there) and
 * checks its object file (span `verify`, with the sha256). With `place`, the spec's `loaded` hook
 * attaches the probe programs of the object beside the entry (see attachObjectProbes in object-probes.ts).
 */
export async function programSpec(c: EngineCore, p: NormalizedBpfProgram, place?: { iface: string; direction: ChainDirection }): Promise<ProgramSpec> {
  const attrs = programAttributes(p, place?.iface, place?.direction);
  const pkg = await fetchPackage(c, p, attrs);
  const objectPath = await withSpan('verify', (span) => {
    if (pkg.sha256 !== undefined) span.setAttribute('l3af.artifact.sha256', pkg.sha256);
    const path = objectIn(pkg.dir, p.object_file);
    if (!existsSync(path)) throw new EngineError(`program '${p.name}': the package has no object file '${p.object_file}'`, 'invalid');
    return path;
  }, attrs);
  return {
    name: p.name, version: p.version, objectPath, entry: p.entry_function_name, nextMap: p.map_name,
    // configuration lands before the program is linked in: it never sees traffic unconfigured
    prepare: (maps) => {
      applyMapArgs(maps, p.map_args, `program '${p.name}'`);
      initMonitored(c, maps, p); // as l3afd: monitored keys exist before the first packet
    },
    ...(place ? { loaded: (obj: BpfObject) => attachObjectProbes(c, place.iface, place.direction, p, obj) } : {}) };
}

/** Moves `name` to `position` in its chain (hitless: one prog-array write). */
export async function moveInChain(c: EngineCore, iface: string, direction: ChainDirection, name: string, position: number): Promise<void> {
  await c.running().move(iface, direction, name, position);
}

/** cm.remove, then the object's probes go too. */
export async function removeFromChain(c: EngineCore, iface: string, direction: ChainDirection, name: string): Promise<void> {
  await c.running().remove(iface, direction, name);
  dropObjectProbes(c, iface, direction, name);
}

/** Zero-initialises `p`'s monitored keys that have no value (l3afd's InitialiseMetricMaps). */
export function initMonitored(c: EngineCore, maps: MapArgsTarget, p: NormalizedBpfProgram): void {
  const r = initMonitorMaps(maps, p.monitor_maps, `program '${p.name}'`);
  if (r.written.length > 0 || r.missing.length > 0) c.log.info({ name: p.name, written: r.written, missing: r.missing }, 'monitored maps initialised');
}

export function writeMapArgs(c: EngineCore, iface: string, direction: ChainDirection, p: NormalizedBpfProgram): void {
  const cm = c.running();
  const dir = cm.layout.mapDir(iface, direction, p.name, p.version);
  applyMapArgs(mapsInDir(dir, pinsIn), p.map_args, `program '${p.name}' on ${iface} ${direction}`);
}

/**
 * Why traffic will not get through `name` in its chain, said with its result (l3afd chains it without a word):
 * its code never tail-calls through map_name, or a program before it does not.
 */
export function reachNote(c: EngineCore, iface: string, direction: ChainDirection, name: string): string | undefined {
  let d: ChainDescription;
  try {
    d = c.running().describe(iface, direction);
  } catch {
    return undefined;
  }
  const i = d.programs.findIndex((p) => p.name === name);
  const el = d.programs[i];
  if (!el) return undefined;
  const blocker = d.programs.slice(0, i).find((p) => !p.continues);
  if (blocker) return `it never runs: '${blocker.name}' before it does not tail-call through its map_name`;
  if (!el.continues && i < d.programs.length - 1) return `its code does not tail-call through map_name: the ${d.programs.length - 1 - i} program(s) after it never run`;
  return undefined;
}

/** Loads `p` into the chain at `position` and writes its map_args; on failure nothing stays. */
export async function insert(c: EngineCore, iface: string, direction: ChainDirection, p: NormalizedBpfProgram, position: number): Promise<void> {
  const cm = c.running();
  const spec = await programSpec(c, p, { iface, direction }); // its prepare writes map_args before the switch
  const spans = new LoadLinkSpans(programAttributes(p, iface, direction));
  try {
    await cm.insert(iface, direction, withLoadSpans(spec, spans), position);
    spans.end();
  } catch (err) {
    spans.end(err);
    if (!c.inChain(iface, direction, p.name)) dropObjectProbes(c, iface, direction, p.name);
    throw err;
  }
}

/** cm.replace inside load / link spans. */
export async function replaceSpanned(c: EngineCore, iface: string, direction: ChainDirection, name: string, spec: ProgramSpec, keepMaps: boolean): Promise<void> {
  const spans = new LoadLinkSpans({ ...programAttributes(spec, iface, direction), 'l3af.keep_maps': keepMaps });
  try {
    await c.running().replace(iface, direction, name, withLoadSpans(spec, spans), { keepMaps });
    spans.end();
  } catch (err) {
    spans.end(err);
    throw err;
  }
}

/**
 * Replaces the chain element of `from` by `to` (hitless), carrying maps over when the new object
 * accepts them; `to`'s map_args are written before the switch. Returns the undo (replace back to `from`).
 */
export async function replace(c: EngineCore, iface: string, direction: ChainDirection, from: NormalizedBpfProgram, to: NormalizedBpfProgram): Promise<() => Promise<void>> {
  const place = { iface, direction };
  const spec = await programSpec(c, to, place);
  try {
    await replaceSpanned(c, iface, direction, from.name, spec, true);
  } catch (err) {
    if (!(err instanceof ChainError && err.code === 'kernel')) throw err;
    c.log.info({ iface, direction, name: to.name, err: err.message }, 'replace with the old maps refused; loading with fresh maps');
    await replaceSpanned(c, iface, direction, from.name, spec, false);
  }
  // each spec's prepare writes its map_args before the switch
  return async (): Promise<void> => {
    const back = await programSpec(c, from, place);
    await replaceSpanned(c, iface, direction, to.name, back, true)
      .catch(() => replaceSpanned(c, iface, direction, to.name, back, false));
  };
}
