import type { NodeId } from './types.js';

/** Votes needed out of `voters` for a majority. */
export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * The highest index that a majority of voters have stored: the candidate commit index.
 * `matchOf` returns how far each voter's log is known to match the leader's.
 * Example: matches [5, 3, 9] -> 5.
 */
export function majorityIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  // The largest match that at least a quorum of voters reach, by counting rather than sorting a
  // copy: the leader asks on every proposal and every ack, and groups have a handful of voters.
  const need = quorumSize(voters.length);
  let best = 0;
  for (const id of voters) {
    const m = matchOf(id);
    if (m <= best) continue;
    let reach = 0;
    for (const other of voters) if (matchOf(other) >= m) reach++;
    if (reach >= need) best = m;
  }
  return best;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** Decides an election from the votes received so far (true = granted). */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const need = quorumSize(voters.length);
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (granted >= need) return 'won';
  if (voters.length - rejected < need) return 'lost';
  return 'pending';
}

/** Whether the voters marked active form a majority. */
export function hasQuorum(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  let n = 0;
  for (const id of voters) if (active(id)) n++;
  return n >= quorumSize(voters.length);
}
