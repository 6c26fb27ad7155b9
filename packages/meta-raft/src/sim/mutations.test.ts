import t from 'tap';
import { RaftCore, RaftLog } from '../core/index.js';
import { runSeed } from './run.js';

/**
 * The checks must be able to fail. Each case breaks one rule of Raft on purpose (patching the
 * prototype for the duration of the case only) and requires the swarm to catch it within a
 * bounded number of seeds. A case that passes here proves the harness has teeth for that rule.
 */
const SEEDS_MAX = 400;

function firstFailure(): { seed: number; kind: string; message: string } | null {
  for (let seed = 1; seed <= SEEDS_MAX; seed++) {
    const r = runSeed(seed);
    if (!r.ok) return { seed, kind: r.failure!.kind, message: r.failure!.message.split('\n')[0]! };
  }
  return null;
}

function withPatch(target: object, name: string, replacement: unknown, body: () => void): void {
  const original = Object.getOwnPropertyDescriptor(target, name)!;
  Object.defineProperty(target, name, { ...original, value: replacement });
  try {
    body();
  } finally {
    Object.defineProperty(target, name, original);
  }
}

t.test('voting without the up-to-date check loses committed entries', async (t) => {
  withPatch(RaftLog.prototype, 'isUpToDate', () => true, () => {
    const f = firstFailure();
    t.ok(f, `caught: ${f ? `seed ${f.seed} (${f.kind}) ${f.message}` : 'nothing'}`);
  });
});

t.test('answering ReadIndex without a heartbeat round serves stale reads', async (t) => {
  const proto = RaftCore.prototype as unknown as Record<string, (this: Record<string, (...a: unknown[]) => unknown>, ...a: unknown[]) => unknown>;
  withPatch(proto, 'leaderReadIndex', function (this: Record<string, (...a: unknown[]) => unknown>, from: unknown, context: unknown) {
    this['answerRead']!(from, (this['log'] as unknown as RaftLog).committed, context);
    return true;
  }, () => {
    const f = firstFailure();
    t.ok(f, `caught: ${f ? `seed ${f.seed} (${f.kind}) ${f.message}` : 'nothing'}`);
  });
});

t.test('forgetting the vote across a restart elects two leaders in one term', async (t) => {
  const proto = RaftCore.prototype as unknown as Record<string, unknown>;
  const hardState = proto['hardState'] as (this: RaftCore) => { term: number; vote: string; commit: number };
  withPatch(proto, 'hardState', function (this: RaftCore) {
    return { ...hardState.call(this), vote: '' };
  }, () => {
    const f = firstFailure();
    t.ok(f, `caught: ${f ? `seed ${f.seed} (${f.kind}) ${f.message}` : 'nothing'}`);
  });
});

t.test('acknowledging appends before they are on disk loses committed entries', async (t) => {
  // Only a settled leader may send before its fsync (Ready.sendBeforePersist); a follower that
  // acks early and then loses power has promised entries it no longer holds.
  const proto = RaftCore.prototype as unknown as Record<string, unknown>;
  const ready = proto['ready'] as (this: RaftCore) => Record<string, unknown>;
  withPatch(proto, 'ready', function (this: RaftCore) {
    return { ...ready.call(this), sendBeforePersist: true };
  }, () => {
    const f = firstFailure();
    t.ok(f, `caught: ${f ? `seed ${f.seed} (${f.kind}) ${f.message}` : 'nothing'}`);
  });
});
