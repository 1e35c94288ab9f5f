/**
 * The chain engine's kernel-facing core: pin layout, chain elements and hitless chains per
 * (interface, direction). Sits between the reconciler and the kernel layer (agent/src/bpf).
 */
export {
  PinLayout, CHAIN_DIRECTIONS, STAGED_SUFFIX, progTypeOf, versionSegment, checkSegment, checkIdentifier,
  type ChainDirection, type PinProgType, type PinnedProgramRef, type PinnedMapDirRef,
} from './pin-layout.ts';
export { ChainProgram, CHAIN_SLOT, checkSpec, type ProgramSpec, type MapSource, type ChainPlace, type LoadOptions, type ReusableMaps } from './chain-program.ts';
export {
  ChainManager, type ChainManagerOptions, type RootSpecs, type ElementState, type ChainDescription, type Orphan,
  type AdoptReport, type AdoptOptions, type AdoptedRef, type ReplaceOptions,
} from './chain-manager.ts';
export { ChainError, type ChainErrorCode } from './errors.ts';
export { KeyedMutex } from './keyed-mutex.ts';
