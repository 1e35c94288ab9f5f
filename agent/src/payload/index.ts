/**
 * Payload schemas of the l3afd-compatible API: TypeBox schemas (validation + OpenAPI), their
 * static types, l3afd-shape normalisation, semantic checks and error formatting.
 */
export * from './program.ts';
export * from './payloads.ts';
export * from './normalize.ts';
export * from './semantics.ts';
export * from './errors.ts';
export * as patterns from './patterns.ts';
export * from './unknown-keys.ts';
export * from './fleet.ts';
export * from './responses.ts';
