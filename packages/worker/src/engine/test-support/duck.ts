/** DuckDB (in memory, one thread) loaded with a random table: the reference the engine is compared with. */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Table } from './table.js';

export class Duck {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
  ) {}

  static async open(): Promise<Duck> {
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    return new Duck(instance, await instance.connect());
  }

  /** Creates table `t` holding the table's rows (and `seg`, the segment each row went to). */
  async load(table: Table, segmentOf: (time: number) => number): Promise<void> {
    const dims = table.dimensions.map((d) => `"${d}" VARCHAR`).join(', ');
    const metrics = table.metrics.map((m) => `"${m.name}" ${m.type === 'long' ? 'BIGINT' : 'DOUBLE'}`).join(', ');
    await this.connection.run(`CREATE OR REPLACE TABLE t ("__time" BIGINT, rid INTEGER, seg INTEGER, ${dims}, ${metrics})`);
    const app = await this.connection.createAppender('t');
    for (const r of table.rows) {
      app.appendBigInt(BigInt(r.__time));
      app.appendInteger(r.rid);
      app.appendInteger(segmentOf(r.__time));
      for (const d of table.dimensions) {
        const v = r[d];
        if (v === null || v === undefined) app.appendNull();
        else app.appendVarchar(String(v));
      }
      for (const m of table.metrics) {
        const v = r[m.name];
        if (v === null || v === undefined) app.appendNull();
        else if (m.type === 'long') app.appendBigInt(BigInt(v as number));
        else app.appendDouble(v as number);
      }
      app.endRow();
    }
    app.flushSync();
    app.closeSync();
  }

  async run(sql: string): Promise<void> {
    await this.connection.run(sql);
  }

  async rows(sql: string): Promise<Record<string, unknown>[]> {
    const r = await this.connection.runAndReadAll(sql);
    return r.getRowObjectsJS() as Record<string, unknown>[];
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
