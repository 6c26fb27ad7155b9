import { Catalog } from '../catalog/index.js';
import type { CommandResult } from '../catalog/index.js';
import type { StateMachine, StateMachineFactory } from './raft-node.js';
import type { RecordWrite } from './raft-storage.js';

const decoder = new TextDecoder();

/** The catalog as the Raft node's state machine: log entries are JSON-encoded commands. */
export class CatalogMachine implements StateMachine {
  constructor(readonly catalog: Catalog) {}

  apply(data: Uint8Array, at: { index: number; term: number }): { result: CommandResult; writes: readonly RecordWrite[] } {
    let command: unknown;
    try {
      command = JSON.parse(decoder.decode(data));
    } catch (err) {
      // Only this build's own nodes propose; a malformed entry is answered, never fatal.
      return { result: { ok: false, error: { code: 'INVALID', message: `undecodable command: ${(err as Error).message}` } }, writes: [] };
    }
    return this.catalog.apply(command, at);
  }

  records(): Iterable<[string, string]> {
    return this.catalog.records();
  }
}

export const catalogMachines: StateMachineFactory<CatalogMachine> = {
  fromRecords: (records) => new CatalogMachine(Catalog.fromRecords(records)),
  async load(batches) {
    const loader = Catalog.loader();
    for await (const batch of batches) for (const [k, v] of batch) loader.add(k, v);
    return new CatalogMachine(loader.finish());
  },
};

const encoder = new TextEncoder();

/** Encodes a command for proposal, stamped with the proposer's clock. */
export function encodeCommand(command: Record<string, unknown> & { type: string }): Uint8Array {
  return encoder.encode(JSON.stringify({ ...command, at: Date.now() }));
}
