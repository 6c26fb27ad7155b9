import type { NodeId } from '../core/index.js';

/** What the leader knows of one follower when it picks whom to hand leadership to. */
export interface HandoverCandidate {
  readonly id: NodeId;
  /** The highest log index known to be on the follower's disk. */
  readonly match: number;
  /** Since when (monotonic ms) the leader's stream to it has been connected; 0: not connected now. */
  readonly connectedSince: number;
  /** Heard from within the last election timeout: a stream can stay connected to a paused process. */
  readonly active: boolean;
}

/**
 * Entries a follower may lack and still be preferred for being connected longer: a transfer
 * first sends it what it lacks, one round trip for a few entries, while a follower that has just
 * restarted is a cold process (code not yet optimized, caches empty) whose campaign measured
 * about 10 ms slower than a warm one's on loopback.
 */
export const HANDOVER_MATCH_SLACK = 64;

/**
 * The follower a leader that is shutting down hands leadership to. Among the followers that are
 * connected and active, those at most `HANDOVER_MATCH_SLACK` entries behind the most up-to-date
 * of them compete, and the one connected longest wins (etcd's server picks its longest-connected
 * member too). With none connected and active, the most up-to-date follower that is at least
 * connected or active, then any. Null when there is no follower. A bad pick costs time, never
 * safety: the core sends TimeoutNow only to a voter whose log matches the leader's.
 */
export function handoverTarget(followers: readonly HandoverCandidate[]): NodeId | null {
  const live = followers.filter((f) => f.connectedSince > 0 && f.active);
  if (live.length > 0) {
    const bestMatch = Math.max(...live.map((f) => f.match));
    let best: HandoverCandidate | null = null;
    for (const f of live) {
      if (f.match < bestMatch - HANDOVER_MATCH_SLACK) continue;
      if (best === null || f.connectedSince < best.connectedSince || (f.connectedSince === best.connectedSince && f.match > best.match)) best = f;
    }
    return best!.id;
  }
  const reachable = followers.filter((f) => f.connectedSince > 0 || f.active);
  const pool = reachable.length > 0 ? reachable : followers;
  if (pool.length === 0) return null;
  return pool.reduce((a, b) => (b.match > a.match ? b : a)).id;
}
