import type { Context } from 'hono';
import { formatZodError } from '@cairn/shared';
import { catalogCommandSchema } from '../catalog/index.js';
import type { Catalog, CommandResult } from '../catalog/index.js';
import type { CatalogMachine } from '../node/catalog-machine.js';
import type { CoordinatorDriver } from '../node/coordinator-driver.js';
import { encodeCommand } from '../node/catalog-machine.js';
import type { ClusterConfig, MetaMember } from '../node/cluster-config.js';
import type { Logger } from '../node/logger.js';
import type { NodeMetrics } from '../node/metrics.js';
import type { RaftNode } from '../node/raft-node.js';
import { ApiError } from './errors.js';

/** Everything the HTTP layer needs from the node; built once in `main.ts`. */
export interface ServerDeps {
  readonly node: RaftNode<CatalogMachine>;
  readonly config: ClusterConfig;
  readonly self: MetaMember;
  readonly metrics: NodeMetrics;
  readonly log: Logger;
  readonly version: string;
  readonly coordinator: CoordinatorDriver;
}

/**
 * Reads are linearizable by default: a ReadIndex round confirms that this node has applied
 * every write committed before the request. `?consistency=stale` (or etcd's `serializable`)
 * answers from the local state at once.
 */
export async function readCatalog(deps: ServerDeps, c: Context, stale = false): Promise<Catalog> {
  const consistency = c.req.query('consistency');
  if (consistency !== undefined && consistency !== 'stale' && consistency !== 'linearizable') {
    throw new ApiError('INVALID', `consistency must be "linearizable" or "stale", not ${JSON.stringify(consistency)}`);
  }
  if (!stale && consistency !== 'stale') await deps.node.linearizableRead();
  return deps.node.machine.catalog;
}

/**
 * Validates a command at the edge with the state machine's own schema, so nothing malformed
 * reaches the log (a command refused only at apply has still taken a log entry on every member).
 */
export function checked(type: string, fields: Record<string, unknown>): Record<string, unknown> & { type: string } {
  const command = { ...fields, type, at: Date.now() };
  const parsed = catalogCommandSchema.safeParse(command);
  if (!parsed.success) throw new ApiError('INVALID', formatZodError(parsed.error));
  return command;
}

/** Proposes a catalog command and returns its successful result, or throws its error. */
export async function writeCatalog<T = Extract<CommandResult, { ok: true }>>(deps: ServerDeps, command: Record<string, unknown> & { type: string }): Promise<T> {
  const result = await deps.node.propose<CommandResult>(encodeCommand(command));
  if (!result.ok) throw new ApiError(result.error.code === 'LIMIT_EXCEEDED' ? 'PAYLOAD_TOO_LARGE' : result.error.code, result.error.message);
  return result as T;
}
