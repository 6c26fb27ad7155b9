/**
 * The state machine the simulator replicates: a tiny key-value register store with put, get and
 * compare-and-set, the operations its linearizability checker understands.
 */
export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'cas'; readonly key: string; readonly from: string | null; readonly to: string };

/** A command as proposed: who asked, so the node that proposed it can answer the client. */
export interface KvProposal {
  readonly client: number;
  readonly opId: number;
  readonly cmd: KvCommand;
}

export interface KvResult {
  readonly ok: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeProposal(p: KvProposal): Uint8Array {
  return encoder.encode(JSON.stringify(p));
}

export function decodeProposal(data: Uint8Array): KvProposal {
  return JSON.parse(decoder.decode(data)) as KvProposal;
}

export class KvStore {
  private readonly data = new Map<string, string>();

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  apply(cmd: KvCommand): KvResult {
    if (cmd.op === 'put') {
      this.data.set(cmd.key, cmd.value);
      return { ok: true };
    }
    if (this.get(cmd.key) !== cmd.from) return { ok: false };
    this.data.set(cmd.key, cmd.to);
    return { ok: true };
  }

  snapshot(): Uint8Array {
    const pairs = [...this.data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return encoder.encode(JSON.stringify(pairs));
  }

  static restore(data: Uint8Array): KvStore {
    const store = new KvStore();
    for (const [k, v] of JSON.parse(decoder.decode(data)) as [string, string][]) store.data.set(k, v);
    return store;
  }
}
