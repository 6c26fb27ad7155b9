import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CoordinatorStatus } from './coordinator-driver.js';
import type { ReadyInfo } from './raft-node.js';

/**
 * The node's Prometheus metrics, on a registry of its own (two apps in one test process must
 * not collide): term, leader changes, commit latency, apply lag, snapshots and compactions.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  private readonly term = new Gauge({ name: 'cairn_raft_term', help: 'Current Raft term', registers: [this.registry] });
  private readonly isLeader = new Gauge({ name: 'cairn_raft_is_leader', help: '1 if this node is the leader', registers: [this.registry] });
  private readonly leaderChanges = new Counter({ name: 'cairn_raft_leader_changes_total', help: 'Leader changes seen', registers: [this.registry] });
  private readonly commitIndex = new Gauge({ name: 'cairn_raft_commit_index', help: 'Commit index', registers: [this.registry] });
  private readonly appliedIndex = new Gauge({ name: 'cairn_raft_applied_index', help: 'Applied index', registers: [this.registry] });
  private readonly applyLag = new Gauge({ name: 'cairn_raft_apply_lag_entries', help: 'Committed but not yet applied entries', registers: [this.registry] });
  private readonly commitLatency = new Histogram({
    name: 'cairn_raft_commit_latency_seconds',
    help: 'Time from proposal to applied, for proposals made on this node',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly snapshotsInstalled = new Counter({ name: 'cairn_raft_snapshots_installed_total', help: 'Snapshots received from a leader and installed', registers: [this.registry] });
  readonly snapshotsSent = new Counter({ name: 'cairn_raft_snapshots_sent_total', help: 'Snapshots sent to followers', labelNames: ['result'], registers: [this.registry] });
  private readonly compactions = new Counter({ name: 'cairn_raft_log_compactions_total', help: 'Log compactions', registers: [this.registry] });
  private readonly entriesPersisted = new Counter({ name: 'cairn_raft_entries_persisted_total', help: 'Log entries written to disk', registers: [this.registry] });
  /** Read at each scrape: writes the node holds until a leader is elected or a handover ends. */
  heldWrites: () => number = () => 0;
  private readonly held: Gauge = new Gauge({
    name: 'cairn_raft_writes_held', help: 'Writes held until a leader is elected or a leadership handover ends', registers: [this.registry],
    collect: (): void => this.held.set(this.heldWrites()),
  });

  private readonly unavailable = new Gauge({ name: 'cairn_coordinator_segments_unavailable', help: 'Used segments wanted by a rule and loaded on no live worker (last cycle)', registers: [this.registry] });
  private readonly underReplicated = new Gauge({ name: 'cairn_coordinator_segments_under_replicated', help: 'Segments with fewer live loaded replicas than their rule wants (last cycle)', registers: [this.registry] });
  private readonly cycleLoads = new Counter({ name: 'cairn_coordinator_loads_total', help: 'Replicas assigned by the coordinator', registers: [this.registry] });
  private readonly cycleDrops = new Counter({ name: 'cairn_coordinator_drops_total', help: 'Replicas removed by the coordinator', registers: [this.registry] });
  private readonly cycleMoves = new Counter({ name: 'cairn_coordinator_moves_total', help: 'Balancing moves started', registers: [this.registry] });
  private readonly cycleSeconds = new Gauge({ name: 'cairn_coordinator_cycle_seconds', help: 'Time the last planning cycle took', registers: [this.registry] });
  private readonly loadQueue = new Gauge({ name: 'cairn_coordinator_worker_load_queue', help: 'Segments queued to load per worker (projected)', labelNames: ['worker'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  onCoordinatorCycle(s: CoordinatorStatus): void {
    if (!s.stats) return;
    this.unavailable.set(s.stats.unavailable);
    this.underReplicated.set(s.stats.underReplicated);
    if (s.lastCommit?.ok) {
      this.cycleLoads.inc(s.stats.loads);
      this.cycleDrops.inc(s.stats.drops);
      this.cycleMoves.inc(s.stats.moves);
    }
    this.cycleSeconds.set((s.lastCycleMs ?? 0) / 1000);
    for (const w of s.stats.workers) this.loadQueue.set({ worker: w.id }, w.loadQueue);
  }

  onReady(info: ReadyInfo): void {
    this.term.set(info.term);
    this.isLeader.set(info.role === 'leader' ? 1 : 0);
    if (info.leaderChanged) this.leaderChanges.inc();
    this.commitIndex.set(info.commit);
    this.appliedIndex.set(info.applied);
    this.applyLag.set(info.commit - info.applied);
    for (const ms of info.applyLatenciesMs) this.commitLatency.observe(ms / 1000);
    if (info.snapshotInstalled) this.snapshotsInstalled.inc();
    if (info.compacted) this.compactions.inc();
    if (info.entriesPersisted > 0) this.entriesPersisted.inc(info.entriesPersisted);
  }
}
