/** What every phase handler shares: its signature and the two ways to decide (change phase, or stay). */
import type { Phase } from "./phases.ts";
import type { Decision, MachineConfig, Observation, State, Wait } from "./types.ts";

/** Decides for one phase; `decide` dispatches to it. */
export type Handler = (state: State, obs: Observation, cfg: MachineConfig) => Decision;

export const NOW: Wait = { kind: "none" };
/** How soon a failed API write (uncordon, release, …) is tried again. */
export const RETRY_MS = 5_000;

/**
 * Moves to `phase` (a transition of transitions.ts), starting its clock. The reboot attempts carry into
 * `rebooting` only; a failure being retreated from carries into `releasing`, to be reported with the release.
 */
export function go(
  state: State,
  phase: Phase,
  now: number,
  rest: Omit<Decision, "state"> = { wait: NOW },
): Decision {
  if (phase === state.phase) return { state, ...rest };
  const next: State = { phase, since: now, rebootAttempts: phase === "rebooting" ? state.rebootAttempts : 0 };
  if (state.failure && phase === "releasing") next.failure = state.failure;
  return { state: next, ...rest };
}

export function stay(state: State, rest: Omit<Decision, "state">): Decision {
  return { state, ...rest };
}
