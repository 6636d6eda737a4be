/**
 * The Node condition `RebootRequired`, as node-problem-detector sets its conditions: a strategic-merge patch
 * of `status.conditions` through `nodes/status`. The condition says whether this node needs a reboot and,
 * through reason and message, where the reboot stands or what blocks it, so `kubectl describe node` and
 * `kubectl get nodes -o wide`-style tooling see it without kreboot's logs.
 *
 * Only a change of status, reason or message is written: an idle node sends no requests.
 */
import type * as k8s from "@kubernetes/client-node";
import type { Report } from "../machine.ts";

export const CONDITION_TYPE = "RebootRequired";

export type ConditionStatus = "True" | "False" | "Unknown";

export interface ConditionState {
  status: ConditionStatus;
  /** CamelCase, one of a fixed set. */
  reason: string;
  message: string;
}

/** Condition messages are free text; keep them to one readable screen line or two. */
const MAX_MESSAGE = 1024;

/**
 * The condition a report implies, or undefined when the report does not change it (e.g. `Uncordoned` after a
 * confirmed reboot leaves `False`, `SlotReleased` after a failed drain leaves `DrainFailed`).
 */
export function conditionFor(report: Report): ConditionState | undefined {
  const c = (status: ConditionStatus, reason: string, message = report.message): ConditionState => ({
    status,
    reason,
    message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message,
  });
  switch (report.reason) {
    case "RebootRequired":
      return c("True", "RebootRequired", "the reboot sentinel says this node needs a reboot");
    case "RebootNotRequired":
      return c("False", "NoRebootRequired", "the reboot sentinel is gone");
    case "RebootBlocked":
      return c(
        "True",
        "RebootBlocked",
        report.blockReason ? `blocked (${report.blockReason}): ${report.message}` : report.message,
      );
    case "SentinelError":
      return c("Unknown", "SentinelError", `cannot tell whether a reboot is needed: ${report.message}`);
    case "SlotAcquired":
    case "Cordoned":
    case "Draining":
    case "Rebooting":
      return c("True", report.reason);
    case "DrainFailed":
    case "RebootFailed":
    case "SlotLost":
      return c("True", report.reason);
    case "RebootConfirmed":
      return c("False", "RebootConfirmed");
    case "Uncordoned":
    case "SlotReleased":
    case "Resumed":
      return undefined;
  }
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
  next: ConditionState,
  now: Date,
): ConditionPatch | undefined {
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
