import t from 'tap';
import { defaultMemoryBytes, machineMemoryBytes } from './memory-budget.js';

const GiB = 1024 ** 3;

t.test('the default decoded-segment memory scales with the machine, within bounds', async (t) => {
  t.equal(defaultMemoryBytes(200 * GiB, 24 * GiB), 3 * GiB, 'an eighth of 24 GiB');
  t.equal(defaultMemoryBytes(200 * GiB, 4 * GiB), 1 * GiB, 'at least 1 GiB on a small machine');
  t.equal(defaultMemoryBytes(200 * GiB, 512 * GiB), 16 * GiB, 'at most 16 GiB on a large one');
  t.equal(defaultMemoryBytes(2 * GiB, 64 * GiB), 2 * GiB, 'never more than the disk cache holds');
  t.equal(defaultMemoryBytes(100 * 1024 ** 2, 64 * GiB), 100 * 1024 ** 2, 'a tiny cache: all of it');
});

t.test('the machine memory is a positive number of bytes', async (t) => {
  const m = machineMemoryBytes();
  t.ok(Number.isSafeInteger(m) && m > 0, `${m} bytes`);
});
