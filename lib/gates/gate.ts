/**
 * The common shape of every reboot gate: either clear, or blocked with a reason (a stable, machine-readable
 * word for metrics, Events and the Node condition) and a message for humans that names what blocks.
 */

/** Every block reason: the `reason` label of `kreboot_reboot_blocked`, and `kreboot status`'s BLOCKED BY. */
export const BLOCK_REASONS = [
  "window",
  "alert",
  "query",
  "pod",
  "pdb",
  "lock",
  "budget",
  "total-cap",
  "paused",
  "held",
  "sentinel-error",
  "reboot-loop",
] as const;
export type BlockReason = typeof BLOCK_REASONS[number];

export type GateResult =
  | { clear: true }
  | {
    clear: false;
    reason: BlockReason;
    message: string;
    /** When the block is known to lift (e.g. the window opens), so the loop need not wait a whole period. */
    retryAtMs?: number;
  };

export const CLEAR: GateResult = Object.freeze({ clear: true });

export function blocked(reason: BlockReason, message: string): GateResult {
  return { clear: false, reason, message };
}

/** How soon a gate that could not ask the API server tries again: an outage must not cost a whole period. */
const UNREACHABLE_RETRY_MS = 10_000;

/** Blocked because the gate could not find out (the API server is unreachable): retried soon, not a period later. */
export function cannotCheck(reason: BlockReason, message: string, nowMs: number): GateResult {
  return { clear: false, reason, message, retryAtMs: nowMs + UNREACHABLE_RETRY_MS };
}

/** Up to `max` names, then "and N more", so a message stays one readable line. */
export function listNames(names: readonly string[], max = 10): string {
  const shown = names.slice(0, max).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}
