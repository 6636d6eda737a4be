/**
 * What `decide` reports: one fixed reason per kind of step or failure, each a Kubernetes Event reason. A
 * reason is either always a Warning or never one, so the reporter maps it to the Event type, the log level, the
 * Node condition and the notification without looking at anything else. README.md ("Status, pause and
 * metrics") lists them for operators.
 */
import type { BlockReason } from "../gates/gate.ts";

/** Every reason, with the Event type it is reported as. */
export const REPORT_REASONS = {
  // The cycle, in order.
  RebootRequired: "Normal",
  RebootBlocked: "Normal",
  SlotAcquired: "Normal",
  Cordoned: "Normal",
  Draining: "Normal",
  Rebooting: "Normal",
  RebootConfirmed: "Normal",
  Uncordoned: "Normal",
  SlotReleased: "Normal",
  // Other steps that are no trouble.
  RebootNotRequired: "Normal",
  Resumed: "Normal",
  // Trouble: each failure has its own reason.
  SentinelError: "Warning",
  DrainFailed: "Warning",
  RetreatFailed: "Warning",
  RebootFailed: "Warning",
  RebootAssumed: "Warning",
  RecoveryIncomplete: "Warning",
  UncordonFailed: "Warning",
  ReleaseFailed: "Warning",
  SlotLost: "Warning",
  SlotUnreadable: "Warning",
  // Rollout safety (lib/safety/): the reboot-loop guard, the circuit breaker, and a record they could not write.
  RebootLoop: "Warning",
  CircuitBreakerOpen: "Warning",
  SafetyRecordFailed: "Warning",
} as const satisfies Record<string, EventType>;

export type EventType = "Normal" | "Warning";
export type ReportReason = keyof typeof REPORT_REASONS;

/** What happened, for logs, Events, metrics, the Node condition and notifications. */
export interface Report {
  reason: ReportReason;
  message: string;
  /** What blocks the reboot (with `RebootBlocked` and `SentinelError`). */
  blockReason?: BlockReason;
}

export function isWarning(r: Report): boolean {
  return REPORT_REASONS[r.reason] === "Warning";
}
