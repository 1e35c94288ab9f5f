/**
 * The ChainManager an agent config asks for: pins under `BpfMapDefaultPath`, no roots without
 * chaining (`bpf-chaining-enabled = false`), and TC attached by TCX links where the kernel has
 * them (`[l3af] tc-attach = auto`, as l3afd on kernels with TCX) or by clsact filters.
 */
import { tcxSupported } from '../bpf/index.ts';
import type { ChainManagerOptions, RootSpecs } from '../chain/index.ts';
import type { AgentConfig } from '../config/index.ts';

/** `tcx` or `clsact` for `[l3af] tc-attach` on this kernel. */
export function tcAttachMode(mode: 'auto' | 'tcx' | 'clsact', kernelHasTcx: () => boolean = () => tcxSupported()): 'tcx' | 'clsact' {
  if (mode === 'auto') return kernelHasTcx() ? 'tcx' : 'clsact';
  return mode;
}

/** ChainManager options of `config`. */
export function chainManagerOptions(config: AgentConfig, roots: RootSpecs): ChainManagerOptions {
  return {
    pinRoot: config.l3afd.bpfMapDefaultPath,
    roots,
    direct: !config.l3afd.bpfChainingEnabled,
    tcAttach: tcAttachMode(config.l3af.tcAttach),
  };
}
