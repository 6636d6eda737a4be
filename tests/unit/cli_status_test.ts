/**
 * `kreboot status` rendering: the "does not seem to run here" verdict and the text tables (the condition it reads
 * is decoded by lib/report/condition.ts, tested in tests/unit/report/events_condition_test.ts).
 */
import assert from "node:assert/strict";
import { formatStatus, seemsAbsent, type StatusReport } from "../../lib/cli/status.ts";
import { holderPhase } from "../../lib/cli/fleet.ts";

function report(over: Partial<StatusReport> = {}): StatusReport {
  return {
    namespace: "kube-system",
    dsName: "kured",
    paused: { paused: false },
    groups: [],
    failedReboots: [],
    slots: [],
    nodes: [],
    unknownNodes: [],
    installed: true,
    holds: [],
    requests: [],
    ...over,
  };
}

Deno.test("seemsAbsent only when there is no DaemonSet, no slot, no condition and no pause", () => {
  assert.equal(seemsAbsent(report({ installed: false, unknownNodes: ["a"] })), true);
  assert.equal(seemsAbsent(report()), false, "the DaemonSet exists");
  assert.equal(
    seemsAbsent(report({ installed: false, slots: [{ slot: "kured-slot-0", index: 0, holder: "" }] })),
    false,
  );
  assert.equal(
    seemsAbsent(
      report({ installed: false, nodes: [{ node: "a", rebootRequired: false, unschedulable: false }] }),
    ),
    false,
  );
  assert.equal(
    seemsAbsent(
      report({ installed: false, paused: { paused: true, by: "x", reason: "y", source: "lease" } }),
    ),
    false,
  );
  assert.match(formatStatus(report({ installed: false })), /does not seem to run here.*kube-system\/kured/);
});

Deno.test("formatStatus: pause line, slot table, waiting nodes with what blocks them", () => {
  const text = formatStatus(report({
    paused: {
      paused: true,
      by: "alice",
      reason: "freeze",
      source: "lease",
      since: new Date("2026-01-02T03:04:05Z"),
    },
    slots: [{
      slot: "kured-slot-0",
      index: 0,
      holder: "n1",
      phase: "draining",
      since: "2026-01-02T03:00:00.000Z",
    }],
    nodes: [
      { node: "n1", rebootRequired: true, unschedulable: true, reason: "Draining", slot: "kured-slot-0" },
      {
        node: "n2",
        rebootRequired: true,
        unschedulable: false,
        reason: "RebootBlocked",
        blockedBy: "pdb",
        message: "blocked (pdb): PodDisruptionBudget work/db allows 0",
      },
      { node: "n3", rebootRequired: false, unschedulable: false, reason: "RebootConfirmed" },
    ],
    unknownNodes: ["n4"],
  }));
  assert.match(text, /^Reboots PAUSED by alice: freeze \(since 2026-01-02T03:04:05.000Z\)$/m);
  assert.match(text, /^kured-slot-0\s+n1\s+draining\s+2026-01-02T03:00:00.000Z$/m);
  assert.match(text, /^n1\s+Draining\s+-\s+kured-slot-0\s/m);
  assert.match(
    text,
    /^n2\s+RebootBlocked\s+pdb\s+-\s+-\s+blocked \(pdb\): PodDisruptionBudget work\/db allows 0$/m,
  );
  assert.doesNotMatch(text, /^n3\s/m, "a node that needs no reboot is not listed");
  assert.match(text, /No kreboot status yet on: n4/);
});

Deno.test("formatStatus: the circuit breaker's pause and the failed reboots it counts", () => {
  const reason =
    "circuit breaker: 2 failed reboots within 24h0m0s (a: x; b: y); check these nodes, then run kreboot resume";
  const text = formatStatus(report({
    paused: { paused: true, by: "circuit-breaker", reason, source: "lease" },
    failedReboots: [
      { node: "a", at: "2026-01-02T03:00:00.000Z", kind: "health-timeout", why: "x" },
      { node: "b", at: "2026-01-02T03:10:00.000Z", kind: "not-ready", why: "y" },
    ],
  }));
  assert.match(text, /^Reboots PAUSED by circuit-breaker: circuit breaker: 2 failed reboots/);
  assert.match(text, /Failed reboots the circuit breaker counts \(2; kreboot resume resets it\):/);
  assert.match(text, /^b +2026-01-02T03:10:00.000Z +not-ready +y$/m);
  assert.doesNotMatch(formatStatus(report()), /Failed reboots/, "nothing to say without failures");
});

Deno.test("formatStatus: held nodes with who, since when and why; reboot requests with their state", () => {
  const text = formatStatus(report({
    holds: [{ node: "node-5", by: "alice", reason: "NIC firmware debugging", since: "2026-11-23T10:00:00Z" }],
    requests: [
      {
        node: "node-6",
        by: "bob",
        since: "2026-11-23T11:00:00Z",
        reason: "kernel parameter",
        state: "pending",
      },
      { node: "node-7", state: "unreadable", problem: "unreadable kreboot.dev/reboot-requested annotation" },
    ],
  }));
  const lines = text.split("\n");
  const held = lines.findIndex((l) => l.startsWith("HELD"));
  assert.match(lines[held] ?? "", /^HELD\s+BY\s+SINCE\s+WHY$/);
  assert.match(lines[held + 1] ?? "", /^node-5\s+alice\s+2026-11-23T10:00:00Z\s+NIC firmware debugging$/);
  const req = lines.findIndex((l) => l.startsWith("REBOOT REQUESTED"));
  assert.match(lines[req + 1] ?? "", /^node-6\s+bob\s+2026-11-23T11:00:00Z\s+pending\s+kernel parameter$/);
  assert.match(lines[req + 2] ?? "", /^node-7\s+-\s+-\s+unreadable\s+unreadable kreboot/);
  assert.doesNotMatch(formatStatus(report()), /HELD|REBOOT REQUESTED/, "no empty tables");
});

Deno.test("status: a holder's phase is the Lease's record, brought forward by the step its condition says", () => {
  // The Lease records only what a restart needs (lib/machine/startup.ts): `cordoning` through the drain, and
  // with boot IDs no `rebooting`.
  assert.equal(holderPhase("cordoning", "Draining"), "draining");
  assert.equal(holderPhase("cordoning", "Rebooting"), "rebooting");
  assert.equal(holderPhase("draining", "Rebooting"), "rebooting");
  assert.equal(holderPhase("cordoning", "RebootConfirmed"), "recovering");
  assert.equal(holderPhase("rebooting", "RebootAssumed"), "recovering");
  // Never backwards: a condition left from an earlier step does not undo a later record.
  assert.equal(holderPhase("retreating", "Draining"), "retreating");
  assert.equal(holderPhase("release-delay", "Rebooting"), "release-delay");
  assert.equal(holderPhase("cordoning", "RebootBlocked"), "cordoning");
  assert.equal(holderPhase("cordoning", undefined), "cordoning");
  assert.equal(holderPhase(undefined, "Draining"), undefined);
});
