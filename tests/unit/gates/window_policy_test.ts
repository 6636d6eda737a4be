import assert from "node:assert/strict";
import { parseWindowSpec } from "../../../lib/cron_windows/mod.ts";
import {
  checkWindow,
  checkWindows,
  mayStart,
  nextStart,
  type RebootWindow,
  type WindowPolicy,
} from "../../../lib/gates/window/mod.ts";

const ALL_DAYS: RebootWindow = {
  days: new Set([0, 1, 2, 3, 4, 5, 6]),
  start: { hour: 0, minute: 0, second: 0 },
  end: { hour: 23, minute: 59, second: 59 },
  timeZone: "UTC",
};
const ms = (iso: string) => Date.parse(iso);
const at = (iso: string) => Temporal.Instant.from(iso);
const fridayNight = parseWindowSpec("cron=0 22 * * fri,duration=6h,tz=Europe/Berlin");

Deno.test("without --reboot-window the gate is kured's, message and all", () => {
  const kured: RebootWindow = { ...ALL_DAYS, days: new Set([1]), timeZone: "Europe/Berlin" };
  for (const t of ["2026-03-28T00:00:00Z", "2026-03-30T10:00:00Z", "2026-03-31T10:00:00Z"]) {
    assert.deepEqual(checkWindows({ kured, windows: [] }, at(t)), checkWindow(kured, at(t)), t);
  }
});

Deno.test("with --reboot-window and kured's defaults, the cron windows alone decide", () => {
  const p: WindowPolicy = { kured: ALL_DAYS, windows: [fridayNight] };
  assert.deepEqual(checkWindows(p, at("2026-03-28T00:00:00Z")), { clear: true }, "Sat 01:00 Berlin");
  const r = checkWindows(p, at("2026-03-30T10:00:00Z"));
  assert.equal(r.clear, false);
  assert.ok(!r.clear);
  assert.equal(r.reason, "window");
  assert.equal(r.retryAtMs, ms("2026-04-03T20:00:00Z"), "next Friday 22:00 CEST");
  assert.match(
    r.message,
    /outside the reboot windows \(every day 00:00-23:59:59 UTC and any of \[cron=0 22 \* \* fri,duration=6h0m0s,tz=Europe\/Berlin\]\); next opens 2026-04-03T20:00Z/,
  );
});

Deno.test("kured's window AND any --reboot-window: both must be open", () => {
  // kured: Saturdays 02:00-03:00 UTC. Cron windows: Fri 22:00 Berlin for 6 h, or daily 12:00 UTC for 1 h.
  const kured: RebootWindow = {
    days: new Set([6]),
    start: { hour: 2, minute: 0, second: 0 },
    end: { hour: 3, minute: 0, second: 0 },
    timeZone: "UTC",
  };
  const noon = parseWindowSpec("cron=0 12 * * *,duration=1h");
  const p: WindowPolicy = { kured, windows: [fridayNight, noon] };
  assert.equal(mayStart(p, ms("2026-03-28T02:30:00Z")), true, "Sat 02:30 UTC: both");
  assert.equal(mayStart(p, ms("2026-03-28T00:30:00Z")), false, "cron window open, kured's not");
  assert.equal(mayStart(p, ms("2026-03-28T12:30:00Z")), false, "noon window open, kured's not");
  // Before the DST change the Friday window (21:00Z-03:00Z) covers kured's Saturday 02:00-03:00 UTC. From
  // April it is 20:00Z-02:00Z and closes as kured's opens: the next start together is after the change back.
  assert.equal(nextStart(p, ms("2026-03-22T00:00:00Z")), ms("2026-03-28T02:00:00Z"));
  assert.equal(nextStart(p, ms("2026-03-29T00:00:00Z")), ms("2026-10-31T02:00:00Z"));
  // Windows that never meet: blocked, without a retry time.
  const never: WindowPolicy = { kured, windows: [noon] };
  assert.equal(nextStart(never, ms("2026-03-29T00:00:00Z")), undefined);
  const r = checkWindows(never, at("2026-03-29T00:00:00Z"));
  assert.ok(!r.clear);
  assert.equal(r.retryAtMs, undefined);
  assert.match(r.message, /they do not open together within a year/);
});

Deno.test("nextStart lands where a cron window opens inside kured's window", () => {
  const kured: RebootWindow = { ...ALL_DAYS, days: new Set([1, 2, 3, 4, 5]) };
  const p: WindowPolicy = { kured, windows: [parseWindowSpec("cron=0 3 * * *,duration=2h")] };
  // Saturday 10:00 UTC → Monday 03:00 UTC (the weekend 03:00 openings are outside kured's days).
  assert.equal(nextStart(p, ms("2026-03-28T10:00:00Z")), ms("2026-03-30T03:00:00Z"));
  // Inside both now: now.
  assert.equal(nextStart(p, ms("2026-03-30T04:00:00Z")), ms("2026-03-30T04:00:00Z"));
  // Saturday 04:00 UTC: the cron window is open but kured's days are not; Monday 03:00.
  assert.equal(nextStart(p, ms("2026-03-28T04:00:00Z")), ms("2026-03-30T03:00:00Z"));
});
