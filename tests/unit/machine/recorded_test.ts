/**
 * The slot Lease records only what `recordedOnEntering` says (lib/machine/startup.ts): a daemon killed at any
 * point of a cycle must still resume from what was actually written at that point. Each case walks the cycle up
 * to the phase the daemon died in, writes only what is written (the acquisition's `cordoning`, each recorded
 * phase, the release deadline with `release-delay`, kreboot's cordon annotation on the node once `cordoning` is
 * done and until `uncordoning` or `retreating` undid it), and asks `decide` at start-up where it picks up.
 */
import assert from "node:assert/strict";
import {
  decide,
  type HeldSlot,
  initialState,
  type Phase,
  RECORDED_PHASES,
  recordedOnEntering,
  type ReportReason,
} from "../../../lib/machine/mod.ts";
import { CFG, T } from "./support.ts";

const BEFORE_REBOOT: Phase[] = ["cordoning", "draining", "reboot-delay", "rebooting"];
const AFTER_REBOOT: Phase[] = ["recovering", "uncordoning", "release-delay", "releasing"];
const RETREAT: Phase[] = ["cordoning", "draining", "retreating", "releasing"];

/** What the Lease and the node say after the node went through `path`, dying in its last phase. */
function recordAfter(path: Phase[], bootId: string | undefined): { slot: HeldSlot; cordonedByUs: boolean } {
  const slot: HeldSlot = { phase: "cordoning" };
  if (bootId !== undefined) slot.bootId = bootId;
  let cordonedByUs = false;
  path.forEach((p, i) => {
    if (recordedOnEntering(p, slot)) slot.phase = p;
    // The loop writes the deadline and the phase in one write (lib/loop.ts, set-release-after).
    if (p === "release-delay") Object.assign(slot, { phase: p, releaseAfter: T + 60_000 });
    // The cordon is the last act of cordoning (done once the next phase came); the uncordon and the retreat
    // take the annotation away.
    const done = i < path.length - 1;
    if (p === "cordoning" && done) cordonedByUs = true;
    if ((p === "uncordoning" || p === "retreating") && done) cordonedByUs = false;
  });
  return { slot, cordonedByUs };
}

function resume(
  at: { slot: HeldSlot; cordonedByUs: boolean },
  nodeBootId: string | undefined,
): { phase: Phase; report?: ReportReason } {
  const node = {
    ready: true,
    cordonedByUs: at.cordonedByUs,
    ...(nodeBootId === undefined ? {} : { bootId: nodeBootId }),
  };
  const d = decide(initialState(T), { now: T, slot: at.slot, node }, CFG);
  return d.report ? { phase: d.state.phase, report: d.report.reason } : { phase: d.state.phase };
}

const upTo = (path: Phase[], phase: Phase) => path.slice(0, path.indexOf(phase) + 1);

Deno.test("killed before the reboot: resumes no later than where it died, never past the drain", () => {
  const expected: Record<string, Phase> = {
    cordoning: "cordoning",
    draining: "draining",
    "reboot-delay": "draining",
    rebooting: "draining",
  };
  for (const died of BEFORE_REBOOT) {
    const slot = recordAfter(upTo(BEFORE_REBOOT, died), "boot-1");
    assert.deepEqual(resume(slot, "boot-1"), { phase: expected[died], report: "Resumed" }, `died in ${died}`);
  }
});

Deno.test("killed after the reboot: never drains or reboots again, keeps the release deadline", () => {
  const expected: Record<string, { phase: Phase; report: ReportReason }> = {
    recovering: { phase: "recovering", report: "RebootConfirmed" },
    uncordoning: { phase: "recovering", report: "RebootConfirmed" },
    "release-delay": { phase: "release-delay", report: "Resumed" },
    releasing: { phase: "release-delay", report: "Resumed" },
  };
  for (const died of AFTER_REBOOT) {
    const at = recordAfter([...BEFORE_REBOOT, ...upTo(AFTER_REBOOT, died)], "boot-1");
    assert.deepEqual(resume(at, "boot-2"), expected[died], `died in ${died}`);
    if (died === "release-delay" || died === "releasing") assert.equal(at.slot.releaseAfter, T + 60_000);
  }
});

Deno.test("no boot IDs to compare: after the reboot command a restart counts as the reboot", () => {
  for (const died of AFTER_REBOOT.slice(0, 2)) {
    const slot = recordAfter([...BEFORE_REBOOT, ...upTo(AFTER_REBOOT, died)], undefined);
    assert.deepEqual(resume(slot, undefined), { phase: "recovering", report: "RebootAssumed" }, died);
  }
  // Before the reboot command, the drain resumes as usual.
  const slot = recordAfter(upTo(BEFORE_REBOOT, "reboot-delay"), undefined);
  assert.deepEqual(resume(slot, undefined), { phase: "draining", report: "Resumed" });
});

Deno.test("killed on the way back without a reboot: finishes the retreat, never drains again", () => {
  for (const died of ["retreating", "releasing"] as const) {
    const slot = recordAfter(upTo(RETREAT, died), "boot-1");
    assert.deepEqual(resume(slot, "boot-1"), { phase: "retreating", report: "Resumed" }, `died in ${died}`);
  }
});

Deno.test("what is recorded: the acquisition's phase, the retreat, and rebooting only without a boot ID", () => {
  assert.deepEqual([...RECORDED_PHASES].sort(), ["cordoning", "rebooting", "retreating"]);
  assert.equal(recordedOnEntering("rebooting", {}), true);
  assert.equal(recordedOnEntering("rebooting", { bootId: "b" }), false);
  assert.equal(recordedOnEntering("draining", {}), false);
  assert.equal(recordedOnEntering("retreating", { bootId: "b" }), true);
});

Deno.test("killed in the drain: the cordon's annotation, not a record on the Lease, says to finish it", () => {
  const died = { slot: { phase: "cordoning", bootId: "a" }, cordonedByUs: true };
  assert.deepEqual(resume(died, "a"), { phase: "draining", report: "Resumed" });
  const blocked = { clear: false as const, reason: "pdb" as const, message: "drain would be refused" };
  const d = decide(initialState(T), {
    now: T,
    slot: died.slot,
    node: { ready: true, bootId: "a", cordonedByUs: true },
  }, CFG);
  // A gate that blocks now (the node's own evictions can make the PDB pre-flight refuse) changes nothing.
  const next = decide(d.state, { now: T + 1, sentinel: { required: true }, gate: blocked }, CFG);
  assert.equal(next.state.phase, "draining");
  // Before the cordon, the restart checks the gates again.
  assert.deepEqual(resume({ slot: died.slot, cordonedByUs: false }, "a"), {
    phase: "cordoning",
    report: "Resumed",
  });
});

Deno.test("a restart in cordoning may follow the taint and labels: giving the slot back then undoes them first", () => {
  const resumed = decide(initialState(T), {
    now: T,
    slot: { phase: "cordoning", bootId: "a" },
    node: { ready: true, bootId: "a" },
  }, CFG);
  assert.equal(resumed.state.phase, "cordoning");
  assert.equal(resumed.state.resumed, true);
  const blocked = { clear: false as const, reason: "pdb" as const, message: "drain would be refused" };
  const next = decide(resumed.state, { now: T + 1, sentinel: { required: true }, gate: blocked }, CFG);
  assert.equal(next.state.phase, "retreating", "what the earlier process marked is undone");
  // Taken in this process, nothing was written yet: the slot goes straight back.
  const fresh = decide({ phase: "required", since: T, rebootAttempts: 0 }, {
    now: T,
    result: { action: "acquire", acquired: true },
  }, CFG);
  assert.equal(fresh.state.resumed, undefined);
  const back = decide(fresh.state, { now: T + 1, sentinel: { required: true }, gate: blocked }, CFG);
  assert.equal(back.action?.type, "release");
});
