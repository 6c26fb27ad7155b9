import t from 'tap';
import { HANDOVER_MATCH_SLACK, handoverTarget } from './handover-target.js';

t.test('prefers the follower connected longest among the up-to-date ones', async (t) => {
  t.equal(handoverTarget([
    { id: 'm2', match: 100, connectedSince: 5_000, active: true },
    { id: 'm3', match: 100, connectedSince: 1_000, active: true },
  ]), 'm3');
  // A few entries behind is no reason to pick the one that just restarted.
  t.equal(handoverTarget([
    { id: 'm2', match: 100, connectedSince: 5_000, active: true },
    { id: 'm3', match: 100 - HANDOVER_MATCH_SLACK, connectedSince: 1_000, active: true },
  ]), 'm3');
});

t.test('a follower far behind or not connected is passed over', async (t) => {
  t.equal(handoverTarget([
    { id: 'm2', match: 100, connectedSince: 5_000, active: true },
    { id: 'm3', match: 100 - HANDOVER_MATCH_SLACK - 1, connectedSince: 1_000, active: true },
  ]), 'm2');
  t.equal(handoverTarget([
    { id: 'm2', match: 100, connectedSince: 0, active: true },
    { id: 'm3', match: 90, connectedSince: 7_000, active: true },
  ]), 'm3');
});

t.test('equal connection times go to the more up-to-date follower; nobody connected: the most up to date', async (t) => {
  t.equal(handoverTarget([
    { id: 'm2', match: 99, connectedSince: 1_000, active: true },
    { id: 'm3', match: 100, connectedSince: 1_000, active: true },
  ]), 'm3');
  t.equal(handoverTarget([
    { id: 'm2', match: 100, connectedSince: 0, active: true },
    { id: 'm3', match: 120, connectedSince: 0, active: true },
  ]), 'm3');
  t.equal(handoverTarget([]), null);
});

t.test('a follower that is down or silent is not picked, even with the highest match', async (t) => {
  // Crashed: its last match stays, its stream is down; the live ones are far behind it.
  t.equal(handoverTarget([
    { id: 'm2', match: 1000, connectedSince: 0, active: false },
    { id: 'm3', match: 900, connectedSince: 7_000, active: true },
  ]), 'm3');
  // Paused: its stream never broke (connected longest), but it has not answered lately.
  t.equal(handoverTarget([
    { id: 'm2', match: 100, connectedSince: 1_000, active: false },
    { id: 'm3', match: 100, connectedSince: 7_000, active: true },
  ]), 'm3');
  // Nobody both connected and active: the most up-to-date of those that are one or the other.
  t.equal(handoverTarget([
    { id: 'm2', match: 120, connectedSince: 0, active: false },
    { id: 'm3', match: 100, connectedSince: 7_000, active: false },
  ]), 'm3');
});
