import type { NodeId } from '../core/index.js';

/** What the leader knows of one follower when it picks whom to hand leadership to. */
export interface HandoverCandidate {
  readonly id: NodeId;
  /** The highest log index known to be on the follower's disk. */
  readonly match: number;
  /** Since when (epoch ms) the leader's stream to it has been connected; 0: not connected now. */
  readonly connectedSince: number;
}

/**
 * Entries a follower may lack and still be preferred for being connected longer: a transfer
 * first sends it what it lacks, one round trip for a few entries, while a follower that has just
 * restarted is a cold process (code not yet optimized, caches empty) whose campaign measured
 * about 10 ms slower than a warm one's on loopback.
 */
export const HANDOVER_MATCH_SLACK = 64;

/**
 * The follower a leader that is shutting down hands leadership to: among those connected and at
 * most `HANDOVER_MATCH_SLACK` entries behind the most up-to-date one, the one connected longest
 * (etcd's server picks its longest-connected member too); with nobody connected, the most
 * up-to-date. Null when there is no follower.
 */
export function handoverTarget(followers: readonly HandoverCandidate[]): NodeId | null {
  if (followers.length === 0) return null;
  const bestMatch = Math.max(...followers.map((f) => f.match));
  let best: HandoverCandidate | null = null;
  for (const f of followers) {
    if (f.connectedSince === 0 || f.match < bestMatch - HANDOVER_MATCH_SLACK) continue;
    if (best === null || f.connectedSince < best.connectedSince || (f.connectedSince === best.connectedSince && f.match > best.match)) best = f;
  }
  if (best) return best.id;
  return followers.reduce((a, b) => (b.match > a.match ? b : a)).id;
}
