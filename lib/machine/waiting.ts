/**
 * Before a slot: `idle` checks the sentinel every period; `required` and `waiting` check the gates and try to
 * take a slot, `waiting` being the same with nothing to do until the lock changes. A waiting node woken by a
 * change of the lock tries for the slot before the gates, which `cordoning` checks before anything is done:
 * the gates are checked once per acquisition either way, and the waiters that a freed slot wakes race with
 * one write each instead of a round of gate reads, so fewer of them lose and each loss costs less.
 */
import type { Report } from "./reports.ts";
import { go, NOW, stay } from "./step.ts";
import type { BlockReason } from "../gates/gate.ts";
import type { AcquireRefusal, Decision, Observation, State } from "./types.ts";

export function idle(state: State, obs: Observation): Decision {
  const s = obs.sentinel;
  if (!s) return stay(state, { wait: { kind: "period" } });
  if (s.error) return stay(state, { wait: { kind: "period" }, report: sentinelError(s.error) });
  if (!s.required) return stay(state, { wait: { kind: "period" } });
  return go(state, "required", obs.now, {
    wait: NOW,
    report: {
      reason: "RebootRequired",
      message: s.requestedBy === undefined ? "reboot required" : `reboot requested by ${s.requestedBy}`,
    },
  });
}

/** `required` and `waiting`. */
export function wantSlot(state: State, obs: Observation): Decision {
  const { now, result: r } = obs;
  if (r?.action === "acquire") {
    if (r.acquired) {
      return go(state, "cordoning", now, {
        wait: NOW,
        report: { reason: "SlotAcquired", message: "slot acquired" },
      });
    }
    // Another waiter was faster: this node still waits for the same reason, already reported.
    if (state.triedOnWake && r.reason === "full") return stay(settled(state), { wait: { kind: "lock" } });
    return go(settled(state), "waiting", now, {
      wait: { kind: "lock" },
      report: {
        reason: "RebootBlocked",
        message: r.message,
        blockReason: BLOCKED_BY[r.reason],
      },
    });
  }
  const s = obs.sentinel;
  if (!s || s.error || !s.required) {
    return go(state, "idle", now, {
      wait: { kind: "period" },
      report: s?.error
        ? sentinelError(s.error)
        : { reason: "RebootNotRequired", message: "reboot no longer required" },
    });
  }
  if (obs.lockChanged && state.phase === "waiting") {
    return stay({ ...state, triedOnWake: true }, { action: { type: "acquire" }, wait: NOW });
  }
  const g = obs.gate;
  if (!g) return stay(state, { wait: { kind: "period" } });
  if (!g.clear) {
    return go(state, "required", now, {
      wait: g.retryAtMs === undefined ? { kind: "period" } : { kind: "period", untilMs: g.retryAtMs },
      // The reboot-loop guard is trouble, not an ordinary wait: its own (Warning) reason.
      report: {
        reason: g.reason === "reboot-loop" ? "RebootLoop" : "RebootBlocked",
        message: g.message,
        blockReason: g.reason,
      },
    });
  }
  return stay(settled(state), { action: { type: "acquire" }, wait: NOW });
}

function settled(state: State): State {
  if (!state.triedOnWake) return state;
  const { triedOnWake: _, ...rest } = state;
  return rest;
}

/** The block reason each refusal of the lock reports. */
const BLOCKED_BY: Record<AcquireRefusal, BlockReason> = {
  paused: "paused",
  full: "lock",
  budget: "budget",
  total: "total-cap",
};

function sentinelError(message: string): Report {
  return { reason: "SentinelError", message, blockReason: "sentinel-error" };
}
