/**
 * Rollout safety (issue 16): what stops a bad rollout before it spreads. Pure judgements, each taking what was
 * read from the cluster and returning a verdict and its words:
 *
 * - health.ts: the post-reboot health gate (Ready streak, DaemonSet pods, evicted workloads whole again);
 * - evicted.ts: the record of what a drain evicted, kept on the slot Lease;
 * - breaker.ts: the circuit breaker's failure record and when it opens;
 * - loop_guard.ts: the reboot-loop guard's count and verdict.
 *
 * and their thin I/O shells, which the daemon wires into the loop's ports:
 *
 * - recovery.ts: records what the drain evicts, reads what the health gate judges;
 * - breaker_lease.ts: the failure record on its Lease, and the pause when the breaker opens;
 * - loop_guard_node.ts: the guard's count on the Node, its hold (lib/node_control/), and its gate.
 *
 * Why a drain is blocked is the drain's business: lib/drain/blockers.ts and lib/drain/blocked.ts.
 */
export {
  BREAKER_PAUSED_BY,
  breakerLeaseName,
  type BreakerSettings,
  type BreakerVerdict,
  decodeFailures,
  encodeFailures,
  type FailedReboot,
  FAILURE_KINDS,
  type FailureKind,
  type FailureRecord,
  FAILURES_ANNOTATION,
  isBreakerPause,
  judgeBreaker,
  recordFailure,
  resetBreaker,
} from "./breaker.ts";
export {
  decodeEvicted,
  encodeEvicted,
  EVICTED_ANNOTATION,
  type EvictedRecord,
  evictedRecordOf,
  mergeEvicted,
  type PdbRef,
  type WorkloadRef,
} from "./evicted.ts";
export {
  type HealthInputs,
  type HealthVerdict,
  judgeHealth,
  unreadyDaemonPods,
  type WorkloadObjects,
} from "./health.ts";
export {
  decodeLoopState,
  encodeLoopState,
  judgeLoop,
  LOOP_ANNOTATION,
  type LoopSettings,
  type LoopState,
  type LoopVerdict,
  NO_LOOP,
  type NodeHold,
  observeAfterReboot,
  REBOOT_LOOP_REASON,
} from "./loop_guard.ts";
export { type BreakerOptions, CircuitBreaker } from "./breaker_lease.ts";
export { HealthCheck, type HealthCheckOptions, readWorkloadObjects, recordEvicted } from "./recovery.ts";
export { LOOP_GUARD_HOLDER, type LoopGuardOptions, RebootLoopGuard } from "./loop_guard_node.ts";
