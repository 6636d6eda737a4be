/**
 * The reboot cycle as a pure state machine. The loop (lib/loop.ts) observes, `decide` decides, the loop acts:
 * `decide` takes the current state and what the loop observed (or the result of the last action) and returns
 * the next phase, at most one action, how long to wait and what to report. It does no I/O, so every
 * transition, failures included, is a row in a unit-test table (tests/unit/machine/).
 *
 * - phases.ts: the phases, and the sets of them the loop acts on (holding a slot; guarded against its loss);
 * - transitions.ts: every phase change, declared as data;
 * - decide.ts: the dispatcher; startup.ts, waiting.ts, disrupting.ts, restoring.ts: one handler per phase;
 * - reports.ts: the Event reasons `decide` reports; types.ts: its inputs and outputs.
 */
export { decide } from "./decide.ts";
export { GUARDED_PHASES, HOLDING_PHASES, isPhase, type Phase, PHASES } from "./phases.ts";
export { RECORDED_PHASES, recordedOnEntering } from "./startup.ts";
export { type EventType, isWarning, type Report, REPORT_REASONS, type ReportReason } from "./reports.ts";
export { type Transition, TRANSITIONS } from "./transitions.ts";
export {
  type Action,
  type ActionResult,
  type Decision,
  type HeldSlot,
  initialState,
  type MachineConfig,
  type NodeObs,
  type Observation,
  type Outcome,
  type SentinelObs,
  type State,
  type Wait,
} from "./types.ts";
