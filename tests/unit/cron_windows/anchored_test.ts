import assert from "node:assert/strict";
import { InvalidValue } from "../../../lib/config/errors.ts";
import {
  anyOpenAtOrAfter,
  closesAfter,
  formatWindowSpec,
  isOpen,
  nextOpening,
  openAtOrAfter,
  openIntervalAt,
  parseCron,
  parseWindowSpec,
  splitSpec,
} from "../../../lib/cron_windows/mod.ts";
import { inWindow } from "../../../lib/gates/window/mod.ts";

const ms = (iso: string) => Date.parse(iso);
const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

Deno.test("a window that opens Friday 22:00 for 6 h admits Saturday 01:00 (where kured's window does not)", () => {
  const w = parseWindowSpec("cron=0 22 * * fri,duration=6h,tz=Europe/Berlin");
  // 2026-03-27 is a Friday; Berlin is UTC+1 (CET) then.
  assert.equal(isOpen(w, ms("2026-03-27T20:59:59.999Z")), false, "Fri 21:59:59.999");
  assert.equal(isOpen(w, ms("2026-03-27T21:00:00Z")), true, "Fri 22:00 sharp: the start is inclusive");
  assert.equal(isOpen(w, ms("2026-03-28T00:00:00Z")), true, "Sat 01:00");
  assert.equal(isOpen(w, ms("2026-03-28T02:59:59.999Z")), true, "Sat 03:59:59.999");
  assert.equal(isOpen(w, ms("2026-03-28T03:00:00Z")), false, "Sat 04:00: the end is exclusive");
  assert.deepEqual(openIntervalAt(w, ms("2026-03-28T00:00:00Z")), {
    startMs: ms("2026-03-27T21:00:00Z"),
    endMs: ms("2026-03-28T03:00:00Z"),
  });
  // kured's window judges the weekday of now: fri 22:00-04:00 rejects Saturday 01:00.
  const kured = {
    days: new Set([5]),
    start: { hour: 22, minute: 0, second: 0 },
    end: { hour: 4, minute: 0, second: 0 },
    timeZone: "Europe/Berlin",
  };
  assert.equal(inWindow(kured, Temporal.Instant.from("2026-03-28T00:00:00Z")), false);
});

Deno.test("a window lasts its duration of real time across a DST change, in two zones", () => {
  // Berlin springs forward on Sunday 2026-03-29 at 02:00 CET → 03:00 CEST (01:00Z).
  const berlin = parseWindowSpec("cron=0 22 * * sat,duration=6h,tz=Europe/Berlin");
  assert.equal(isOpen(berlin, ms("2026-03-28T21:00:00Z")), true, "Sat 22:00 CET");
  assert.equal(
    isOpen(berlin, ms("2026-03-29T02:30:00Z")),
    true,
    "Sun 04:30 CEST: six real hours not yet over",
  );
  assert.equal(isOpen(berlin, ms("2026-03-29T03:00:00Z")), false, "Sun 05:00 CEST = start + 6 h");
  // …and falls back on Sunday 2026-10-25 at 03:00 CEST → 02:00 CET (01:00Z).
  assert.equal(isOpen(berlin, ms("2026-10-25T01:59:59Z")), true, "Sun 02:59:59 CET");
  assert.equal(isOpen(berlin, ms("2026-10-25T02:00:00Z")), false, "Sun 03:00 CET = Sat 22:00 CEST + 6 h");
  // New York springs forward on Sunday 2026-03-08 at 02:00 EST → 03:00 EDT (07:00Z).
  const ny = parseWindowSpec("cron=0 23 * * sat,duration=4h,tz=America/New_York");
  assert.equal(isOpen(ny, ms("2026-03-08T04:00:00Z")), true, "Sat 23:00 EST");
  assert.equal(isOpen(ny, ms("2026-03-08T07:30:00Z")), true, "Sun 03:30 EDT");
  assert.equal(isOpen(ny, ms("2026-03-08T08:00:00Z")), false, "Sun 04:00 EDT = start + 4 h");
  // New York falls back on Sunday 2026-11-01 at 02:00 EDT → 01:00 EST (06:00Z).
  assert.equal(isOpen(ny, ms("2026-11-01T06:30:00Z")), true, "Sun 01:30 EST, the second one");
  assert.equal(isOpen(ny, ms("2026-11-01T07:00:00Z")), false, "Sun 02:00 EST = Sat 23:00 EDT + 4 h");
});

Deno.test("a fire time in a DST gap opens right after the gap; in an overlap, once", () => {
  const w = parseWindowSpec("cron=30 2 * * *,duration=1h,tz=Europe/Berlin");
  // 02:30 does not exist on 2026-03-29: the window opens at 03:00 CEST (01:00Z).
  assert.equal(iso(nextOpening(w, ms("2026-03-28T12:00:00Z"))), "2026-03-29T01:00:00.000Z");
  assert.equal(isOpen(w, ms("2026-03-29T00:59:00Z")), false);
  assert.equal(isOpen(w, ms("2026-03-29T01:59:00Z")), true);
  // 02:30 exists twice on 2026-10-25: it opens at the first (00:30Z) only.
  assert.equal(iso(nextOpening(w, ms("2026-10-24T12:00:00Z"))), "2026-10-25T00:30:00.000Z");
  assert.equal(iso(nextOpening(w, ms("2026-10-25T00:30:00Z"))), "2026-10-26T01:30:00.000Z");
});

Deno.test("next opening, open-at-or-after and where an open window closes", () => {
  const w = parseWindowSpec("cron=0 22 * * fri,duration=6h,tz=Europe/Berlin");
  const sat = ms("2026-03-28T00:00:00Z");
  assert.equal(openAtOrAfter(w, sat), sat, "open now: now");
  assert.equal(iso(nextOpening(w, sat)), "2026-04-03T20:00:00.000Z", "next Friday 22:00 CEST");
  assert.equal(iso(openAtOrAfter(w, ms("2026-03-30T00:00:00Z"))), "2026-04-03T20:00:00.000Z");
  assert.equal(iso(closesAfter(w, sat)), "2026-03-28T03:00:00.000Z");
  assert.equal(closesAfter(w, ms("2026-03-30T00:00:00Z")), undefined, "closed: no end");
  // Overlapping intervals chain: every 2 h for 3 h is open until the last start of the day + 3 h.
  const chain = parseWindowSpec("cron=0 0-6/2 * * *,duration=3h");
  assert.equal(iso(closesAfter(chain, ms("2026-01-01T00:30:00Z"))), "2026-01-01T09:00:00.000Z");
  // Any of several windows: the earliest.
  const other = parseWindowSpec("cron=0 12 * * *,duration=1h");
  assert.equal(iso(anyOpenAtOrAfter([w, other], ms("2026-03-30T00:00:00Z"))), "2026-03-30T12:00:00.000Z");
  assert.equal(anyOpenAtOrAfter([], sat), undefined);
});

Deno.test("window specs: canonical form round-trips; cron lists keep their commas", () => {
  const w = parseWindowSpec("cron=0 22 * * fri,sat , duration=90m , tz=America/New_York");
  assert.equal(w.schedule.pattern, "0 22 * * fri,sat");
  assert.equal(w.durationMs, 90 * 60_000);
  assert.equal(formatWindowSpec(w), "cron=0 22 * * fri,sat,duration=1h30m0s,tz=America/New_York");
  assert.deepEqual(parseWindowSpec(formatWindowSpec(w)), w);
  assert.equal(parseWindowSpec("cron=@weekly,duration=1h").schedule.timeZone, "UTC", "UTC by default");
  assert.deepEqual(
    [...splitSpec("a=1,2,b=x y,c=", ["a", "b", "c"], "x").entries()],
    [["a", "1,2"], ["b", "x y"], ["c", ""]],
  );
});

/** [spec, what the message must say] */
const HOSTILE: [string, RegExp][] = [
  ["", /empty/],
  ["   ", /empty/],
  ["cron=0 8 * * *", /duration= is missing/],
  ["duration=1h", /cron= is missing/],
  ["cron=,duration=1h", /empty pattern/],
  ["cron=0 8 * *,duration=1h", /cron=0 8 \* \*: .*five/],
  ["cron=0 0 8 * * *,duration=1h", /5-part|five/],
  ["cron=61 8 * * *,duration=1h", /cron=61 8/],
  ["cron=0 8 * * funday,duration=1h", /cron=0 8 \* \* funday/],
  ["cron=0 0 30 2 *,duration=1h", /never fires/],
  ["cron=0 0 31 4 *,duration=1h", /never fires/],
  ["cron=0 8 * * *,duration=0s", /must be positive/],
  ["cron=0 8 * * *,duration=-1h", /must be positive/],
  ["cron=0 8 * * *,duration=1d", /unknown unit "d"/],
  ["cron=0 8 * * *,duration=1h,tz=Mars/Base", /tz=Mars\/Base: unknown time zone/],
  ["cron=0 8 * * *,duration=1h,tz=europe/berlin", /did you mean Europe\/Berlin/],
  ["cron=0 8 * * *,duration=1h,tz=+02:00", /tz=\+02:00/],
  ["cron=0 8 * * *,duration=1h,zone=UTC", /unknown key "zone"/],
  ["cron=0 8 * * *,cron=0 9 * * *,duration=1h", /cron= given twice/],
  ["0 8 * * *", /is not key=value/],
  [`cron=${"1,".repeat(150)}1 * * * *,duration=1h`, /too long/],
  ["cron=" + "x".repeat(200_000), /too long/],
  ["cron=\u0000 8 * * *,duration=1h", /cron=/],
  ["cron=$(reboot),duration=1h", /cron=\$\(reboot\)/],
];

Deno.test("hostile window specs are refused with what is wrong", () => {
  for (const [spec, want] of HOSTILE) {
    assert.throws(
      () => parseWindowSpec(spec),
      (e: unknown) => e instanceof InvalidValue && want.test(e.message) && !e.message.includes("\n"),
      `${JSON.stringify(spec.slice(0, 80))} should fail matching ${want}`,
    );
  }
});

Deno.test("parseCron takes nicknames, names and the Local zone", () => {
  for (
    const p of ["@daily", "@weekly", "@monthly", "@yearly", "@hourly", "0 8 * * MON-FRI", "*/15 * * * *"]
  ) {
    assert.equal(parseCron(p, "UTC").pattern, p);
  }
  assert.equal(parseCron(" 0 8 * * * ", "Local").timeZone, "Local");
  // A yearly pattern fires once a year: its previous fire is found.
  const leap = parseWindowSpec("cron=0 0 29 2 *,duration=24h");
  assert.equal(isOpen(leap, ms("2028-02-29T12:00:00Z")), true);
  assert.equal(isOpen(leap, ms("2027-02-28T12:00:00Z")), false);
});
