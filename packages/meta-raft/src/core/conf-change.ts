import type { ConfState, NodeId } from './types.js';

/**
 * A single-server membership change. Changing one voter at a time keeps any two majorities of the
 * old and new configurations overlapping, so no joint consensus is needed (Raft dissertation 4.1).
 * `bootstrap` is the first entry of a new group and names its initial voters.
 */
export type ConfChange =
  | { readonly type: 'bootstrap'; readonly voters: readonly NodeId[] }
  | { readonly type: 'add-learner'; readonly node: NodeId }
  | { readonly type: 'add-voter'; readonly node: NodeId }
  | { readonly type: 'remove'; readonly node: NodeId };

export const EMPTY_CONF: ConfState = { voters: [], learners: [] };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const cc = JSON.parse(decoder.decode(data)) as ConfChange;
  switch (cc.type) {
    case 'bootstrap':
    case 'add-learner':
    case 'add-voter':
    case 'remove':
      return cc;
    default:
      throw new Error(`decodeConfChange: unknown type ${JSON.stringify((cc as { type: unknown }).type)}`);
  }
}

/** Why a change cannot be applied to `conf`, or null if it can. */
export function confChangeError(conf: ConfState, cc: ConfChange): string | null {
  switch (cc.type) {
    case 'bootstrap':
      return cc.voters.length === 0 ? 'bootstrap needs at least one voter' : null;
    case 'add-learner':
      if (conf.voters.includes(cc.node)) return `${cc.node} is already a voter`;
      if (conf.learners.includes(cc.node)) return `${cc.node} is already a learner`;
      return null;
    case 'add-voter':
      return conf.voters.includes(cc.node) ? `${cc.node} is already a voter` : null;
    case 'remove':
      if (!conf.voters.includes(cc.node) && !conf.learners.includes(cc.node)) return `${cc.node} is not a member`;
      if (conf.voters.length === 1 && conf.voters[0] === cc.node) return 'cannot remove the last voter';
      return null;
  }
}

/**
 * The configuration after `cc`. A change that no longer fits (it was proposed against an older
 * configuration) leaves the configuration as it is, identically on every node.
 */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  if (confChangeError(conf, cc) !== null) return conf;
  switch (cc.type) {
    case 'bootstrap':
      return { voters: [...cc.voters], learners: [] };
    case 'add-learner':
      return { voters: conf.voters, learners: [...conf.learners, cc.node] };
    case 'add-voter':
      return { voters: [...conf.voters, cc.node], learners: conf.learners.filter((id) => id !== cc.node) };
    case 'remove':
      return {
        voters: conf.voters.filter((id) => id !== cc.node),
        learners: conf.learners.filter((id) => id !== cc.node),
      };
  }
}
