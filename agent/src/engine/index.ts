/** The desired-state engine: the contract (types.ts) and its implementation over the chain manager and the store. */
export * from './types.ts';
export { createEngine, EngineError, type ChainInspector, type EngineDeps, type PackageSource, type ProgramWithStatus } from './engine.ts';
export { applyMapArgs, MapArgsError } from './map-args.ts';
export { PROBES_REASON, USER_PROGRAM_REASON, RELOAD_FIELDS, changedFields, nativeProblem } from './program-diff.ts';
