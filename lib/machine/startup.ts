/**
 * `startup`: a daemon that (re)starts finds out from the slot's Lease whether it holds a slot and whether the
 * node rebooted since it was taken (the boot ID changed), and picks up there. It never drains or reboots on
 * the strength of a record it cannot read.
 */
import { HOLDING_PHASES, isPhase, type Phase } from "./phases.ts";
import { go, NOW } from "./step.ts";
import type { Decision, Observation, State } from "./types.ts";

/** Phases recorded only after a confirmed reboot: a restart in one of them resumes it. */
const AFTER_REBOOT: ReadonlySet<string> = new Set(["uncordoning", "release-delay", "releasing"]);

/**
 * The holding phases a restart must tell apart from the one recorded before them, and so the only ones the slot
 * keeper (lib/lock/keeper.ts) writes on the slot Lease as the node enters them (`release-delay` goes in the
 * write of its deadline). Every other phase resumes as well from the record before it and what the node shows:
 *
 * - `cordoning` is written by the acquisition itself;
 * - `draining` is not written: the cordon's own patch carries kreboot's annotation (lib/drain/node.ts), and a
 *   restart that finds the slot in `cordoning` on a node with that annotation finishes the drain instead of
 *   checking the gates again (the node's own evictions can make the PodDisruptionBudget pre-flight block, and
 *   a blocked `cordoning` gives the slot back);
 * - `reboot-delay` resumes as `draining` does (the drain is idempotent), so its record would change nothing;
 * - `rebooting`, the point of no return, only when the slot has no boot ID to compare (`recordedOnEntering`):
 *   then it is what makes a restart count as the reboot (RebootAssumed) instead of draining and rebooting
 *   again. With boot IDs a changed one says the node rebooted, and an unchanged one resumes at `draining`
 *   whatever was recorded;
 * - `recovering`, `uncordoning` and `releasing` come after the reboot, which a restart recognises from the boot
 *   ID (or from the recorded `rebooting`) and picks up at `recovering`: the node is Ready again at once, the
 *   uncordon touches only a node that still has kreboot's cordon annotation, and the release deadline is on
 *   the Lease;
 * - `retreating`: a restart must finish undoing the cordon, not drain again.
 */
export const RECORDED_PHASES: ReadonlySet<Phase> = new Set([
  "cordoning",
  "rebooting",
  "retreating",
]);

/** Whether entering `phase` is written on the slot Lease, given what the slot recorded at its acquisition. */
export function recordedOnEntering(phase: Phase, slot: { bootId?: string }): boolean {
  if (phase === "rebooting") return slot.bootId === undefined;
  return RECORDED_PHASES.has(phase);
}

export function startup(state: State, obs: Observation): Decision {
  const { now, slot } = obs;
  if (!slot) {
    if (!obs.node?.cordonedByUs) return go(state, "idle", now);
    // Cordoned by kreboot but holding no slot (it was taken over past --lock-ttl, or deleted, while this
    // daemon was away): without a slot the node must not stay disrupted. Undo our cordon; a node that still
    // needs its reboot takes a slot again the normal way.
    return go(state, "retreating", now, {
      wait: NOW,
      report: {
        reason: "SlotLost",
        message: "restarted cordoned by kreboot without a slot; undoing the cordon",
      },
    });
  }
  const bootNow = obs.node?.bootId;
  if (slot.bootId !== undefined && bootNow !== undefined && slot.bootId !== bootNow) {
    if (isPhase(slot.phase) && AFTER_REBOOT.has(slot.phase)) {
      return go(state, slot.phase, now, {
        wait: NOW,
        report: { reason: "Resumed", message: `resuming ${slot.phase} after a restart` },
      });
    }
    return go(state, "recovering", now, {
      wait: NOW,
      report: { reason: "RebootConfirmed", message: `node rebooted (boot ID ${slot.bootId} -> ${bootNow})` },
    });
  }
  if ((slot.bootId === undefined || bootNow === undefined) && slot.phase === "rebooting") {
    // Nothing to compare (the node reports no boot ID, or none was recorded): a restart after the reboot
    // command counts as the reboot. Draining and rebooting again would loop forever on such a node; if the
    // host did not actually go down, its sentinel is still there and the next cycle tries again.
    return go(state, "recovering", now, {
      wait: NOW,
      report: {
        reason: "RebootAssumed",
        message: "restarted in phase rebooting; no boot ID to compare, so taking it as the reboot",
      },
    });
  }
  if (!isPhase(slot.phase) || !HOLDING_PHASES.has(slot.phase)) {
    // kreboot always records a holding phase: an unreadable one is garbage (or someone else's record), and
    // garbage never leads to a drain or a reboot. Undo a cordon of ours, if any, and give the slot back; a
    // node that still needs its reboot takes a slot again the normal way.
    return go(state, "retreating", now, {
      wait: NOW,
      report: {
        reason: "SlotUnreadable",
        message: `holding a slot with an unreadable phase (${
          slot.phase ?? "none"
        }); not trusting it: undoing any cordon of ours and giving the slot back`,
      },
    });
  }
  const phase = resumeWithoutReboot(slot.phase, obs.node?.cordonedByUs === true);
  const d = go(state, phase, now, {
    wait: NOW,
    report: {
      reason: "Resumed",
      message: `holding a slot in phase ${slot.phase} without a reboot; resuming at ${phase}`,
    },
  });
  // The daemon may have died after the taint and labels and before the cordon: if cordoning now gives the slot
  // back, it undoes those first.
  if (phase === "cordoning") d.state = { ...d.state, resumed: true };
  return d;
}

/** Where a restarted daemon that holds a slot but did not reboot (or cannot tell) picks up. */
function resumeWithoutReboot(recorded: Phase, cordonedByUs: boolean): Phase {
  // Cordoned by kreboot under a slot still in cordoning: the cordon was the last step of cordoning.
  if (recorded === "cordoning") return cordonedByUs ? "draining" : "cordoning";
  // Recorded only after a confirmed reboot, so the reboot already happened; retreating resumes.
  if (AFTER_REBOOT.has(recorded) || recorded === "retreating") return recorded;
  // `recovering` reaches the Lease only with a renewal after the reboot: on a node without boot IDs it must not
  // lead to a second drain and reboot.
  if (recorded === "recovering") return recorded;
  // draining, reboot-delay, rebooting or recovering: finish the drain (idempotent), then reboot.
  return "draining";
}
