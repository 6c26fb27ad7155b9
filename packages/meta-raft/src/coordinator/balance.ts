/**
 * Balancing moves. Runs only when no segment is unavailable, and per tier only when no earlier
 * move (or other surplus) is still waiting for its drop: like Druid, a tier in transit is left
 * alone, so every move is judged against settled state.
 *
 * A tier is out of balance when its fullest and emptiest live active workers (bytes relative to
 * capacity, counting this cycle's decisions and moves) differ by more than balanceThresholdRatio
 * of the tier's mean. A move then assigns a settled segment of the fullest worker to the
 * emptiest (reason `balance`); the old replica is dropped as surplus in a later cycle, once the
 * new one is loaded (`dropOrder` picks the fuller worker first). The segment moved is the one
 * gaining the most affinity (cost.ts) by the move, among those the emptiest worker can take
 * without becoming fuller than the source and without the segment losing a datacenter.
 *
 * Convergence: a move of x bytes from a (bytes A, capacity ca) to b (B, cb) is made only when
 * (A - x)/ca >= (B + x)/cb, so it strictly lowers sum(bytes^2 / capacity) over the tier's
 * workers. That sum cannot fall for ever, so moves stop: no ping-pong.
 */
import type { Decisions } from './decisions.js';
import { midpoint } from './cost.js';
import { segmentView } from './segment-view.js';
import { holderAt, type WorkerView } from './state.js';

/** Bytes once this cycle's decisions and pending moves are done. */
function projected(w: WorkerView): number {
  return w.bytes - w.dropBytes - w.movingOutBytes;
}

function ratio(w: WorkerView): number {
  return projected(w) / w.capacityBytes;
}

/** Plans the moves; returns how many. */
export function balance(d: Decisions, unavailable: number): number {
  const { state } = d;
  const { config } = state;
  if (!config.balance || unavailable > 0 || config.maxSegmentsToMove === 0) return 0;
  let moves = 0;
  let held: number[][] | null = null;
  for (let t = 0; t < state.tiers.length && moves < config.maxSegmentsToMove; t++) {
    if (state.tierSurplus[t]) continue;
    const workers = state.tierWorkers[t]!.filter((w) => w.eligible);
    if (workers.length < 2) continue;
    const sources = new Set(workers);
    while (moves < config.maxSegmentsToMove) {
      let bytes = 0;
      let capacity = 0;
      let src: WorkerView | null = null;
      let dst: WorkerView | null = null;
      for (const w of workers) {
        bytes += projected(w);
        capacity += w.capacityBytes;
        if (sources.has(w) && (src === null || ratio(w) > ratio(src))) src = w;
        if (w.queued < config.loadQueueMax && (dst === null || ratio(w) < ratio(dst))) dst = w;
      }
      if (src === null || dst === null || src === dst) break;
      if (ratio(src) - ratio(dst) <= config.balanceThresholdRatio * (bytes / capacity) || !d.hasRoom()) break;
      held ??= settledByWorker(d);
      const i = bestMove(d, held[src.index]!, src, dst);
      if (i < 0) {
        sources.delete(src);
        continue;
      }
      const view = segmentView(state, i);
      if (!d.add(view, dst, 'balance')) break;
      state.settled[i] = 0;
      src.movingOutBytes += view.segment.size;
      moves++;
    }
  }
  return moves;
}

/** Per worker index, the settled segments it holds. */
function settledByWorker(d: Decisions): number[][] {
  const { state } = d;
  const out: number[][] = state.workers.map(() => []);
  // A settled segment's holders are all registered workers (an unknown one unsettles it).
  for (let i = 0; i < state.segments.length; i++) {
    if (!state.settled[i]) continue;
    const holders = state.holders[i];
    if (holders === undefined) continue;
    for (const code of holders) out[holderAt(state, code)]!.push(i);
  }
  return out;
}

/** Distinct datacenters of `holders` (codes of a settled segment) with `from` replaced by `to`. */
function dcCount(d: Decisions, holders: readonly number[], from: WorkerView, to: WorkerView | null): number {
  const dcs: string[] = [];
  for (const code of holders) {
    const w = d.state.workers[holderAt(d.state, code)]!;
    const dc = w === from ? (to === null ? w.dc : to.dc) : w.dc;
    if (!dcs.includes(dc)) dcs.push(dc);
  }
  return dcs.length;
}

/** The segment of `candidates` (indices) best moved from `src` to `dst`, or -1. */
function bestMove(d: Decisions, candidates: readonly number[], src: WorkerView, dst: WorkerView): number {
  const { state } = d;
  const srcBytes = projected(src);
  const dstBytes = projected(dst);
  let best = -1;
  let bestGain = -Infinity;
  for (const i of candidates) {
    if (!state.settled[i]) continue;
    const s = state.segments[i]!;
    if (state.hot.warm.has(s.id)) continue; // hot segments keep their spread; moving them churns extras
    if (dst.bytes + s.size > dst.capacityBytes) continue;
    if ((srcBytes - s.size) / src.capacityBytes < (dstBytes + s.size) / dst.capacityBytes) continue;
    const holders = state.holders[i]!;
    if (holders.some((code) => holderAt(state, code) === dst.index)) continue;
    if (dcCount(d, holders, src, dst) < dcCount(d, holders, src, null)) continue;
    const mid = midpoint(s);
    const gain = d.cost.affinity(src.index, s.dataSource, mid, true) - d.cost.affinity(dst.index, s.dataSource, mid);
    if (gain > bestGain || (gain === bestGain && s.id < state.segments[best]!.id)) {
      best = i;
      bestGain = gain;
    }
  }
  return best;
}
