/**
 * The flags of the rollout safety features of issue 16 (post-reboot health gate, circuit breaker, reboot-loop
 * guard, eviction escalation), built with the table's own builders (lib/config/kinds.ts) and listed in `FLAGS`
 * (lib/config/flags.ts) by `safetyFlag(key)`. The cores they drive are lib/safety/health.ts,
 * lib/safety/breaker.ts, lib/safety/loop_guard.ts and lib/drain/blocked.ts.
 */
import { boolFlag, durationFlag, type FlagSpec, intFlag } from "./kinds.ts";

import { HOUR } from "./duration.ts";

/** The settings, as `Config` carries them: durations in milliseconds. */
export interface SafetySettings {
  /** The node must have been Ready without a break this long after the reboot before its slot is freed. */
  postRebootReadyFor: number;
  /** After the reboot, also wait until every workload that lost a pod to this node's drain is whole again. */
  waitForWorkloads: boolean;
  /** Failed reboots within `failureWindow` that pause the fleet; 0 = the circuit breaker is off. */
  maxFailedReboots: number;
  failureWindow: number;
  /** After a reboot that left the sentinel set, no new reboot before this long; 0 = no wait. */
  minRebootInterval: number;
  /** After this many such reboots in a row the node holds itself; 0 = never hold. */
  maxConsecutiveReboots: number;
  /** Pods whose eviction is still refused after this long are deleted instead; 0 = never. */
  drainDisableEvictionAfter: number;
}

type SafetyFlags = { [K in keyof SafetySettings]: { name: string; spec: FlagSpec<SafetySettings[K]> } };

export const SAFETY_FLAGS: SafetyFlags = {
  postRebootReadyFor: {
    name: "post-reboot-ready-for",
    spec: durationFlag(
      "After the reboot, keep the slot until the node has been Ready without a break this long (and its DaemonSet pods are Ready); bounded by --recovery-timeout. 0 = Ready once is enough.",
      0,
    ),
  },
  waitForWorkloads: {
    name: "wait-for-workloads",
    spec: boolFlag(
      "After the reboot, also keep the slot until every ReplicaSet/StatefulSet that lost a pod to this node's drain has its ready replicas back, and every PodDisruptionBudget that covered an evicted pod is met; bounded by --recovery-timeout.",
      false,
    ),
  },
  maxFailedReboots: {
    name: "max-failed-reboots",
    spec: intFlag(
      "Circuit breaker: after this many failed reboots (node not Ready again, boot ID unchanged, or health gate timed out) within --failure-window, kreboot pauses itself until `kreboot resume`. 0 = off.",
      0,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
  },
  failureWindow: {
    name: "failure-window",
    spec: durationFlag("The window in which --max-failed-reboots counts failed reboots.", 24 * HOUR, true),
  },
  minRebootInterval: {
    name: "min-reboot-interval",
    spec: durationFlag(
      "Reboot-loop guard: when a reboot left the sentinel saying a reboot is still required, the node does not reboot again before this long (reason RebootLoop). 0 = no wait.",
      HOUR,
    ),
  },
  maxConsecutiveReboots: {
    name: "max-consecutive-reboots",
    spec: intFlag(
      "Reboot-loop guard: after this many reboots in a row that left the sentinel set, the node holds itself until a person releases it. 0 = never hold.",
      3,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
  },
  drainDisableEvictionAfter: {
    name: "drain-disable-eviction-after",
    spec: durationFlag(
      "Pods whose eviction is still refused (PodDisruptionBudget, admission webhook) this long into the drain are deleted instead, bypassing PodDisruptionBudgets; each deletion is an Event and a notification. 0 = never.",
      0,
    ),
  },
};
