/**
 * Holding a slot until the host goes down: `cordoning` (gates checked once more, then the cordon), `draining`,
 * `reboot-delay` and `rebooting`. The first three are the guarded phases: a lost slot turns them into a
 * retreat. A failed cordon or drain retreats too (or reboots anyway with --force-reboot); a reboot that does
 * not happen is tried once more, then counted as failed (the circuit breaker, lib/safety/breaker.ts) and the
 * node stays drained and holds its slot for a human to look at.
 */
import { afterRelease, failureRecorded } from "./restoring.ts";
import { go, NOW, stay } from "./step.ts";
import type { Report } from "./reports.ts";
import type { Decision, MachineConfig, Observation, State } from "./types.ts";

export function cordoning(state: State, obs: Observation, cfg: MachineConfig): Decision {
  const { now, result: r } = obs;
  if (r?.action === "cordon") {
    if (r.ok) {
      return go(state, "draining", now, {
        wait: NOW,
        report: { reason: "Cordoned", message: "node cordoned" },
      });
    }
    return drainFailed(state, now, `cordon failed: ${r.error}`, cfg);
  }
  if (r?.action === "release") return afterRelease(state, now, r);
  // Nothing was written yet, so the slot goes straight back; after a restart, the earlier process's cordon,
  // taint and labels (if it got that far) are undone first.
  const giveBack = (report: Report): Decision =>
    state.resumed
      ? go(state, "retreating", now, { wait: NOW, report })
      : stay(state, { action: { type: "release" }, wait: NOW, report });
  const s = obs.sentinel;
  if (s && !s.error && !s.required) {
    return giveBack({
      reason: "RebootNotRequired",
      message: "reboot no longer required; giving the slot back",
    });
  }
  const g = obs.gate;
  // Blocked after taking the slot: never hold a slot while blocked.
  if (g && !g.clear) return giveBack({ reason: "RebootBlocked", message: g.message, blockReason: g.reason });
  return stay(state, { action: { type: "cordon" }, wait: NOW });
}

export function draining(state: State, obs: Observation, cfg: MachineConfig): Decision {
  const r = obs.result;
  if (r?.action === "drain") {
    if (r.ok) return go(state, "reboot-delay", obs.now);
    return drainFailed(state, obs.now, r.error, cfg);
  }
  return stay(state, {
    action: { type: "drain" },
    wait: NOW,
    report: { reason: "Draining", message: "draining node" },
  });
}

export function rebootDelay(state: State, obs: Observation, cfg: MachineConfig): Decision {
  const left = state.since + cfg.rebootDelayMs - obs.now;
  if (left > 0 && !cfg.dryRun) return stay(state, { wait: { kind: "ms", ms: left } });
  return go(state, "rebooting", obs.now);
}

export function rebooting(state: State, obs: Observation, cfg: MachineConfig): Decision {
  const { now, result: r } = obs;
  if (r?.action === "record-failure") return failureRecorded(state, r, { kind: "period" });
  if (r?.action === "reboot") {
    if (r.ok && cfg.dryRun) return go(state, "releasing", now);
    if (r.ok) return stay(state, { wait: { kind: "ms", ms: cfg.rebootTimeoutMs } });
    return rebootFailed(state, now, `reboot command failed: ${r.error}`);
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
  return rebootFailed(state, now, `the host did not go down within ${Math.round(waited / 1000)}s`);
}

/** A guarded phase whose slot is gone: undo the cordon and stop; the release then reports why. */
export function slotLost(state: State, now: number, why: string): Decision {
  const next = go(state, "retreating", now, {
    wait: NOW,
    report: { reason: "SlotLost", message: `lost the slot (${why}); undoing the cordon and stopping` },
  });
  next.state = { ...next.state, failure: why };
  return next;
}

function drainFailed(state: State, now: number, why: string, cfg: MachineConfig): Decision {
  if (cfg.forceReboot) {
    return go(state, "reboot-delay", now, {
      wait: NOW,
      report: { reason: "DrainFailed", message: `${why}; rebooting anyway (--force-reboot)` },
    });
  }
  const next = go(state, "retreating", now, {
    wait: NOW,
    report: { reason: "DrainFailed", message: `${why}; undoing the cordon and giving the slot back` },
  });
  next.state = { ...next.state, failure: why };
  return next;
}

function rebootFailed(state: State, now: number, why: string): Decision {
  if (state.rebootAttempts < 2) {
    return {
      state: { ...state, rebootAttempts: state.rebootAttempts + 1, since: now },
      action: { type: "reboot" },
      wait: NOW,
      report: { reason: "RebootFailed", message: `${why}; trying the reboot once more` },
    };
  }
  // Never drain again silently or give the slot away: the node is drained and waits for a human. Its boot ID
  // did not change within --reboot-timeout: a failed reboot for the circuit breaker, recorded once.
  const report = {
    reason: "RebootFailed",
    message: `${why}; staying drained and holding the slot until it reboots`,
  } as const;
  if (!state.failureRecorded) {
    return stay(state, {
      action: { type: "record-failure", kind: "boot-id-unchanged", why },
      wait: NOW,
      report,
    });
  }
  return stay(state, { wait: { kind: "period" }, report });
}
