/**
 * The Node condition `RebootRequired`, as node-problem-detector sets its conditions: a strategic-merge patch
 * of `status.conditions` through `nodes/status`. The condition says whether this node needs a reboot and,
 * through reason and message, where the reboot stands or what blocks it, so `kubectl describe node` and
 * `kreboot status` see it without kreboot's logs.
 *
 * This file is the one place that knows how the condition is written: the daemon builds a `RebootCondition`
 * from a report and `conditionPatch` writes it; `kreboot status` reads it back with `decodeCondition`. What
 * blocks a reboot travels in the reason (`BlockedByWindow`, …), a closed set, never inside the message text.
 *
 * Only a change of status, reason or message is written: an idle node sends no requests.
 */
import type * as k8s from "@kubernetes/client-node";
import { BLOCK_REASONS, type BlockReason } from "../gates/gate.ts";
import type { Report } from "../machine/mod.ts";

export const CONDITION_TYPE = "RebootRequired";

export type ConditionStatus = "True" | "False" | "Unknown";

/** The condition as kreboot means it. */
export interface RebootCondition {
  status: ConditionStatus;
  /**
   * Where the reboot stands: the report reason that set it (RebootRequired, RebootBlocked, Draining,
   * RebootConfirmed, …), or NoRebootRequired.
   */
  state: string;
  /** What blocks the reboot: with state RebootBlocked, or sentinel-error with state SentinelError. */
  blockedBy?: BlockReason;
  /** For humans: what blocks (alert names, the pod, the PDB), or what happened. */
  message: string;
}

/** The condition's fields as they are on the Node. */
export interface ConditionState {
  status: ConditionStatus;
  /** CamelCase, one of a fixed set. */
  reason: string;
  message: string;
}

/** The condition reason for each block reason. */
const BLOCKED_REASON: Record<BlockReason, string> = {
  window: "BlockedByWindow",
  alert: "BlockedByAlert",
  query: "BlockedByQuery",
  pod: "BlockedByPod",
  pdb: "BlockedByPDB",
  lock: "BlockedByLock",
  budget: "BlockedByBudget",
  "total-cap": "BlockedByTotalCap",
  paused: "BlockedByPause",
  held: "BlockedByHold",
  "sentinel-error": "SentinelError",
  // The reboot-loop guard (lib/safety/loop_guard.ts) names the condition after the trouble itself.
  "reboot-loop": "RebootLoop",
};
const BLOCKED_BY = new Map<string, BlockReason>(BLOCK_REASONS.map((b) => [BLOCKED_REASON[b], b]));

/** Condition messages are free text; keep them to one readable screen line or two. */
const MAX_MESSAGE = 1024;

/**
 * The condition a report implies, or undefined when the report does not change it (e.g. `Uncordoned` after a
 * confirmed reboot leaves `False`, `SlotReleased` after a failed drain leaves `DrainFailed`).
 */
export function conditionFor(report: Report): RebootCondition | undefined {
  const c = (status: ConditionStatus, state: string, message = report.message): RebootCondition => ({
    status,
    state,
    message,
  });
  switch (report.reason) {
    case "RebootRequired":
      // An operator's request (lib/machine/waiting.ts says who asked) is not the sentinel's doing.
      return c(
        "True",
        "RebootRequired",
        report.message.startsWith("reboot requested by ")
          ? report.message
          : "the reboot sentinel says this node needs a reboot",
      );
    case "RebootNotRequired":
      return c("False", "NoRebootRequired", "the reboot sentinel is gone");
    case "RebootBlocked":
      return report.blockReason
        ? { ...c("True", "RebootBlocked"), blockedBy: report.blockReason }
        : c("True", "RebootBlocked");
    case "RebootLoop":
      // Blocked (before a slot) or about to be (after the reboot): the sentinel still asks for a reboot.
      return { ...c("True", "RebootBlocked"), blockedBy: "reboot-loop" };
    case "SentinelError":
      return {
        ...c("Unknown", "SentinelError", `cannot tell whether a reboot is needed: ${report.message}`),
        blockedBy: "sentinel-error",
      };
    case "SlotAcquired":
    case "Cordoned":
    case "Draining":
    case "Rebooting":
    case "DrainFailed":
    case "SlotLost":
    case "RebootFailed":
      return c("True", report.reason);
    case "RebootConfirmed":
    case "RebootAssumed":
    case "RecoveryIncomplete":
      return c("False", report.reason);
    case "Uncordoned":
    case "UncordonFailed":
    case "RetreatFailed":
    case "SlotReleased":
    case "ReleaseFailed":
    case "Resumed":
    case "SlotUnreadable":
    case "SafetyRecordFailed":
    // The breaker's pause shows on every node that waits (BlockedByPause) and in kreboot status.
    case "CircuitBreakerOpen":
      return undefined;
  }
}

/** The condition's fields as written on the Node. */
export function encodeCondition(c: RebootCondition): ConditionState {
  const message = c.message.length > MAX_MESSAGE ? `${c.message.slice(0, MAX_MESSAGE - 1)}…` : c.message;
  return { status: c.status, reason: c.blockedBy ? BLOCKED_REASON[c.blockedBy] : c.state, message };
}

/** The condition as read from a Node, with `since`: when its status last changed. */
export function decodeCondition(c: k8s.V1NodeCondition): RebootCondition & { since?: Date } {
  const status: ConditionStatus = c.status === "True" || c.status === "False" ? c.status : "Unknown";
  const reason = c.reason ?? "";
  const blockedBy = BLOCKED_BY.get(reason);
  const out: RebootCondition & { since?: Date } = { status, state: reason, message: c.message ?? "" };
  if (blockedBy) {
    out.blockedBy = blockedBy;
    out.state = blockedBy === "sentinel-error" ? "SentinelError" : "RebootBlocked";
  }
  if (c.lastTransitionTime) out.since = new Date(c.lastTransitionTime);
  return out;
}

/** The strategic-merge patch body for `nodes/status` (conditions merge by `type`). */
export interface ConditionPatch {
  status: { conditions: k8s.V1NodeCondition[] };
}

/** RFC 3339 with seconds, as metav1.Time serializes. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * The patch that moves the condition from `prev` (as on the Node, or last written) to `next`, or undefined
 * when status, reason and message are unchanged. `lastTransitionTime` moves only when the status flips.
 */
export function conditionPatch(
  prev: Pick<k8s.V1NodeCondition, "status" | "reason" | "message" | "lastTransitionTime"> | undefined,
  condition: RebootCondition,
  now: Date,
): ConditionPatch | undefined {
  const next = encodeCondition(condition);
  if (prev && prev.status === next.status && prev.reason === next.reason && prev.message === next.message) {
    return undefined;
  }
  const flipped = !prev || prev.status !== next.status || !prev.lastTransitionTime;
  const transition = flipped ? rfc3339(now) : timeString(prev.lastTransitionTime);
  const cond = {
    type: CONDITION_TYPE,
    status: next.status,
    reason: next.reason,
    message: next.message,
    lastHeartbeatTime: rfc3339(now),
    lastTransitionTime: transition,
  };
  // Times go as strings: the patch body is sent as JSON as is.
  return { status: { conditions: [cond as unknown as k8s.V1NodeCondition] } };
}

function timeString(t: Date | string | undefined): string {
  if (t === undefined) return "";
  return typeof t === "string" ? t : rfc3339(t);
}

/** Finds the condition on a Node as read from the API. */
export function findCondition(node: k8s.V1Node): k8s.V1NodeCondition | undefined {
  return node.status?.conditions?.find((c) => c.type === CONDITION_TYPE);
}
