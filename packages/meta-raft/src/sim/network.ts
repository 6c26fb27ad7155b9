import type { Message, NodeId } from '../core/index.js';
import type { Prng } from '../core/index.js';

/** How badly the simulated network behaves; derived from the seed. */
export interface NetworkProfile {
  /** One-way delay range in virtual milliseconds; random delays also reorder messages. */
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  /** Probability that a message is lost, duplicated, or delayed by a long spike. */
  readonly dropRate: number;
  readonly dupRate: number;
  readonly spikeRate: number;
  readonly spikeMsMax: number;
}

export const CALM_NETWORK: NetworkProfile = {
  delayMsMin: 1, delayMsMax: 5, dropRate: 0, dupRate: 0, spikeRate: 0, spikeMsMax: 0,
};

/**
 * The links between nodes. A link `a>b` can be cut (messages from a to b are lost; cutting only
 * one direction makes an asymmetric partition) or clogged (messages are held, not lost, until the
 * clog clears: FoundationDB's swizzle-clogging).
 */
export class SimNetwork {
  private readonly cut = new Set<string>();
  private readonly clogUntil = new Map<string, number>();
  profile: NetworkProfile;
  sent = 0;
  dropped = 0;
  duplicated = 0;

  constructor(profile: NetworkProfile, private readonly prng: Prng) {
    this.profile = profile;
  }

  /** Delivery times for one message sent now: none if lost, two if duplicated. */
  route(m: Message, now: number): number[] {
    this.sent++;
    const link = linkKey(m.from, m.to);
    if (this.cut.has(link) || this.prng.chance(this.profile.dropRate)) {
      this.dropped++;
      return [];
    }
    const copies = this.prng.chance(this.profile.dupRate) ? 2 : 1;
    if (copies === 2) this.duplicated++;
    const times: number[] = [];
    for (let i = 0; i < copies; i++) {
      let at = now + this.prng.between(this.profile.delayMsMin, this.profile.delayMsMax);
      if (this.prng.chance(this.profile.spikeRate)) at += this.prng.between(1, this.profile.spikeMsMax);
      const clog = this.clogUntil.get(link);
      if (clog !== undefined && clog > now) at = Math.max(at, clog + this.prng.between(0, this.profile.delayMsMax));
      times.push(at);
    }
    return times;
  }

  /** A message arriving over a link that was cut while it was in flight is lost too. */
  deliverable(m: Message): boolean {
    if (this.cut.has(linkKey(m.from, m.to))) {
      this.dropped++;
      return false;
    }
    return true;
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(linkKey(from, to));
  }

  restoreLink(from: NodeId, to: NodeId): void {
    this.cut.delete(linkKey(from, to));
  }

  /** Splits the nodes into groups that cannot talk to each other (both directions). */
  partition(groups: readonly (readonly NodeId[])[]): void {
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cutLink(x, y);
      }
    }
  }

  clog(from: NodeId, to: NodeId, until: number): void {
    this.clogUntil.set(linkKey(from, to), until);
  }

  heal(): void {
    this.cut.clear();
    this.clogUntil.clear();
  }

  describeCuts(): string {
    return [...this.cut].sort().join(' ');
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(linkKey(from, to));
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}
