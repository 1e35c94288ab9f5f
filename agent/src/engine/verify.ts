/**
 * The dry run's verifier check: a package's entry program loaded into the kernel on its own (its
 * maps created, nothing pinned, nothing attached or linked), then released. The verdict carries the
 * instructions the verifier processed, or the error and the verifier log's last lines.
 */
import { BpfError, BpfObject } from '../bpf/index.ts';
import type { ChainDirection } from '../chain/index.ts';
import { messageOf } from '../error-message.ts';
import type { VerifierVerdict } from '../payload/index.ts';

function lastLines(text: string | undefined, n: number): string | undefined {
  if (!text) return undefined;
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/** Loads `entry` of `objectPath` as a program of `direction`'s hook and releases it. */
export function verifyObject(objectPath: string, entry: string, nextMap: string, direction: ChainDirection): VerifierVerdict {
  let obj: BpfObject;
  try {
    obj = BpfObject.open(objectPath, { programTypes: { [entry]: direction === 'xdp_ingress' ? 'xdp' : 'sched_cls' } });
  } catch (err) {
    return { ok: false, error: `cannot open the object: ${messageOf(err)}` };
  }
  try {
    if (!obj.programNames.includes(entry)) return { ok: false, error: `the object has no program '${entry}' (it has: ${obj.programNames.join(', ') || 'none'})` };
    for (const p of obj.programNames) if (p !== entry) obj.skipProgram(p);
    obj.load(); // the verifier's verdict first; the chain's own requirement after it
    const insns = obj.program(entry).info().verifiedInstructions;
    if (nextMap !== '' && !obj.mapNames.includes(nextMap)) return { ok: false, insns, error: `the object has no map '${nextMap}' to chain through (it has: ${obj.mapNames.join(', ') || 'none'})` };
    return { ok: true, insns };
  } catch (err) {
    const log = lastLines(err instanceof BpfError ? err.verifierLog : undefined, 20);
    return { ok: false, error: messageOf(err).split('\n')[0] ?? 'load failed', ...(log === undefined ? {} : { log }) };
  } finally {
    obj.close();
  }
}
