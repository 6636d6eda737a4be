/** An operator's hold and reboot request as the machine sees them: a sentinel observation and a gate. */
import assert from "node:assert/strict";
import { decide } from "../../../lib/machine/mod.ts";
import { CFG as cfg, st as at } from "./support.ts";

Deno.test("a requested reboot starts like a sentinel's, and its report says who asked", () => {
  const d = decide(
    at("idle"),
    { now: 1, sentinel: { required: true, requestedBy: "bob: kernel parameter" } },
    cfg,
  );
  assert.equal(d.state.phase, "required");
  assert.deepEqual(d.report, {
    reason: "RebootRequired",
    message: "reboot requested by bob: kernel parameter",
  });
  const s = decide(at("idle"), { now: 1, sentinel: { required: true } }, cfg);
  assert.deepEqual(s.report, { reason: "RebootRequired", message: "reboot required" });
});

Deno.test("held: blocked before a slot, and a slot taken just before the hold is given back", () => {
  const gate = { clear: false as const, reason: "held" as const, message: "held by alice: NIC" };
  for (const phase of ["required", "waiting"] as const) {
    const d = decide(at(phase), { now: 1, sentinel: { required: true }, gate }, cfg);
    assert.equal(d.state.phase, "required", phase);
    assert.equal(d.action, undefined, `${phase}: no acquisition while held`);
    assert.equal(d.report?.blockReason, "held");
  }
  const c = decide(at("cordoning"), { now: 1, sentinel: { required: true }, gate }, cfg);
  assert.deepEqual(c.action, { type: "release" });
  assert.equal(c.report?.blockReason, "held");
  // A request withdrawn while cordoning (the sentinel observation turns false) gives the slot back too.
  const w = decide(at("cordoning"), { now: 1, sentinel: { required: false } }, cfg);
  assert.deepEqual(w.action, { type: "release" });
});
