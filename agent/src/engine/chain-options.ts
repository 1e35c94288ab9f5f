/**
 * The ChainManager an agent config asks for: pins under `BpfMapDefaultPath`, no roots without
 * chaining (`bpf-chaining-enabled = false`), and TC attached by TCX links where the kernel has
 * them (`[l3af] tc-attach = auto`, as l3afd on kernels with TCX) or by clsact filters.
 */
import { join } from 'node:path';
import { tcxSupported } from '../bpf/index.ts';
import type { ChainDirection, ChainManagerOptions, RootSpecs } from '../chain/index.ts';
import { projectRoot, type AgentConfig } from '../config/index.ts';

/** `tcx` or `clsact` for `[l3af] tc-attach` on this kernel. */
export function tcAttachMode(mode: 'auto' | 'tcx' | 'clsact', kernelHasTcx: () => boolean = () => tcxSupported()): 'tcx' | 'clsact' {
  if (mode === 'auto') return kernelHasTcx() ? 'tcx' : 'clsact';
  return mode;
}

/**
 * Which chains count per program, from `[l3af] chain-counting`: `all`, an interface, `<iface>/<direction>`
 * or `* /<direction>` (no space). Undefined when the list is empty.
 */
export function countingChains(entries: readonly string[]): ((iface: string, direction: ChainDirection) => boolean) | undefined {
  const list = entries.map((e) => e.trim()).filter((e) => e !== '');
  if (list.length === 0) return undefined;
  return (iface, direction) => list.some((e) => {
    if (e === 'all' || e === iface) return true;
    const [i, d] = e.split('/');
    return d === direction && (i === iface || i === '*');
  });
}

/** The agent's counting step (programs/src/count_step.bpf.c, built by `make -C programs`). */
export function countStepObject(): string {
  return join(projectRoot(), 'programs', 'build', 'count_step.bpf.o');
}

/** ChainManager options of `config`. */
export function chainManagerOptions(config: AgentConfig, roots: RootSpecs): ChainManagerOptions {
  const where = countingChains(config.l3af.chainCounting);
  return {
    pinRoot: config.l3afd.bpfMapDefaultPath,
    roots,
    direct: !config.l3afd.bpfChainingEnabled,
    tcAttach: tcAttachMode(config.l3af.tcAttach),
    ...(where ? { countSteps: { objectPath: countStepObject(), where } } : {}),
  };
}
