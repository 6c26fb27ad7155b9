/**
 * The coordinator's dynamic configuration as the catalog stores it: a partial object (unset
 * keys take the planner's defaults), replicated like rules so every leader plans alike.
 * Record `cfg/coordinator`: canonical JSON of the partial object.
 */
import { z } from 'zod';
import { canonicalJson } from '@cairn/shared';
import type { ParsedCommandOf } from './commands.js';
import type { CommandResult } from './results.js';
import type { WriteSet } from './writes.js';

const count = z.number().int().min(0).max(10_000_000);
const ms = z.number().int().min(0).max(7 * 86_400_000);

/** Every settable key, with its range; unknown keys are refused with their name. */
export const coordinatorConfigSchema = z.strictObject({
  replicationThrottleLimit: count.optional(),
  maxSegmentsToMove: count.optional(),
  loadQueueMax: count.min(1).optional(),
  gracePeriodMs: ms.optional(),
  heartbeatTimeoutMs: ms.min(100).optional(),
  hotFactor: z.number().gt(1).max(1e6).optional(),
  hotMinQueries: count.optional(),
  hotExtraReplicasMax: z.number().int().min(0).max(100).optional(),
  hotCoolRatio: z.number().gt(0).max(1).optional(),
  balance: z.boolean().optional(),
  balanceThresholdRatio: z.number().min(0).max(100).optional(),
  costHalfLifeMs: z.number().int().min(1).max(365 * 86_400_000).optional(),
  costFullnessWeight: z.number().min(0).max(1e6).optional(),
  changesMax: z.number().int().min(1).max(100_000).optional(),
  /** How often the leader plans, in ms. */
  periodMs: z.number().int().min(50).max(600_000).optional(),
});

export type CoordinatorConfig = z.output<typeof coordinatorConfigSchema>;
export const COORDINATOR_CONFIG_KEY = 'cfg/coordinator';

export class CoordinatorConfigStore {
  private text = '{}';
  private value: CoordinatorConfig = {};

  get(): CoordinatorConfig {
    return this.value;
  }

  /** Replaces the stored keys with `c.config` merged over them (`null` unsets a key). */
  set(c: ParsedCommandOf<'setCoordinatorConfig'>, writes: WriteSet): CommandResult {
    const merged: Record<string, unknown> = { ...this.value };
    for (const [k, v] of Object.entries(c.config)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    const text = canonicalJson(merged);
    if (text === this.text) return { ok: true, changed: false };
    this.text = text;
    this.value = Object.freeze(coordinatorConfigSchema.parse(merged));
    writes.put(COORDINATOR_CONFIG_KEY, text);
    return { ok: true, changed: true };
  }

  load(value: string): void {
    this.text = value;
    this.value = Object.freeze(coordinatorConfigSchema.parse(JSON.parse(value)));
  }

  *records(): Generator<[string, string]> {
    if (this.text !== '{}') yield [COORDINATOR_CONFIG_KEY, this.text];
  }
}
