/**
 * Putting the node back and giving the slot back: after the reboot `recovering` (node and DaemonSet pods
 * Ready), `uncordoning`, `release-delay` and `releasing`; without one, `retreating` (undo the cordon, taint
 * and labels) and then `releasing`. A failed write here is retried every few seconds, never given up: the
 * slot stays held until the node is back in service.
 */
import { go, NOW, RETRY_MS, stay } from "./step.ts";
import type { Decision, MachineConfig, Observation, Outcome, State } from "./types.ts";

/** How often a node that rebooted checks again whether its DaemonSet pods are Ready. */
const PODS_RETRY_MS = 2_000;

export function recovering(state: State, obs: Observation, cfg: MachineConfig): Decision {
  const now = obs.now;
  if (!obs.node?.ready) return stay(state, { wait: { kind: "ms", ms: RETRY_MS } });
  const timedOut = now - state.since >= cfg.recoveryTimeoutMs;
  if (obs.daemonPodsReady === false && !timedOut) {
    return stay(state, { wait: { kind: "ms", ms: PODS_RETRY_MS } });
  }
  const notes: string[] = [];
  if (obs.daemonPodsReady === false) {
    notes.push("DaemonSet pods on the node still not Ready after --recovery-timeout; uncordoning anyway");
  }
  if (obs.sentinel?.required) {
    // Never a reboot loop: the slot is released as usual and the next sentinel check is a period away.
    notes.push("the reboot sentinel is still present after the reboot; not rebooting again before a period");
  }
  if (notes.length === 0) return go(state, "uncordoning", now);
  return go(state, "uncordoning", now, {
    wait: NOW,
    report: { reason: "RecoveryIncomplete", message: notes.join("; ") },
  });
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
