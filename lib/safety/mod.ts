/**
 * Rollout safety (issue 16): the pure judgements that stop a bad rollout before it spreads. Each takes what the
 * shell read from the cluster and returns a verdict and its words; none does I/O.
 *
 * - health.ts: the post-reboot health gate (Ready streak, DaemonSet pods, evicted workloads whole again);
 * - evicted.ts: the record of what a drain evicted, kept on the slot Lease;
 * - breaker.ts: the circuit breaker's failure record and when it opens;
 * - loop_guard.ts: the reboot-loop guard and the per-node hold it needs.
 *
 * Why a drain is blocked is the drain's business: lib/drain/blockers.ts.
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
