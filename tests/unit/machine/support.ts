/**
 * The machine's test table: a row is a state, an observation and everything `decide` must answer: the next
 * phase, the action, the wait and the report, each stated (`null` = none), so a stray Event or wait fails it.
 */
import assert from "node:assert/strict";
import {
  type Action,
  decide,
  type MachineConfig,
  type Observation,
  type Phase,
  type ReportReason,
  type State,
  type Wait,
} from "../../../lib/machine/mod.ts";

export const CFG: MachineConfig = {
  forceReboot: false,
  rebootDelayMs: 0,
  releaseDelayMs: 0,
  rebootTimeoutMs: 60_000,
  dryRun: false,
};
export const T = 1_000_000;

export const st = (phase: Phase, extra: Partial<State> = {}): State => ({
  phase,
  since: T,
  rebootAttempts: 0,
  ...extra,
});
export const clear = { clear: true as const };
export const blocked = (reason: "window" | "alert" | "pod" | "pdb" | "reboot-loop") => ({
  clear: false as const,
  reason,
  message: `blocked by ${reason}`,
});
export const req = { required: true };
/** Health gate verdicts (lib/safety/health.ts). */
export const healthy = { state: "healthy" as const };
export const unhealthy = {
  state: "waiting" as const,
  waitingFor: ["DaemonSet pods to be Ready: kube-system/cni"],
};
export const timedOut = (nodeReady: boolean) => ({
  state: "timed-out" as const,
  nodeReady,
  why:
    "not healthy within --recovery-timeout (10m0s) after the reboot: still waiting for the node to be Ready",
});
export const notReq = { required: false };

export interface Expected {
  phase: Phase;
  action: Action["type"] | null;
  /** `null`: no wait (kind "none"). */
  wait: Exclude<Wait["kind"], "none"> | null;
  report: ReportReason | null;
}

export interface Row {
  name: string;
  state: State;
  obs: Omit<Observation, "now"> & { now?: number };
  cfg?: Partial<MachineConfig>;
  expect: Expected;
}

export function decideRow(row: Row) {
  return decide(row.state, { now: T, ...row.obs }, { ...CFG, ...row.cfg });
}

/** Asserts everything the row states, and that a phase change starts the new phase's clock. */
export function checkRow(row: Row): void {
  const d = decideRow(row);
  const got: Expected = {
    phase: d.state.phase,
    action: d.action?.type ?? null,
    wait: d.wait.kind === "none" ? null : d.wait.kind,
    report: d.report?.reason ?? null,
  };
  assert.deepEqual(got, row.expect);
  if (d.state.phase !== row.state.phase) assert.equal(d.state.since, row.obs.now ?? T);
}
