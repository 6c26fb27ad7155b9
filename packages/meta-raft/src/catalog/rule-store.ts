/**
 * Retention rules per datasource, and the cluster default rules under `_default`, as in Druid.
 * A datasource without rules of its own falls through to the defaults. Until someone sets them,
 * the defaults are "load forever, two replicas on the default tier", and no record exists.
 */
import { canonicalJson, DEFAULT_RULES_KEY, deepFreeze, INITIAL_DEFAULT_RULES, rulesSchema, type Rule } from '@cairn/shared';
import { assert } from '../core/assert.js';
import type { ParsedCommandOf } from './commands.js';
import { byCodeUnits, PREFIX } from './keys.js';
import type { CommandResult } from './results.js';
import type { WriteSet } from './writes.js';

export class RuleStore {
  /** Rule lists that have a record, keyed by datasource (or `_default`); frozen, shared with readers. */
  private readonly byDatasource = new Map<string, readonly Rule[]>();
  private readonly texts = new Map<string, string>();

  get size(): number {
    return this.byDatasource.size;
  }

  /**
   * Replaces a datasource's rules (the datasource need not exist, as in Druid). An empty list
   * removes a datasource's own rules; for `_default` it is kept, meaning "no default rules".
   */
  set(c: ParsedCommandOf<'setRules'>, writes: WriteSet): CommandResult {
    const key = PREFIX.rules + c.dataSource;
    const text = canonicalJson(c.rules);
    const remove = c.rules.length === 0 && c.dataSource !== DEFAULT_RULES_KEY;
    if (remove ? !this.texts.has(c.dataSource) : this.texts.get(c.dataSource) === text) return { ok: true, changed: false };
    if (remove) {
      this.byDatasource.delete(c.dataSource);
      this.texts.delete(c.dataSource);
      writes.delete(key);
    } else {
      this.store(c.dataSource, text);
      writes.put(key, text);
    }
    return { ok: true, changed: true };
  }

  /** The datasource's own rules ([] when it has none). */
  rules(dataSource: string): readonly Rule[] {
    return dataSource === DEFAULT_RULES_KEY ? this.defaultRules() : (this.byDatasource.get(dataSource) ?? []);
  }

  defaultRules(): readonly Rule[] {
    return this.byDatasource.get(DEFAULT_RULES_KEY) ?? INITIAL_DEFAULT_RULES;
  }

  /** Every rule list, `_default` included, as Druid's `GET /rules` returns them. */
  all(): Record<string, readonly Rule[]> {
    const out: Record<string, readonly Rule[]> = { [DEFAULT_RULES_KEY]: this.defaultRules() };
    for (const name of [...this.byDatasource.keys()].sort(byCodeUnits)) out[name] = this.byDatasource.get(name)!;
    return out;
  }

  /** Keeps the rules as parsed from their canonical text, so a live catalog and a reloaded one hold identical objects. */
  private store(name: string, text: string): void {
    const parsed = rulesSchema.safeParse(JSON.parse(text));
    assert(parsed.success, `rules of ${name} do not parse: ${text}`);
    this.byDatasource.set(name, deepFreeze(parsed.data));
    this.texts.set(name, text);
  }

  load(key: string, value: string): void {
    this.store(key.slice(PREFIX.rules.length), value);
  }

  *records(): Generator<[string, string]> {
    for (const name of [...this.texts.keys()].sort(byCodeUnits)) yield [PREFIX.rules + name, this.texts.get(name)!];
  }
}
