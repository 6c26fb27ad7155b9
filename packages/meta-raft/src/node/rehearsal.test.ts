import t from 'tap';
import { rehearseFailovers } from './rehearsal.js';

t.test('the start-up rehearsal runs every handover and commits every write', async (t) => {
  // A rehearsal that stopped early would leave the paths it was meant to warm cold, silently.
  t.same(rehearseFailovers(60, 20), { handovers: 60, committed: 1200 });
  t.same(rehearseFailovers(3, 1), { handovers: 3, committed: 3 });
  t.same(rehearseFailovers(0, 5), { handovers: 0, committed: 0 });
});
