/** The machine's inputs and outputs: its state, what the loop observed or got back, and the decision. */
import type { GateResult } from "../gates/gate.ts";
import type { FailureKind } from "../safety/breaker.ts";
import type { HealthVerdict } from "../safety/health.ts";
import type { Phase } from "./phases.ts";
import type { Report } from "./reports.ts";

export interface MachineConfig {
  forceReboot: boolean;
  rebootDelayMs: number;
  releaseDelayMs: number;
  /** How long the host may take to go down after the reboot command returned. */
  rebootTimeoutMs: number;
  dryRun: boolean;
}

export interface State {
  phase: Phase;
  /** When the current phase began (ms). */
  since: number;
  /** Reboot commands issued in the current rebooting phase. */
  rebootAttempts: number;
  /** Why the node is retreating (a failed drain, a lost slot), carried to the report once the slot is back. */
  failure?: string;
  /**
   * The acquisition under way was tried on a wake-up of the lock, before the gates: missing the slot means only
   * that another waiter was faster, which is no news to report.
   */
  triedOnWake?: boolean;
  /** This phase's failed reboot is on the circuit breaker's record (it is recorded once). */
  failureRecorded?: boolean;
  /**
   * Entered by a restart (`startup`): an earlier process may already have written what the phase's action
   * writes (in `cordoning`: the taint, the labels, the cordon), so giving up goes through `retreating`.
   */
  resumed?: boolean;
}

export function initialState(now: number): State {
  return { phase: "startup", since: now, rebootAttempts: 0 };
}

/** Why the lock gave no slot: paused, no free slot (or others ahead in line), a budget, the total cap. */
export type AcquireRefusal = "paused" | "full" | "budget" | "total";

export type SentinelObs = {
  required: boolean;
  error?: string;
  /** Who asked for the reboot and why, when an operator did (`kreboot request-reboot`) and the sentinel did not. */
  requestedBy?: string;
};

/** The slot this node holds, as recorded on the Lease. */
export interface HeldSlot {
  phase?: string;
  bootId?: string;
  releaseAfter?: number;
}

export interface NodeObs {
  bootId?: string;
  ready: boolean;
  /** The node carries kreboot's own cordon annotation (lib/drain/node.ts CORDONED_BY_KREBOOT). */
  cordonedByUs?: boolean;
}

/** How an action that can only succeed or fail came out; a failure always says why. */
export type Outcome<A extends string> = { action: A; ok: true } | { action: A; ok: false; error: string };

export type ActionResult =
  | { action: "acquire"; acquired: true }
  | { action: "acquire"; acquired: false; reason: AcquireRefusal; message: string }
  | Outcome<"release">
  | Outcome<"cordon">
  | Outcome<"drain">
  | Outcome<"reboot">
  | Outcome<"uncordon">
  | Outcome<"retreat">
  | { action: "set-release-after"; ok: true; at: number }
  | { action: "set-release-after"; ok: false; at: number; error: string }
  /** `opened`: the circuit breaker is open now, and this is its pause reason. */
  | { action: "record-failure"; ok: true; opened?: string }
  | { action: "record-failure"; ok: false; error: string }
  /** `loop`: the reboot left the sentinel set; what the reboot-loop guard makes of it. */
  | { action: "note-reboot"; ok: true; loop?: string }
  | { action: "note-reboot"; ok: false; error: string };

/** What the loop saw. Only the fields the phase needs are filled in. */
export interface Observation {
  now: number;
  /** The result of the action the previous decision asked for; when set, nothing else is observed. */
  result?: ActionResult;
  /**
   * Why the slot is gone, when the loop found it lost (its Lease deleted, taken by another node, or not renewed
   * in time); may come with `result`. In a guarded phase it wins over everything else: the node retreats.
   */
  slotLost?: string;
  sentinel?: SentinelObs;
  /** The first gate that blocks, or clear. */
  gate?: GateResult;
  /** The slot this node holds (null: none). Observed at start-up and where noted. */
  slot?: HeldSlot | null;
  node?: NodeObs;
  /**
   * The node waited on the lock and a change woke it that may free a slot (`waiting` only; the sentinel is
   * observed, the gates are not): it tries for the slot first, and `cordoning` checks the gates right after.
   */
  lockChanged?: boolean;
  /** The post-reboot health gate's verdict (recovering; lib/safety/health.ts). */
  health?: HealthVerdict;
}

export type Action =
  | { type: "acquire" }
  | { type: "cordon" }
  | { type: "drain" }
  | { type: "reboot" }
  | { type: "uncordon" }
  | { type: "retreat" }
  | { type: "release" }
  | { type: "set-release-after"; at: number }
  /** Put a failed reboot on the circuit breaker's record (lib/safety/breaker.ts), which may open it. */
  | { type: "record-failure"; kind: FailureKind; why: string }
  /**
   * Tell the reboot-loop guard (lib/safety/loop_guard.ts) whether the sentinel still asks for a reboot after
   * the confirmed one (undefined: it could not be read).
   */
  | { type: "note-reboot"; sentinelRequired: boolean | undefined };

export type Wait =
  | { kind: "none" }
  /** Until the next sentinel check, or `untilMs` (epoch ms) if that comes sooner. */
  | { kind: "period"; untilMs?: number }
  /** Until the lock may have a free slot (watch), or the next period at the latest. */
  | { kind: "lock" }
  | { kind: "ms"; ms: number };

export interface Decision {
  state: State;
  action?: Action;
  wait: Wait;
  report?: Report;
}
