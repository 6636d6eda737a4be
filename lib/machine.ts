/**
 * The reboot cycle as a pure state machine. `decide` takes the current state and what the loop observed (or
 * the result of the last action) and returns the next phase, at most one action, and how long to wait. It does
 * no I/O, so every transition, failures included, is a row in a unit-test table.
 *
 * idle -> required -> waiting -> cordoning -> draining -> reboot-delay -> rebooting -> (host goes down)
 *   -> startup -> recovering -> uncordoning -> release-delay -> releasing -> idle
 * with retreating (undo cordon, taint, labels) -> releasing after a failed drain.
 */
import type { GateResult } from "./gates/gate.ts";

export const PHASES = [
  "startup",
  "idle",
  "required",
  "waiting",
  "cordoning",
  "draining",
  "reboot-delay",
  "rebooting",
  "recovering",
  "uncordoning",
  "release-delay",
  "releasing",
  "retreating",
] as const;
export type Phase = typeof PHASES[number];

/** Phases in which this node holds a slot and may be disrupted: every phase after it took one. */
export const HOLDING_PHASES: ReadonlySet<Phase> = new Set(
  PHASES.filter((p) => p !== "startup" && p !== "idle" && p !== "required" && p !== "waiting"),
);

/**
 * Phases in which the node is being disrupted on the strength of its slot but has not rebooted yet. If the slot
 * disappears meanwhile (its Lease deleted, or taken by another node), going on would disrupt one node more than
 * the concurrency allows: the slot keeper (lib/lock/keeper.ts) checks the slot in these phases, and a lost
 * slot makes the node retreat.
 */
export const GUARDED_PHASES: ReadonlySet<Phase> = new Set(["cordoning", "draining", "reboot-delay"]);

export function isPhase(s: string | undefined): s is Phase {
  return s !== undefined && (PHASES as readonly string[]).includes(s);
}

export interface MachineConfig {
  forceReboot: boolean;
  rebootDelayMs: number;
  releaseDelayMs: number;
  /** How long the host may take to go down after the reboot command returned. */
  rebootTimeoutMs: number;
  /** How long to wait for the DaemonSet pods on a rebooted node before uncordoning anyway. */
  recoveryTimeoutMs: number;
  dryRun: boolean;
}

export interface State {
  phase: Phase;
  /** When the current phase began (ms). */
  since: number;
  /** Reboot commands issued in the current rebooting phase. */
  rebootAttempts: number;
  /** Why the last drain failed, carried to the report after the retreat. */
  failure?: string;
}

export type SentinelObs = { required: boolean; error?: string };

/** The slot this node holds, as recorded on the Lease. */
export interface HeldSlot {
  phase?: string;
  bootId?: string;
  releaseAfter?: number;
}

export interface NodeObs {
  bootId?: string;
  ready: boolean;
}

/** The outcome of an action that either works or fails with a reason. */
export type Outcome<A extends string> = { action: A; ok: true } | { action: A; ok: false; error: string };

export type ActionResult =
  | { action: "acquire"; acquired: true }
  | { action: "acquire"; acquired: false; reason: "paused" | "full"; message: string }
  | Outcome<"release">
  | Outcome<"cordon">
  | Outcome<"drain">
  | Outcome<"reboot">
  | Outcome<"uncordon">
  | Outcome<"retreat">
  | { action: "set-release-after"; ok: true; at: number }
  | { action: "set-release-after"; ok: false; at: number; error: string };

/** What the loop saw. Only the fields the phase needs are filled in. */
export interface Observation {
  now: number;
  /** The result of the action the previous decision asked for; when set, nothing else is observed. */
  result?: ActionResult;
  sentinel?: SentinelObs;
  /** The first gate that blocks, or clear. */
  gate?: GateResult;
  /** The slot this node holds (null: none). Observed at start-up and where noted. */
  slot?: HeldSlot | null;
  node?: NodeObs;
  /** Whether the DaemonSet pods on this node are Ready (recovery). */
  daemonPodsReady?: boolean;
  /** Why the slot keeper found this node's slot gone (set on every observation once it did). */
  slotLost?: string;
}

export type Action =
  | { type: "acquire" }
  | { type: "cordon" }
  | { type: "drain" }
  | { type: "reboot" }
  | { type: "uncordon" }
  | { type: "retreat" }
  | { type: "release" }
  | { type: "set-release-after"; at: number };

export type Wait =
  | { kind: "none" }
  /** Until the next sentinel check, or `untilMs` (epoch ms) if that comes sooner. */
  | { kind: "period"; untilMs?: number }
  /** Until the lock may have a free slot (watch), or the next period at the latest. */
  | { kind: "lock" }
  | { kind: "ms"; ms: number };

/** What happened, for logs, Events, metrics and notifications. Reasons are the fixed Event reasons. */
export interface Report {
  reason:
    | "RebootRequired"
    | "RebootNotRequired"
    | "RebootBlocked"
    | "SlotAcquired"
    | "Cordoned"
    | "Draining"
    | "DrainFailed"
    | "Rebooting"
    | "RebootFailed"
    | "RebootConfirmed"
    | "Uncordoned"
    | "SlotReleased"
    | "SentinelError"
    | "Resumed"
    | "SlotLost";
  message: string;
  warning?: boolean;
  blockReason?: string;
}

export interface Decision {
  state: State;
  action?: Action;
  wait: Wait;
  report?: Report;
}

const NOW: Wait = { kind: "none" };
const RETRY_MS = 5_000;

function go(
  state: State,
  phase: Phase,
  now: number,
  rest: Omit<Decision, "state"> = { wait: NOW },
): Decision {
  const next: State = phase === state.phase
    ? state
    : { phase, since: now, rebootAttempts: phase === "rebooting" ? state.rebootAttempts : 0 };
  if (phase !== state.phase && state.failure && phase === "releasing") next.failure = state.failure;
  return { state: next, ...rest };
}

function stay(state: State, rest: Omit<Decision, "state">): Decision {
  return { state, ...rest };
}

/** Where a restarted daemon that holds a slot but did not reboot picks up. */
function resumePhase(recorded: string | undefined): Phase {
  switch (recorded) {
    case "retreating":
      return "retreating";
    case "uncordoning":
    case "release-delay":
    case "releasing":
      // Written only after a confirmed reboot, so the reboot already happened.
      return recorded;
    case "cordoning":
      return "cordoning";
    default:
      // draining, reboot-delay, rebooting, or unreadable: finish the drain (idempotent), then reboot.
      return "draining";
  }
}

export function initialState(now: number): State {
  return { phase: "startup", since: now, rebootAttempts: 0 };
}

export function decide(state: State, obs: Observation, cfg: MachineConfig): Decision {
  const { now } = obs;
  const r = obs.result;
  if (obs.slotLost !== undefined && GUARDED_PHASES.has(state.phase)) {
    // Whatever the last action returned, it ran without a slot: undo it rather than go on.
    const next = go(state, "retreating", now, {
      wait: NOW,
      report: {
        reason: "SlotLost",
        message: `${obs.slotLost}; stopping and undoing the cordon`,
        warning: true,
      },
    });
    next.state = { ...next.state, failure: obs.slotLost };
    return next;
  }
  switch (state.phase) {
    case "startup": {
      const slot = obs.slot;
      if (!slot) return go(state, "idle", now, { wait: NOW });
      const rebooted = slot.bootId !== undefined && obs.node?.bootId !== undefined &&
        slot.bootId !== obs.node.bootId;
      if (rebooted) {
        const afterReboot = slot.phase === "release-delay" || slot.phase === "releasing" ||
          slot.phase === "uncordoning";
        return go(state, afterReboot ? resumePhase(slot.phase) : "recovering", now, {
          wait: NOW,
          report: afterReboot ? { reason: "Resumed", message: `resuming ${slot.phase} after a restart` } : {
            reason: "RebootConfirmed",
            message: `node rebooted (boot ID ${slot.bootId} -> ${obs.node?.bootId})`,
          },
        });
      }
      if (slot.bootId === undefined || obs.node?.bootId === undefined) {
        if (slot.phase === "rebooting") {
          // Nothing to compare (the node reports no boot ID, or none was recorded): a restart after the reboot
          // command counts as the reboot. Draining and rebooting again would loop forever on such a node; if the
          // host did not actually go down, its sentinel is still there and the next cycle tries again.
          return go(state, "recovering", now, {
            wait: NOW,
            report: {
              reason: "RebootConfirmed",
              message: "restarted in phase rebooting; no boot ID to compare, so taking it as the reboot",
              warning: true,
            },
          });
        }
      }
      if (!isPhase(slot.phase) || !HOLDING_PHASES.has(slot.phase)) {
        // kreboot always records a holding phase: an unreadable one is garbage (or someone else's record), and
        // garbage never leads to a drain or a reboot. Undo a cordon of ours, if any, and give the slot back; a
        // node that still needs its reboot takes a slot again the normal way.
        return go(state, "retreating", now, {
          wait: NOW,
          report: {
            reason: "Resumed",
            message: `holding a slot with an unreadable phase (${
              slot.phase ?? "none"
            }); not trusting it: undoing any cordon of ours and giving the slot back`,
            warning: true,
          },
        });
      }
      const phase = resumePhase(slot.phase);
      return go(state, phase, now, {
        wait: NOW,
        report: {
          reason: "Resumed",
          message: `holding a slot in phase ${
            slot.phase ?? "unknown"
          } without a reboot; resuming at ${phase}`,
        },
      });
    }

    case "idle": {
      const s = obs.sentinel;
      if (!s) return stay(state, { wait: { kind: "period" } });
      if (s.error) {
        return stay(state, {
          wait: { kind: "period" },
          report: { reason: "SentinelError", message: s.error, warning: true, blockReason: "sentinel-error" },
        });
      }
      if (!s.required) return stay(state, { wait: { kind: "period" } });
      return go(state, "required", now, {
        wait: NOW,
        report: { reason: "RebootRequired", message: "reboot required" },
      });
    }

    case "required":
    case "waiting": {
      if (r?.action === "acquire") {
        if (r.acquired) {
          return go(state, "cordoning", now, {
            wait: NOW,
            report: { reason: "SlotAcquired", message: "slot acquired" },
          });
        }
        return go(state, "waiting", now, {
          wait: { kind: "lock" },
          report: {
            reason: "RebootBlocked",
            message: r.message,
            blockReason: r.reason === "paused" ? "paused" : "lock",
          },
        });
      }
      const s = obs.sentinel;
      if (!s || s.error || !s.required) {
        return go(state, "idle", now, {
          wait: { kind: "period" },
          report: s?.error
            ? { reason: "SentinelError", message: s.error, warning: true, blockReason: "sentinel-error" }
            : { reason: "RebootNotRequired", message: "reboot no longer required" },
        });
      }
      const g = obs.gate;
      if (!g) return stay(state, { wait: { kind: "period" } });
      if (!g.clear) {
        return go(state, "required", now, {
          wait: g.retryAtMs === undefined ? { kind: "period" } : { kind: "period", untilMs: g.retryAtMs },
          report: { reason: "RebootBlocked", message: g.message, blockReason: g.reason },
        });
      }
      return stay(state, { action: { type: "acquire" }, wait: NOW });
    }

    case "cordoning": {
      if (r?.action === "cordon") {
        if (r.ok) {
          return go(state, "draining", now, {
            wait: NOW,
            report: { reason: "Cordoned", message: "node cordoned" },
          });
        }
        return failDrain(state, now, `cordon failed: ${r.error ?? "unknown error"}`, cfg);
      }
      if (r?.action === "release") return afterRelease(state, now, r);
      const s = obs.sentinel;
      if (s && !s.error && !s.required) {
        return stay(state, {
          action: { type: "release" },
          wait: NOW,
          report: { reason: "RebootNotRequired", message: "reboot no longer required; giving the slot back" },
        });
      }
      const g = obs.gate;
      if (g && !g.clear) {
        // Blocked after taking the slot: never hold a slot while blocked.
        return stay(state, {
          action: { type: "release" },
          wait: NOW,
          report: { reason: "RebootBlocked", message: g.message, blockReason: g.reason },
        });
      }
      return stay(state, { action: { type: "cordon" }, wait: NOW });
    }

    case "draining": {
      if (r?.action === "drain") {
        if (r.ok) return go(state, "reboot-delay", now, { wait: NOW });
        return failDrain(state, now, r.error ?? "drain failed", cfg);
      }
      return stay(state, {
        action: { type: "drain" },
        wait: NOW,
        report: { reason: "Draining", message: "draining node" },
      });
    }

    case "reboot-delay": {
      const left = state.since + cfg.rebootDelayMs - now;
      if (left > 0 && !cfg.dryRun) return stay(state, { wait: { kind: "ms", ms: left } });
      return go(state, "rebooting", now, { wait: NOW });
    }

    case "rebooting": {
      if (r?.action === "reboot") {
        if (r.ok && cfg.dryRun) {
          return go(state, "releasing", now, { wait: NOW });
        }
        if (r.ok) return stay(state, { wait: { kind: "ms", ms: cfg.rebootTimeoutMs } });
        return rebootTrouble(state, now, `reboot command failed: ${r.error ?? "unknown error"}`);
      }
      if (state.rebootAttempts === 0) {
        return {
          state: { ...state, rebootAttempts: 1 },
          action: { type: "reboot" },
          wait: NOW,
          report: { reason: "Rebooting", message: "rebooting node" },
        };
      }
      const waited = now - state.since;
      if (waited < cfg.rebootTimeoutMs) {
        return stay(state, { wait: { kind: "ms", ms: cfg.rebootTimeoutMs - waited } });
      }
      return rebootTrouble(state, now, `the host did not go down within ${Math.round(waited / 1000)}s`);
    }

    case "recovering": {
      if (!obs.node?.ready) {
        return stay(state, { wait: { kind: "ms", ms: RETRY_MS } });
      }
      const timedOut = now - state.since >= cfg.recoveryTimeoutMs;
      if (obs.daemonPodsReady === false && !timedOut) return stay(state, { wait: { kind: "ms", ms: 2_000 } });
      const notes: string[] = [];
      if (obs.daemonPodsReady === false) {
        notes.push("DaemonSet pods on the node still not Ready after --recovery-timeout; uncordoning anyway");
      }
      if (obs.sentinel?.required) {
        // Never a reboot loop: the slot is released as usual and the next sentinel check is a period away.
        notes.push(
          "the reboot sentinel is still present after the reboot; not rebooting again before a period",
        );
      }
      return go(state, "uncordoning", now, {
        wait: NOW,
        ...(notes.length
          ? { report: { reason: "RebootConfirmed" as const, message: notes.join("; "), warning: true } }
          : {}),
      });
    }

    case "uncordoning": {
      if (r?.action === "uncordon") {
        if (r.ok) {
          return go(state, "release-delay", now, {
            wait: NOW,
            report: { reason: "Uncordoned", message: "node back in service" },
          });
        }
        return stay(state, {
          wait: { kind: "ms", ms: RETRY_MS },
          report: { reason: "Uncordoned", message: `uncordon failed: ${r.error}`, warning: true },
        });
      }
      return stay(state, { action: { type: "uncordon" }, wait: NOW });
    }

    case "release-delay": {
      if (r?.action === "set-release-after") {
        if (!r.ok) return stay(state, { wait: { kind: "ms", ms: RETRY_MS } });
        return stay(state, { wait: { kind: "ms", ms: Math.max(0, r.at - now) } });
      }
      const at = obs.slot?.releaseAfter;
      if (at === undefined) {
        if (cfg.releaseDelayMs <= 0) return go(state, "releasing", now, { wait: NOW });
        return stay(state, {
          action: { type: "set-release-after", at: now + cfg.releaseDelayMs },
          wait: NOW,
        });
      }
      if (at > now) return stay(state, { wait: { kind: "ms", ms: at - now } });
      return go(state, "releasing", now, { wait: NOW });
    }

    case "retreating": {
      if (r?.action === "retreat") {
        if (r.ok) return go(state, "releasing", now, { wait: NOW });
        return stay(state, {
          wait: { kind: "ms", ms: RETRY_MS },
          report: { reason: "DrainFailed", message: `retreat failed: ${r.error}`, warning: true },
        });
      }
      return stay(state, { action: { type: "retreat" }, wait: NOW });
    }

    case "releasing": {
      if (r?.action === "release") return afterRelease(state, now, r);
      return stay(state, { action: { type: "release" }, wait: NOW });
    }
  }
}

function afterRelease(state: State, now: number, r: { ok: boolean; error?: string }): Decision {
  if (!r.ok) {
    return stay(state, {
      wait: { kind: "ms", ms: RETRY_MS },
      report: { reason: "SlotReleased", message: `release failed: ${r.error}; retrying`, warning: true },
    });
  }
  // Back to idle and the next sentinel check a period away: a failed drain, or a sentinel that is still there
  // after a reboot, is retried no sooner than one period later.
  return go(state, "idle", now, {
    wait: { kind: "period" },
    report: {
      reason: "SlotReleased",
      message: state.failure ? `slot released after: ${state.failure}` : "slot released",
    },
  });
}

function failDrain(state: State, now: number, why: string, cfg: MachineConfig): Decision {
  if (cfg.forceReboot) {
    return go(state, "reboot-delay", now, {
      wait: NOW,
      report: { reason: "DrainFailed", message: `${why}; rebooting anyway (--force-reboot)`, warning: true },
    });
  }
  const next = go(state, "retreating", now, {
    wait: NOW,
    report: {
      reason: "DrainFailed",
      message: `${why}; undoing the cordon and giving the slot back`,
      warning: true,
    },
  });
  next.state = { ...next.state, failure: why };
  return next;
}

function rebootTrouble(state: State, now: number, why: string): Decision {
  if (state.rebootAttempts < 2) {
    return {
      state: { ...state, rebootAttempts: state.rebootAttempts + 1, since: now },
      action: { type: "reboot" },
      wait: NOW,
      report: { reason: "RebootFailed", message: `${why}; trying the reboot once more`, warning: true },
    };
  }
  // Never drain again silently or give the slot away: the node is drained and waits for a human.
  return stay(state, {
    wait: { kind: "period" },
    report: {
      reason: "RebootFailed",
      message: `${why}; staying drained and holding the slot until it reboots`,
      warning: true,
    },
  });
}
