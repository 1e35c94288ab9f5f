/**
 * The ETag of the desired state, and the dry run: the plan of a change and the verifier's verdict on
 * what it would load, with nothing linked and nothing stored.
 */
import { existsSync } from 'node:fs';
import { messageOf } from '../error-message.ts';
import { checkAddUpdateSemantics, checkDeleteSemantics, type AddUpdateBody, type DeleteBody, type DryRunResult, type PlanItem, type VerifierVerdict } from '../payload/index.ts';
import { planChange, type ChangeState } from './change-plan.ts';
import { etagOf } from './etag.ts';
import type { EngineCore } from './core.ts';
import { EngineError } from './errors.ts';
import { objectIn, fetchPackage } from './packages.ts';
import { isSelfLinking } from './user-programs.ts';
import { verifyObject } from './verify.ts';

/** The ETag of the desired state (throws `degraded` when the engine started over an unreadable store). */
export function etag(c: EngineCore): string {
  c.usable();
  return etagOf(c.elements());
}

/** What a change is planned against: the desired state and the kernel chains now. */
export function changeState(c: EngineCore): ChangeState {
  return {
    ifaces: [...c.state.keys()],
    list: (iface, d) => c.state.get(iface)?.lists[d] ?? [],
    live: (iface, d) => new Set(c.chain?.programs(iface, d).map((el) => el.name) ?? []),
    probes: c.probesWanted,
    chaining: c.config.l3afd.bpfChainingEnabled };
}

/** The plan of a change and the verifier's verdict on what it would load (run in the queue's turn). */
export async function dryRunPlan(c: EngineCore, mode: 'add' | 'update' | 'delete', body: AddUpdateBody | DeleteBody): Promise<DryRunResult> {
  c.running();
  const problems = mode === 'delete' ? checkDeleteSemantics(body as DeleteBody) : checkAddUpdateSemantics(body as AddUpdateBody);
  if (problems.length > 0) throw new EngineError(`invalid ${mode} body: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, 'invalid');
  const plan = planChange(mode, body, changeState(c));
  const items: PlanItem[] = [];
  for (const { item, program: p, direction } of plan.programs) {
    if ((item.action !== 'load' && item.action !== 'replace') || item.verifier) {
      items.push(item);
      continue;
    }
    let verdict: VerifierVerdict;
    let sha256: string | undefined;
    try {
      const pkg = await fetchPackage(c, p);
      sha256 = pkg.sha256;
      if (direction === 'probes' || isSelfLinking(p)) {
        verdict = p.object_file === '' || existsSync(objectIn(pkg.dir, p.object_file)) ? { ok: true } : { ok: false, error: `the package has no object file '${p.object_file}'` };
      } else {
        const path = objectIn(pkg.dir, p.object_file);
        verdict = existsSync(path) ? verifyObject(path, p.entry_function_name, p.map_name, direction) : { ok: false, error: `the package has no object file '${p.object_file}'` };
      }
    } catch (err) {
      verdict = { ok: false, error: `fetching the package failed: ${messageOf(err)}` };
    }
    items.push({ ...item, ...(sha256 === undefined ? {} : { sha256 }), verifier: verdict });
  }
  return { dry_run: true, ok: items.every((i) => i.verifier?.ok !== false), etag: etag(c), plan: items, chains: plan.chains };
}
