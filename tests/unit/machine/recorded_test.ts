/**
 * The slot Lease records only RECORDED_PHASES (lib/machine/startup.ts): a daemon killed at any point of a cycle
 * must still resume from what was actually written at that point. Each case walks the cycle up to the phase
 * the daemon died in, writes only what the slot keeper writes (the acquisition's `cordoning`, each recorded
 * phase, the release deadline with `release-delay`), and asks `decide` at start-up where it picks up.
 */
import assert from "node:assert/strict";
import {
  decide,
  type HeldSlot,
  initialState,
  type Phase,
  RECORDED_PHASES,
  type ReportReason,
} from "../../../lib/machine/mod.ts";
import { CFG, T } from "./support.ts";

const BEFORE_REBOOT: Phase[] = ["cordoning", "draining", "reboot-delay", "rebooting"];
const AFTER_REBOOT: Phase[] = ["recovering", "uncordoning", "release-delay", "releasing"];
const RETREAT: Phase[] = ["cordoning", "draining", "retreating", "releasing"];

/** What the Lease says after the node went through `path`: the last phase written on entering it. */
function recordAfter(path: Phase[], bootId: string | undefined): HeldSlot {
  const slot: HeldSlot = { phase: "cordoning" };
  if (bootId !== undefined) slot.bootId = bootId;
  for (const p of path) {
    if (RECORDED_PHASES.has(p)) slot.phase = p;
    // The loop writes the deadline and the phase in one write (lib/loop.ts, set-release-after).
    if (p === "release-delay") Object.assign(slot, { phase: p, releaseAfter: T + 60_000 });
  }
  return slot;
}

function resume(slot: HeldSlot, nodeBootId: string | undefined): { phase: Phase; report?: ReportReason } {
  const d = decide(initialState(T), {
    now: T,
    slot,
    node: nodeBootId === undefined ? { ready: true } : { ready: true, bootId: nodeBootId },
  }, CFG);
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
    const slot = recordAfter([...BEFORE_REBOOT, ...upTo(AFTER_REBOOT, died)], "boot-1");
    assert.deepEqual(resume(slot, "boot-2"), expected[died], `died in ${died}`);
    if (died === "release-delay" || died === "releasing") assert.equal(slot.releaseAfter, T + 60_000);
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

Deno.test("what is recorded: the acquisition's phase and the four a restart must tell apart", () => {
  assert.deepEqual([...RECORDED_PHASES].sort(), ["cordoning", "draining", "rebooting", "retreating"]);
});

Deno.test("a restart in cordoning may follow the cordon: giving the slot back then undoes it first", () => {
  const resumed = decide(initialState(T), {
    now: T,
    slot: { phase: "cordoning", bootId: "a" },
    node: { ready: true, bootId: "a", cordonedByUs: true },
  }, CFG);
  assert.equal(resumed.state.phase, "cordoning");
  assert.equal(resumed.state.resumed, true);
  const blocked = { clear: false as const, reason: "pdb" as const, message: "drain would be refused" };
  const next = decide(resumed.state, { now: T + 1, sentinel: { required: true }, gate: blocked }, CFG);
  assert.equal(next.state.phase, "retreating", "the cordon of the earlier process is undone");
  // Taken in this process, nothing was written yet: the slot goes straight back.
  const fresh = decide({ phase: "required", since: T, rebootAttempts: 0 }, {
    now: T,
    result: { action: "acquire", acquired: true },
  }, CFG);
  assert.equal(fresh.state.resumed, undefined);
  const back = decide(fresh.state, { now: T + 1, sentinel: { required: true }, gate: blocked }, CFG);
  assert.equal(back.action?.type, "release");
});
