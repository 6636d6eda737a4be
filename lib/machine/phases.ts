/**
 * The phases of the reboot cycle and the sets of them the loop acts on. One list: the metrics' `phase` label,
 * the phase recorded on the slot Lease and the transition table all come from it.
 */

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

export function isPhase(s: string | undefined): s is Phase {
  return s !== undefined && (PHASES as readonly string[]).includes(s);
}

/**
 * Phases in which this node holds a slot: every phase after it took one. The loop keeps the slot's Lease
 * renewed in these, and records on it those a restart needs (RECORDED_PHASES in startup.ts).
 */
export const HOLDING_PHASES: ReadonlySet<Phase> = new Set(
  PHASES.filter((p) => p !== "startup" && p !== "idle" && p !== "required" && p !== "waiting"),
);

/**
 * Phases in which the node is being disrupted on the strength of its slot but has not rebooted yet. If the
 * slot is lost meanwhile (its Lease deleted, or taken by another node), going on would disrupt one node more
 * than the concurrency allows: the loop watches the slot in these phases and reports a loss as
 * `Observation.slotLost`, and `decide` retreats.
 */
export const GUARDED_PHASES: ReadonlySet<Phase> = new Set(["cordoning", "draining", "reboot-delay"]);
