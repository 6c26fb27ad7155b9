/** A datasource's slots stay in timeline order however publishes interleave. */
import t from 'tap';
import { Prng } from '../core/prng.js';
import { DatasourceIndex } from './datasource-index.js';
import { SegmentTable } from './segment-table.js';

const HOUR = 3_600_000;

t.test('inserts in any order keep the slots in timeline order', async (t) => {
  for (let seed = 1; seed <= 50; seed++) {
    const rnd = new Prng(seed);
    const table = new SegmentTable();
    const ds = new DatasourceIndex('d', 0);
    let n = 0;
    const all: number[] = [];
    for (let batch = 0; batch < 20; batch++) {
      // Mostly a little behind the newest (concurrent publishers), sometimes far back, sometimes ahead.
      const base = rnd.chance(0.2) ? rnd.int(100) : 80 + batch * 5 + rnd.between(-10, 10);
      const added: number[] = [];
      for (let k = 0; k < rnd.between(1, 6); k++) {
        const start = (base + k) * HOUR;
        const version = rnd.pick(['v1', 'v2']);
        const partition = n++;
        added.push(table.add({ id: `d_${start}_${version}_${partition}`, dataSource: 'd', start, end: start + rnd.between(1, 3) * HOUR, version, partition, partitions: partition + 1, size: 1, rows: 1, schema: 0, checksum: '0'.repeat(64), location: '', used: true, ingestionId: 'i', publishedAt: 0 }));
      }
      all.push(...added);
      ds.insert(table, rnd.shuffle(added));
      const expected = [...all].sort((a, b) => table.compare(a, b));
      t.same(ds.slots, expected, `seed ${seed}, batch ${batch}`);
    }
    t.equal(ds.slots.length, n);
  }
});
