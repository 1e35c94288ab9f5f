/**
 * Per-program results of an operation, in the payload's order, and l3afd's stop-at-first-failure per interface.
 */
import { ArtifactError } from '../artifacts/index.ts';
import type { PayloadDirection, ProgramResult, RepositoryErrorCode } from './types.ts';

/** The repository failure behind `err` (a package that could not be fetched), if that is what it is. */
export function repositoryErrorCode(err: unknown): RepositoryErrorCode | undefined {
  if (!(err instanceof ArtifactError)) return undefined;
  if (err.code === 'TIMEOUT') return 'REPOSITORY_TIMEOUT';
  if (err.code === 'UNREACHABLE') return 'REPOSITORY_UNREACHABLE';
  return undefined;
}

/** Per-program result collector that keeps the payload's order. */
export class Results {
  readonly #out = new Map<string, ProgramResult>();
  constructor(readonly iface: string, readonly direction: PayloadDirection) {}
  set(name: string, outcome: ProgramResult['outcome'], reason?: string, cause?: unknown): void {
    const code = outcome === 'failed' ? repositoryErrorCode(cause) : undefined;
    this.#out.set(name, {
      iface: this.iface, direction: this.direction, name, outcome, ...(reason === undefined ? {} : { reason }), ...(code === undefined ? {} : { error_code: code }) });
  }
  get(name: string): ProgramResult | undefined {
    return this.#out.get(name);
  }
  /** The results of `names` in that order, then any others. */
  ordered(names: readonly string[]): ProgramResult[] {
    const first = names.flatMap((n) => this.#out.get(n) ?? []);
    return [...first, ...[...this.#out.values()].filter((r) => !first.includes(r))];
  }
}

/**
 * l3afd's partial apply: within one interface of a payload, the first program that fails ends the
 * interface's payload (the programs after it are not applied and reported failed, with why); the
 * other interfaces go on.
 */
export class PayloadHalt {
  reason: string | undefined;
  /** The repository failure that stopped the payload, if that is what stopped it: what is not applied after it fails for the same cause. */
  #code: ProgramResult['error_code'];
  constructor(readonly iface: string) {}
  /** True (and a result pushed) when the interface's payload stopped before `name`. */
  skip(out: ProgramResult[], direction: PayloadDirection, name: string): boolean {
    if (this.reason === undefined) return false;
    out.push({ iface: this.iface, direction, name, outcome: 'failed', reason: `not applied: ${this.reason}`, ...(this.#code === undefined ? {} : { error_code: this.#code }) });
    return true;
  }
  record(out: ProgramResult[], r: ProgramResult): void {
    out.push(r);
    if (r.outcome !== 'failed' || this.reason !== undefined) return;
    this.reason = `'${r.name}' (${r.direction}) failed before it, and l3afd stops an interface's payload at its first failure`;
    this.#code = r.error_code;
  }
}
