/**
 * User programs: native ones (started after their program is linked) and self-linking ones (cmd_start
 * without object_file: they link themselves after the chain's tail); their pins, their health check.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unpin } from '../bpf/index.ts';
import { CHAIN_DIRECTIONS, type ChainDescription, type ChainDirection } from '../chain/index.ts';
import { messageOf } from '../error-message.ts';
import type { NormalizedBpfProgram } from '../payload/index.ts';
import { userDirection, type UserProgramSpec } from '../supervisor/index.ts';
import { withSpan } from '../telemetry/tracing.ts';
import type { EngineCore } from './core.ts';
import { EngineError } from './errors.ts';
import { packageDir } from './packages.ts';
import { bySeq, nativeProblem } from './program-diff.ts';
import { parseKey } from './program-key.ts';
import { programAttributes } from './step-spans.ts';
import type { RunningProgram } from './types.ts';
import { clearSlotIf, hasUserProgram, isSelfLinking, selfLinkBpfProblem, slotId, userKey, waitForSelfLink } from './user-programs.ts';
import { hookProgramId } from './user-roots.ts';

/** The checkout this module runs from (agent/src/engine → three levels up). */
export const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A self-linking user program as the observer sees it, while its predecessor's slot holds a
 * program: that program's id, and the maps it pinned at the agent's map path.
 */
export function selfLinkProgram(c: EngineCore, iface: string, direction: ChainDirection, p: NormalizedBpfProgram, ipv4: string): RunningProgram | undefined {
  if (!c.chain || c.phase !== 'running') return undefined;
  const prevPin = tailPrevPin(c, iface, direction);
  const progId = prevPin === undefined ? undefined : slotId(prevPin);
  if (progId === undefined) return undefined;
  return {
    iface, direction, name: p.name, version: p.version, ipv4, progId,
    mapPinDir: selfLinkDir(c, iface, direction, p), monitorMaps: p.monitor_maps ?? [], eventMaps: p.event_maps ?? null, mapArgs: p.map_args ?? [] };
}

/** Health check of programs with a user program (see {@link RunningStates}). */
export function checkRunning(c: EngineCore): void {
  const sup = c.supervisor;
  if (!c.deps.observer || c.phase !== 'running' || !sup) return;
  const state = c.state;
  c.lastRunning.check({
    *watched() {
      for (const [iface, st] of state) {
        for (const d of CHAIN_DIRECTIONS) {
          for (const p of st.lists[d]) {
            if (p.admin_status === 'enabled' && hasUserProgram(p)) yield { key: userKey(iface, d, p.name), iface, direction: d, ipv4: st.ipv4_address, program: p };
          }
        }
      }
    },
    snapshot: (key) => sup.snapshot(key),
    runningProgram: (w) => (isSelfLinking(w.program) ? selfLinkProgram(c, w.iface, w.direction, w.program, w.ipv4) : c.runningProgram(w.iface, w.direction, w.program, w.ipv4)),
    updated: (rp) => c.notify('programUpdated', rp),
    runningState: (ref, running) => c.notifyRunningState(ref, running),
    warn: (obj, msg) => c.log.warn(obj, msg) });
}

export function userDir(c: EngineCore): string {
  return join(c.config.l3af.stateDir, 'user-programs');
}

/** `[l3afd] bpf-log-dir`, passed as --log-dir only when set (l3afd's contract); undefined = not passed. */
export function userLogDir(c: EngineCore): string | undefined {
  return c.config.l3afd.bpfLogDir.length > 1 ? c.config.l3afd.bpfLogDir : undefined;
}

export function userEnv(c: EngineCore): Record<string, string> {
  if (c.deps.userProgramEnv) return { ...c.deps.userProgramEnv };
  return process.env.L3AF_HOME ? {} : { L3AF_HOME: CHECKOUT };
}

export function userSpec(c: EngineCore, iface: string, d: ChainDirection, p: NormalizedBpfProgram, packageDir: string, prevMapPin?: string): UserProgramSpec {
  return {
    key: userKey(iface, d, p.name),
    program: p,
    context: {
      iface, direction: userDirection(d), packageDir, ...(userLogDir(c) === undefined ? {} : { logDir: userLogDir(c) }),
      ...(prevMapPin === undefined ? {} : { prevMapPin }) },
    // environment, not arguments (l3afd's argv stays exact): where the agent expects the program's
    // pins (a non-default BpfMapDefaultPath included) and the Node a bundled companion runs on
    env: { L3AF_PIN_DIR: selfLinkDir(c, iface, d, p), L3AF_NODE: process.execPath, ...userEnv(c) } };
}

/**
 * The predecessor array of a chain's self-linking tail: the next array of the chain's last
 * agent-loaded program, or of the agent-held root; undefined when neither exists.
 */
export function tailPrevPin(c: EngineCore, iface: string, d: ChainDirection): string | undefined {
  const cm = c.running();
  const last = cm.programs(iface, d).at(-1);
  if (last) return cm.layout.mapPath(iface, d, last.name, last.version, last.nextMapName);
  return c.userRoots?.get(iface, d) ? c.userRoots.nextMapPin(iface, d) : undefined;
}

/** Where a self-linking program pins its maps (l3afd's map path: `<pin root>/<iface>/<name>/<version>`). */
export function selfLinkDir(c: EngineCore, iface: string, d: ChainDirection, p: { name: string; version: string }): string {
  return c.running().layout.mapDir(iface, d, p.name, p.version);
}

/** Starts the user program of a native program (already linked in). */
export async function startUser(c: EngineCore, iface: string, d: ChainDirection, p: NormalizedBpfProgram): Promise<void> {
  const spec = userSpec(c, iface, d, p, await packageDir(c, p));
  await c.sup().start(spec);
}

/**
 * Starts a self-linking user program as the tail of its chain: after the chain's last program,
 * or after an agent-held root when the chain has none; waits until it pinned its next array
 * and took the predecessor's slot. On failure it is stopped and nothing of it stays.
 */
export async function startSelfLinking(c: EngineCore, iface: string, d: ChainDirection, p: NormalizedBpfProgram, notify = true): Promise<string | undefined> {
  const cm = c.running();
  const sup = c.sup();
  const key = userKey(iface, d, p.name);
  const dir = await packageDir(c, p);
  // no libbpf API (Windows without eBPF-for-Windows): l3afd's Windows path, the user program alone (no root, no link check)
  const noBpf = selfLinkBpfProblem();
  if (noBpf !== undefined) {
    await sup.start(userSpec(c, iface, d, p, dir));
    return noBpf;
  }
  const heldRootBefore = c.roots().get(iface, d) !== undefined;
  if (cm.programs(iface, d).length === 0) c.roots().ensure(iface, d);
  const prevPin = tailPrevPin(c, iface, d) as string;
  const before = slotId(prevPin);
  try {
    await sup.start(userSpec(c, iface, d, p, dir, prevPin));
    await withSpan('link', () => waitForSelfLink({
      prevPin, before, timeoutMs: c.deps.selfLinkTimeoutMs ?? 10_000,
      ownNextPin: p.map_name !== '' ? join(selfLinkDir(c, iface, d, p), p.map_name) : undefined,
      alive: () => sup.snapshot(key)?.running ?? false }), { ...programAttributes(p, iface, d), 'l3af.self_linking': true });
  } catch (err) {
    await stopUser(c, iface, d, p).catch(() => undefined);
    if (!heldRootBefore && cm.programs(iface, d).length === 0) c.roots().release(iface, d);
    throw err;
  }
  const rp = selfLinkProgram(c, iface, d, p, c.ifaceState(iface).ipv4_address);
  if (rp) {
    c.lastRunning.started(key, rp.progId);
    if (notify) c.notify('programStarted', rp); // at start(), the observer learns everything at the end
  }
  return undefined;
}

/**
 * Stops a program's user program. For a self-linking one, also empties the predecessor slot
 * when it still holds a program (a crashed instance does not unlink itself) and removes the
 * pins it left.
 */
export async function stopUser(c: EngineCore, iface: string, d: ChainDirection, p: NormalizedBpfProgram): Promise<void> {
  const key = userKey(iface, d, p.name);
  const prevPin = isSelfLinking(p) ? tailPrevPin(c, iface, d) : undefined;
  const rp = isSelfLinking(p) && c.sup().snapshot(key) ? selfLinkProgram(c, iface, d, p, c.ifaceState(iface).ipv4_address) : undefined;
  await c.sup().stop(key);
  c.lastRunning.forget(key);
  if (rp) c.notify('programStopped', rp);
  if (!isSelfLinking(p)) return;
  if (prevPin !== undefined) {
    const id = slotId(prevPin);
    const cmIds = new Set(c.running().programs(iface, d).map((el) => el.id));
    if (id !== undefined && !cmIds.has(id)) clearSlotIf(prevPin, id);
  }
  removeSelfLinkPins(c, iface, d, p);
}

export function removeSelfLinkPins(c: EngineCore, iface: string, d: ChainDirection, p: { name: string; version: string }): void {
  const dir = selfLinkDir(c, iface, d, p);
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch {
    return;
  }
  for (const f of files) {
    try {
      unpin(join(dir, f));
    } catch (err) {
      c.log.warn({ iface, direction: d, name: p.name, pin: join(dir, f), err: messageOf(err) }, 'removing a stale pin failed');
    }
  }
}

/** Supervisor hook: a self-linking program's stale pins (a crashed instance's) go before it starts. */
export function beforeSpawn(c: EngineCore, spec: UserProgramSpec): void {
  const k = parseKey(spec.key);
  if (!k || spec.program.object_file !== '' || !c.chain) return;
  removeSelfLinkPins(c, k.iface, k.direction, { name: k.name, version: spec.program.version });
}

/** What the kernel shows of a self-linking tail: its predecessor's slot, the hook running the root. */
export function selfLinkState(c: EngineCore, iface: string, d: ChainDirection, desc: ChainDescription | undefined): { attached: boolean; progId: number } {
  const prevPin = tailPrevPin(c, iface, d);
  const id = prevPin === undefined ? undefined : slotId(prevPin);
  if (id === undefined) return { attached: false, progId: 0 };
  const last = desc?.programs.at(-1);
  const rootOk = desc ? desc.root.linked && (last === undefined || last.linked) : hookProgramId(iface, d) === c.userRoots?.get(iface, d)?.id;
  return { attached: rootOk, progId: id };
}

/** At start: starts the user programs of the stored state that no previous agent left running. */
export async function startStoredUserPrograms(c: EngineCore): Promise<void> {
  const sup = c.sup();
  const chaining = c.config.l3afd.bpfChainingEnabled;
  for (const [iface, st] of c.state) {
    for (const d of CHAIN_DIRECTIONS) {
      const enabled = bySeq(st.lists[d].filter((p) => p.admin_status === 'enabled'));
      for (const p of enabled) {
        if (!hasUserProgram(p) || sup.snapshot(userKey(iface, d, p.name))?.running) continue;
        try {
          if (isSelfLinking(p)) {
            if (p !== enabled.at(-1)) throw new EngineError('a self-linking user program (cmd_start without object_file) must be the last program of its chain (highest seq_id)', 'invalid');
            await startSelfLinking(c, iface, d, p, false);
          } else if (!nativeProblem(p, chaining) && c.inChain(iface, d, p.name)) {
            await startUser(c, iface, d, p);
          } else {
            continue;
          }
          c.rt(iface, d, p.name).restarts++;
        } catch (err) {
          c.rt(iface, d, p.name).lastError = `starting the user program failed: ${messageOf(err)}`;
          c.log.warn({ iface, direction: d, name: p.name, err: messageOf(err) }, 'starting a stored user program failed');
        }
      }
    }
  }
  // agent-held roots nobody needs any more
  for (const { iface, direction } of c.roots().chains()) {
    const needed = c.state.get(iface)?.lists[direction].some((p) => isSelfLinking(p) && sup.snapshot(userKey(iface, direction, p.name))?.running);
    if (!needed || c.running().programs(iface, direction).length > 0) c.roots().release(iface, direction);
  }
}

/** Runs cmd_status of every supervised program with one, every `[web] ebpf-poll-interval`. */
export function startHealth(c: EngineCore): void {
  const sup = c.supervisor;
  if (!sup || c.health) return;
  c.health = setInterval(() => {
    checkRunning(c);
    for (const u of sup.list()) {
      if (u.state === 'running' && userHasStatusCmd(c, u.key)) {
        sup.status(u.key).catch((err: unknown) => c.log.warn({ key: u.key, err: messageOf(err) }, 'cmd_status failed'));
      }
    }
  }, c.config.web.ebpfPollIntervalMs);
  c.health.unref();
}

export function userHasStatusCmd(c: EngineCore, key: string): boolean {
  const k = parseKey(key);
  return k !== undefined && c.state.get(k.iface)?.lists[k.direction]?.find((p) => p.name === k.name)?.cmd_status !== '';
}
