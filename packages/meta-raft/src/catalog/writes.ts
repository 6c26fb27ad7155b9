/**
 * The records one command changes. The driver persists them in the same batch as the applied
 * index, so a crash can never leave the state and the index out of step. One write per key:
 * a later write to the same key in the same command replaces the earlier one.
 */

/** `value: null` deletes. Keys are relative (`seg/…`); the driver adds its own prefix. */
export type RecordWrite = { readonly key: string; readonly value: string | null };

export class WriteSet {
  private readonly byKey = new Map<string, string | null>();

  put(key: string, value: string): void {
    this.byKey.set(key, value);
  }

  delete(key: string): void {
    this.byKey.set(key, null);
  }

  get size(): number {
    return this.byKey.size;
  }

  list(): RecordWrite[] {
    const out: RecordWrite[] = [];
    for (const [key, value] of this.byKey) out.push({ key, value });
    return out;
  }
}
