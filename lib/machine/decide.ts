/**
 * `decide`: given the state and what the loop observed (or the result of the last action), the next phase, at
 * most one action, how long to wait, and what to report. One handler per phase; the phase changes they make
 * are declared in transitions.ts.
 */
import { startup } from "./startup.ts";
import { cordoning, draining, rebootDelay, rebooting, slotLost } from "./disrupting.ts";
import { GUARDED_PHASES, type Phase } from "./phases.ts";
import { recovering, releaseDelay, releasing, retreating, uncordoning } from "./restoring.ts";
import type { Handler } from "./step.ts";
import type { Decision, MachineConfig, Observation, State } from "./types.ts";
import { idle, wantSlot } from "./waiting.ts";

const HANDLERS: Record<Phase, Handler> = {
  startup,
  idle,
  required: wantSlot,
  waiting: wantSlot,
  cordoning,
  draining,
  "reboot-delay": rebootDelay,
  rebooting,
  recovering,
  uncordoning,
  "release-delay": releaseDelay,
  releasing,
  retreating,
};

export function decide(state: State, obs: Observation, cfg: MachineConfig): Decision {
  if (obs.slotLost !== undefined && GUARDED_PHASES.has(state.phase)) {
    return slotLost(state, obs.now, obs.slotLost);
  }
  return HANDLERS[state.phase](state, obs, cfg);
}
