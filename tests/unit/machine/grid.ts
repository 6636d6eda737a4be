/**
 * A sweep over the machine's inputs: every phase, in a few states and configurations, against observations
 * made of every kind of result and combinations of everything else a loop can observe. It finds the phase
 * changes the handlers can make that no row was written for.
 */
import type { ActionResult, MachineConfig, Observation, State } from "../../../lib/machine/mod.ts";
import { PHASES } from "../../../lib/machine/mod.ts";
import { blocked, CFG, clear, healthy, notReq, req, st, T, timedOut, unhealthy } from "./support.ts";

const HEALTH = [
  undefined,
  healthy,
  unhealthy,
  { ...unhealthy, retryAtMs: T + 5 },
  timedOut(true),
  timedOut(false),
];

const RESULTS: ActionResult[] = [
  { action: "acquire", acquired: true },
  { action: "acquire", acquired: false, reason: "full", message: "full" },
  { action: "acquire", acquired: false, reason: "paused", message: "paused" },
  { action: "set-release-after", ok: true, at: T + 1_000 },
  { action: "set-release-after", ok: false, at: T + 1_000, error: "e" },
  { action: "record-failure", ok: true },
  { action: "record-failure", ok: true, opened: "circuit breaker: …" },
  { action: "record-failure", ok: false, error: "e" },
  { action: "note-reboot", ok: true },
  { action: "note-reboot", ok: true, loop: "reboot loop: …" },
  { action: "note-reboot", ok: false, error: "e" },
  ...(["release", "cordon", "drain", "reboot", "uncordon", "retreat"] as const).flatMap((
    action,
  ): ActionResult[] => [{ action, ok: true }, { action, ok: false, error: "e" }]),
];

function* observed(): Generator<Omit<Observation, "now">> {
  for (const sentinel of [undefined, req, notReq, { required: true, error: "e" }]) {
    for (
      const gate of [
        undefined,
        clear,
        blocked("pdb"),
        { ...blocked("window"), retryAtMs: T + 5 },
        blocked("reboot-loop"),
      ]
    ) {
      for (
        const slot of [
          undefined,
          null,
          {},
          { releaseAfter: T + 5 },
          { releaseAfter: T - 5 },
          ...["draining", "rebooting", "release-delay", "retreating", "idle", "nonsense"].flatMap((phase) => [
            { phase },
            { phase, bootId: "a" },
          ]),
        ]
      ) {
        for (
          const node of [undefined, { ready: true }, { ready: false, bootId: "a" }, {
            ready: true,
            bootId: "b",
          }]
        ) {
          for (const health of HEALTH) {
            const o: Omit<Observation, "now"> = {};
            if (sentinel) o.sentinel = sentinel;
            if (gate) o.gate = gate;
            if (slot !== undefined) o.slot = slot;
            if (node) o.node = node;
            if (health) o.health = health;
            yield o;
          }
        }
      }
    }
  }
  for (const result of RESULTS) yield { result };
}

export interface Case {
  state: State;
  obs: Observation;
  cfg: MachineConfig;
}

export function* grid(): Generator<Case> {
  const configs: MachineConfig[] = [
    CFG,
    { ...CFG, forceReboot: true, dryRun: true },
    { ...CFG, rebootDelayMs: 30_000, releaseDelayMs: 30_000 },
  ];
  const observations = [...observed()];
  for (const phase of PHASES) {
    for (
      const state of [
        st(phase),
        st(phase, { rebootAttempts: 1 }),
        st(phase, { rebootAttempts: 2, failure: "f" }),
        st(phase, { rebootAttempts: 2, failureRecorded: true }),
      ]
    ) {
      for (const cfg of configs) {
        for (const base of observations) {
          for (const now of [T, T + 3_600_000]) {
            for (const slotLost of [undefined, "gone"]) {
              const obs: Observation = { now, ...base };
              if (slotLost) obs.slotLost = slotLost;
              yield { state, obs, cfg };
            }
          }
        }
      }
    }
  }
}
