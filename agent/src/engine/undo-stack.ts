/**
 * One undo stack for an operation: each step pushes how to take itself back, under the name of the
 * program it changed; a program's failure rolls back its own entries (newest first), its success
 * commits them. Rollback errors are reported, never thrown (the step's own error is the answer).
 */
export class UndoStack {
  readonly #entries: { owner: string; undo: () => Promise<void> }[] = [];
  constructor(private readonly onError: (owner: string, err: unknown) => void) {}

  push(owner: string, undo: () => Promise<void>): void {
    this.#entries.push({ owner, undo });
  }

  /** How many entries `owner` holds. */
  count(owner: string): number {
    return this.#entries.filter((e) => e.owner === owner).length;
  }

  /** Runs `owner`'s entries, newest first, and drops them. */
  async rollback(owner: string): Promise<void> {
    const mine = this.#entries.filter((e) => e.owner === owner).reverse();
    this.#drop(owner);
    for (const e of mine) await e.undo().catch((err: unknown) => this.onError(owner, err));
  }

  /** Keeps what `owner` did: its entries go. */
  commit(owner: string): void {
    this.#drop(owner);
  }

  get size(): number {
    return this.#entries.length;
  }

  #drop(owner: string): void {
    for (let i = this.#entries.length - 1; i >= 0; i--) if (this.#entries[i]?.owner === owner) this.#entries.splice(i, 1);
  }
}
