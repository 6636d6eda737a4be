/** The Event reasons: each one reported by some row, the clean cycle Normal, and all of them in the README. */
import assert from "node:assert/strict";
import { REPORT_REASONS, type ReportReason } from "../../../lib/machine/mod.ts";
import { ROWS } from "./rows.ts";

const ALL = Object.keys(REPORT_REASONS) as ReportReason[];

Deno.test("reasons: every reason is reported by some row of the machine's table", () => {
  const seen = new Set(ROWS.map((r) => r.expect.report));
  assert.deepEqual(ALL.filter((r) => !seen.has(r)), []);
});

Deno.test("reasons: a clean cycle is all Normal; trouble is Warning", () => {
  const cycle: ReportReason[] = [
    "RebootRequired",
    "SlotAcquired",
    "Cordoned",
    "Draining",
    "Rebooting",
    "RebootConfirmed",
    "Uncordoned",
    "SlotReleased",
  ];
  for (const r of cycle) assert.equal(REPORT_REASONS[r], "Normal", r);
  for (const r of ["DrainFailed", "UncordonFailed", "ReleaseFailed", "RetreatFailed", "SlotLost"] as const) {
    assert.equal(REPORT_REASONS[r], "Warning", r);
  }
});

Deno.test("reasons: README's Events paragraph names every reason", async () => {
  const readme = await Deno.readTextFile(new URL("../../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("Each step is also an Event"), readme.indexOf("**Shutdown.**"));
  assert.ok(section.length > 0, "the Events paragraph moved");
  assert.deepEqual(ALL.filter((r) => !section.includes(`\`${r}\``)), []);
  for (const r of ALL.filter((r) => REPORT_REASONS[r] === "Warning")) {
    assert.match(section, new RegExp(`^\\| \`${r}\` \\|`, "m"), `${r} has a row in the Warning table`);
  }
});
