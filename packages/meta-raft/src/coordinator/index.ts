/**
 * The coordinator: the planner (a pure function of the catalog and the workers' reports, run by
 * the metadata group's leader every cycle), the change list it commits, and simulation helpers
 * for tests. Test fixtures (`fixtures.ts`) are imported directly by path.
 */
export { plan } from './planner.js';
export { assignmentChanges, type AssignmentChange } from './changes.js';
export { DEFAULT_PLANNER_CONFIG, resolveConfig, type PlannerConfig } from './config.js';
export { desiredReplicas, RuleBook, type TierWants } from './replicas.js';
export { hotness, hotExtra, type Hotness } from './hot.js';
export { AssignmentJoin, joinAssignments } from './join.js';
export { applyPlan, nextCycle, runUntilStable, type RunResult, type SimulateOptions } from './simulate.js';
export type {
  Assign,
  AssignReason,
  JoinedAssignments,
  JoinedPlannerInput,
  Plan,
  PlannerInput,
  PlannerInputBase,
  PlannerSegment,
  PlannerWorker,
  PlanStats,
  Unassign,
  UnassignReason,
  WorkerHealth,
  WorkerStats,
} from './types.js';
export { UNKNOWN_HOLDER } from './types.js';
