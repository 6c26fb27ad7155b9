import t from 'tap';
import { HANDOVER_MATCH_SLACK, handoverTarget } from './handover-target.js';

t.test('prefers the follower connected longest among the up-to-date ones', async (t) => {
  t.equal(handoverTarget([
    { id: 'm2', match: 100, connectedSince: 5_000 },
    { id: 'm3', match: 100, connectedSince: 1_000 },
  ]), 'm3');
  // A few entries behind is no reason to pick the one that just restarted.
  t.equal(handoverTarget([
    { id: 'm2', match: 100, connectedSince: 5_000 },
    { id: 'm3', match: 100 - HANDOVER_MATCH_SLACK, connectedSince: 1_000 },
  ]), 'm3');
});

t.test('a follower far behind or not connected is passed over', async (t) => {
  t.equal(handoverTarget([
    { id: 'm2', match: 100, connectedSince: 5_000 },
    { id: 'm3', match: 100 - HANDOVER_MATCH_SLACK - 1, connectedSince: 1_000 },
  ]), 'm2');
  t.equal(handoverTarget([
    { id: 'm2', match: 100, connectedSince: 0 },
    { id: 'm3', match: 90, connectedSince: 7_000 },
  ]), 'm3');
});

t.test('equal connection times go to the more up-to-date follower; nobody connected: the most up to date', async (t) => {
  t.equal(handoverTarget([
    { id: 'm2', match: 99, connectedSince: 1_000 },
    { id: 'm3', match: 100, connectedSince: 1_000 },
  ]), 'm3');
  t.equal(handoverTarget([
    { id: 'm2', match: 100, connectedSince: 0 },
    { id: 'm3', match: 120, connectedSince: 0 },
  ]), 'm3');
  t.equal(handoverTarget([]), null);
});
