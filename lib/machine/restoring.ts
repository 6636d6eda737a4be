/**
 * Putting the node back and giving the slot back: after the reboot `recovering` (the post-reboot health gate,
 * lib/safety/health.ts; a timeout is a failed reboot for the circuit breaker; then the reboot-loop guard
 * hears whether the sentinel is still there), `uncordoning`, `release-delay` and `releasing`; without one,
 * `retreating` (undo the cordon, taint and labels) and then `releasing`. A failed write here is retried every
 * few seconds, never given up: the slot stays held until the node is back in service.
 */
import { go, NOW, RETRY_MS, stay } from "./step.ts";
import type { ActionResult, Decision, MachineConfig, Observation, Outcome, State, Wait } from "./types.ts";

/** How often a rebooted node that is not healthy yet looks again (node, DaemonSet pods, evicted workloads). */
export const HEALTH_POLL_MS = 5_000;

export function recovering(state: State, obs: Observation): Decision {
  const { now, result: r } = obs;
  if (r?.action === "record-failure") return failureRecorded(state, r, NOW);
  if (r?.action === "note-reboot") {
    if (!r.ok) {
      return stay(state, {
        wait: { kind: "ms", ms: RETRY_MS },
        report: {
          reason: "SafetyRecordFailed",
          message: `could not record the reboot for the reboot-loop guard: ${r.error}; retrying`,
        },
      });
    }
    // Never a reboot loop: the slot is released as usual, and the guard spaces out the next reboot.
    if (r.loop === undefined) return go(state, "uncordoning", now);
    return go(state, "uncordoning", now, { wait: NOW, report: { reason: "RebootLoop", message: r.loop } });
  }
  const h = obs.health;
  if (!h) return stay(state, { wait: { kind: "ms", ms: RETRY_MS } });
  if (h.state === "waiting") {
    const ms = h.retryAtMs === undefined ? HEALTH_POLL_MS : Math.max(0, h.retryAtMs - now);
    return stay(state, { wait: { kind: "ms", ms } });
  }
  if (h.state === "timed-out" && !state.failureRecorded) {
    return stay(state, {
      action: { type: "record-failure", kind: h.nodeReady ? "health-timeout" : "not-ready", why: h.why },
      wait: NOW,
      report: {
        reason: "RecoveryIncomplete",
        message: h.nodeReady
          ? `${h.why}; counting the reboot as failed, uncordoning and giving the slot back`
          : `${h.why}; counting the reboot as failed; the node keeps its slot until it is Ready`,
      },
    });
  }
  // A node that never came back Ready keeps its slot, as a NotReady holder does: the rollout stops there.
  if (h.state === "timed-out" && !h.nodeReady) return stay(state, { wait: { kind: "ms", ms: RETRY_MS } });
  const sentinel = obs.sentinel;
  const sentinelRequired = sentinel === undefined || sentinel.error ? undefined : sentinel.required;
  return stay(state, { action: { type: "note-reboot", sentinelRequired }, wait: NOW });
}

/**
 * The failed reboot is on the circuit breaker's record (or could not be put there: retried). The slot is given
 * back only after it is, so the next node cannot start before the breaker had its say.
 */
export function failureRecorded(
  state: State,
  r: Extract<ActionResult, { action: "record-failure" }>,
  wait: Wait,
): Decision {
  if (!r.ok) {
    return stay(state, {
      wait: { kind: "ms", ms: RETRY_MS },
      report: {
        reason: "SafetyRecordFailed",
        message: `could not record the failed reboot for the circuit breaker: ${r.error}; retrying`,
      },
    });
  }
  const next: State = { ...state, failureRecorded: true };
  if (r.opened === undefined) return stay(next, { wait });
  return stay(next, { wait, report: { reason: "CircuitBreakerOpen", message: r.opened } });
}

export function uncordoning(state: State, obs: Observation): Decision {
  const r = obs.result;
  if (r?.action !== "uncordon") return stay(state, { action: { type: "uncordon" }, wait: NOW });
  if (r.ok) {
    return go(state, "release-delay", obs.now, {
      wait: NOW,
      report: { reason: "Uncordoned", message: "node back in service" },
    });
  }
  return stay(state, {
    wait: { kind: "ms", ms: RETRY_MS },
    report: { reason: "UncordonFailed", message: `uncordon failed: ${r.error}; retrying` },
  });
}

export function releaseDelay(state: State, obs: Observation, cfg: MachineConfig): Decision {
  const { now, result: r } = obs;
  if (r?.action === "set-release-after") {
    if (!r.ok) return stay(state, { wait: { kind: "ms", ms: RETRY_MS } });
    return stay(state, { wait: { kind: "ms", ms: Math.max(0, r.at - now) } });
  }
  const at = obs.slot?.releaseAfter;
  if (at === undefined) {
    if (cfg.releaseDelayMs <= 0) return go(state, "releasing", now);
    return stay(state, { action: { type: "set-release-after", at: now + cfg.releaseDelayMs }, wait: NOW });
  }
  if (at > now) return stay(state, { wait: { kind: "ms", ms: at - now } });
  return go(state, "releasing", now);
}

export function retreating(state: State, obs: Observation): Decision {
  const r = obs.result;
  if (r?.action !== "retreat") return stay(state, { action: { type: "retreat" }, wait: NOW });
  if (r.ok) return go(state, "releasing", obs.now);
  return stay(state, {
    wait: { kind: "ms", ms: RETRY_MS },
    report: { reason: "RetreatFailed", message: `retreat failed: ${r.error}; retrying` },
  });
}

export function releasing(state: State, obs: Observation): Decision {
  const r = obs.result;
  if (r?.action === "release") return afterRelease(state, obs.now, r);
  return stay(state, { action: { type: "release" }, wait: NOW });
}

/** The slot was given back (from `releasing`, or from `cordoning` when the reboot was called off). */
export function afterRelease(state: State, now: number, r: Outcome<"release">): Decision {
  if (!r.ok) {
    return stay(state, {
      wait: { kind: "ms", ms: RETRY_MS },
      report: { reason: "ReleaseFailed", message: `release failed: ${r.error}; retrying` },
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
