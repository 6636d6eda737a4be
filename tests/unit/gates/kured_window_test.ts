import assert from "node:assert/strict";
import { ConfigError, defaultConfig } from "../../../lib/config/mod.ts";
import {
  checkWindow,
  describeWindow,
  inWindow,
  type RebootWindow,
  rebootWindow,
} from "../../../lib/gates/window/mod.ts";

const EVERY_DAY = [0, 1, 2, 3, 4, 5, 6];

function win(days: number[], start: string, end: string, timeZone = "UTC"): RebootWindow {
  const tod = (s: string) => {
    const [hour = 0, minute = 0, second = 0] = s.split(":").map(Number);
    return { hour, minute, second };
  };
  return { days: new Set(days), start: tod(start), end: tod(end), timeZone };
}
const at = (iso: string) => Temporal.Instant.from(iso);

/** When the window opens next, as the gate says it: now when inside, its `retryAtMs` outside. */
function nextWindowStart(w: RebootWindow, now: Temporal.Instant): Temporal.Instant | undefined {
  const r = checkWindow(w, now);
  if (r.clear) return now;
  return r.retryAtMs === undefined ? undefined : Temporal.Instant.fromEpochMilliseconds(r.retryAtMs);
}

type Case = [window: RebootWindow, instant: string, inside: boolean, why: string];

const LA = "America/Los_Angeles";
const MON_FRI = [1, 2, 3, 4, 5];

const cases: Case[] = [
  // kured's own TestTimeWindows (pkg/timewindow), times given there in PDT or UTC.
  [win(MON_FRI, "09:00", "17:00", LA), "2019-04-04T00:49-07:00", false, "kured: Thu before start"],
  [win(MON_FRI, "09:00", "17:00", LA), "2019-04-05T08:59-07:00", false, "kured: Fri 08:59"],
  [win(MON_FRI, "09:00", "17:00", LA), "2019-04-05T09:01-07:00", true, "kured: Fri 09:01"],
  [win(MON_FRI, "09:00", "17:00", LA), "2019-03-31T10:00-07:00", false, "kured: Sunday"],
  [win(MON_FRI, "09:00", "17:00", LA), "2019-04-04T12:00-07:00", true, "kured: Thu noon"],
  [win(MON_FRI, "09:00", "17:00", LA), "2019-04-04T11:59Z", false, "kured: 11:59 UTC is 04:59 PDT"],
  ...(
    [["05", true], ["06", false], ["07", false], ["08", true], ["09", false], ["10", true], [
      "11",
      false,
    ]] as const
  ).map(([d, inside]): Case => [
    win([1, 3, 5], "10:01", "11:30", LA),
    `2019-04-${d}T10:30-07:00`,
    inside,
    `kured: mon,we,fri on 04-${d}`,
  ]),
  [
    win(MON_FRI, "00:00", "23:59:59"),
    "2019-04-18T00:00Z",
    true,
    "kured: midnight is inside (start inclusive)",
  ],
  [win(MON_FRI, "00:00", "23:59:59"), "2019-04-18T23:59Z", true, "kured: 23:59"],

  // Inclusive ends, to the last nanosecond of the end second.
  [win(EVERY_DAY, "02:00", "05:00"), "2026-11-20T01:59:59.999999999Z", false, "just before start"],
  [win(EVERY_DAY, "02:00", "05:00"), "2026-11-20T02:00:00Z", true, "start is inclusive"],
  [win(EVERY_DAY, "02:00", "05:00"), "2026-11-20T05:00:00.999999999Z", true, "end inclusive to .999999999"],
  [win(EVERY_DAY, "02:00", "05:00"), "2026-11-20T05:00:01Z", false, "after end"],
  [win(EVERY_DAY, "00:00", "23:59:59"), "2026-11-20T23:59:59.999999999Z", true, "default window, last ns"],
  [win(EVERY_DAY, "00:00", "23:59:59"), "2026-11-21T00:00:00Z", true, "default window, midnight"],
  [win([5], "00:00", "23:59:59"), "2026-11-21T00:00:00Z", false, "Saturday midnight when only Friday"],
  [win([], "00:00", "23:59:59"), "2026-11-20T12:00:00Z", false, "empty day list = never"],

  // Overnight windows (start > end): the day filter applies to now's calendar day.
  [win([5], "22:00", "02:00"), "2026-11-20T23:00Z", true, "Fri 23:00 in fri 22-02"],
  [win([5], "22:00", "02:00"), "2026-11-20T01:00Z", true, "Fri 01:00 counts (Friday's own early hours)"],
  [win([5], "22:00", "02:00"), "2026-11-21T01:00Z", false, "Sat 01:00 is outside: Saturday not listed"],
  [win([5], "22:00", "02:00"), "2026-11-19T23:00Z", false, "Thu 23:00"],
  [win([5], "22:00", "02:00"), "2026-11-20T21:59:59.999999999Z", false, "Fri just before 22:00"],
  [win([5], "22:00", "02:00"), "2026-11-20T22:00Z", true, "Fri 22:00"],
  [win([5], "22:00", "02:00"), "2026-11-20T02:00:00.5Z", true, "Fri 02:00:00.5"],
  // kured quirk: at exactly end (.999999999) `now < end` is false, so end moves a day ahead and start
  // stays at 22:00 today: the last nanosecond of an overnight window is outside.
  [win([5], "22:00", "02:00"), "2026-11-20T02:00:00.999999999Z", false, "overnight end, last ns (quirk)"],
  [win([5], "22:00", "02:00"), "2026-11-20T12:00Z", false, "Fri noon"],
  [win(EVERY_DAY, "21:00", "05:00", LA), "2026-11-21T04:00-08:00", true, "9pm-5am at 4am"],
  [win(EVERY_DAY, "21:00", "05:00", LA), "2026-11-21T12:00-08:00", false, "9pm-5am at noon"],
  [win([1], "23:59", "00:01"), "2026-11-23T23:59:30Z", true, "11:59pm-00:01am Mon 23:59:30"],
  [win([1], "23:59", "00:01"), "2026-11-24T00:00:30Z", false, "... Tue 00:00:30: Tuesday not listed"],
  [win([1], "23:59", "00:01"), "2026-11-23T00:00:30Z", true, "... Mon 00:00:30 (Monday's own first minute)"],
  [win([1], "23:59", "00:01"), "2026-11-22T23:59:30Z", false, "... Sun 23:59:30"],

  // DST, resolved as Go's time.Date does (all of these cross-checked against Go 1.26 itself).
  // 2026-03-08 LA: 02:00 PST jumps to 03:00 PDT. Go builds the missing 02:00 as 01:00 PST.
  [win(EVERY_DAY, "02:00", "03:00", LA), "2026-03-08T08:59:59Z", false, "spring: 00:59:59 PST"],
  [win(EVERY_DAY, "02:00", "03:00", LA), "2026-03-08T09:30:00Z", true, "spring: 01:30 PST (Go's 02:00)"],
  [win(EVERY_DAY, "02:00", "03:00", LA), "2026-03-08T10:00:00Z", true, "spring: 03:00 PDT"],
  [win(EVERY_DAY, "02:00", "03:00", LA), "2026-03-08T10:00:01Z", false, "spring: 03:00:01 PDT"],
  [win(EVERY_DAY, "00:00", "23:59:59", LA), "2026-03-09T06:59:59Z", true, "spring: 23-hour day, 23:59:59"],
  // 2026-11-01 LA: 02:00 PDT falls back to 01:00 PST; Go picks the first 01:xx (PDT).
  [win(EVERY_DAY, "01:00", "01:30", LA), "2026-11-01T08:15:00Z", true, "fall: 01:15 PDT"],
  [win(EVERY_DAY, "01:00", "01:30", LA), "2026-11-01T09:15:00Z", false, "fall: the repeated 01:15 PST"],
  [win(EVERY_DAY, "00:00", "23:59:59", LA), "2026-11-01T07:00:00Z", true, "fall: 25-hour day, midnight"],
  [win(EVERY_DAY, "00:00", "23:59:59", LA), "2026-11-02T07:59:59Z", true, "fall: 25-hour day, 23:59:59 PST"],
  [win([0], "00:00", "23:59:59", LA), "2026-11-02T08:00:00Z", false, "fall: Monday 00:00 PST, Sunday only"],
  // East of UTC Go resolves a gap the other way: Berlin 2026-03-29 02:00 CET jumps to 03:00 CEST and
  // 02:30 becomes 03:30 CEST.
  [
    win(EVERY_DAY, "02:30", "04:00", "Europe/Berlin"),
    "2026-03-29T01:00:00Z",
    false,
    "Berlin gap: 03:00 CEST",
  ],
  [win(EVERY_DAY, "02:30", "04:00", "Europe/Berlin"), "2026-03-29T01:30:00Z", true, "Berlin gap: 03:30 CEST"],
];

Deno.test("inWindow() matches kured's TimeWindow.Contains on a table of cases", () => {
  for (const [w, iso, inside, why] of cases) {
    assert.equal(inWindow(w, at(iso)), inside, `${why}: ${describeWindow(w)} at ${iso}`);
  }
  assert.ok(cases.length > 40);
});

Deno.test("inWindow() with Local uses the process's time zone", () => {
  const w = win(EVERY_DAY, "09:00", "17:00", "Local");
  const same = { ...w, timeZone: Temporal.Now.timeZoneId() };
  for (let h = 0; h < 48; h++) {
    const t = at("2026-06-01T00:00Z").add({ hours: h });
    assert.equal(inWindow(w, t), inWindow(same, t));
  }
});

Deno.test("checkWindow() finds when the window opens next", () => {
  const weekdays = win(MON_FRI, "02:00", "05:00", LA);
  // Saturday 04:00 PST -> Monday 02:00 PST.
  assert.equal(
    nextWindowStart(weekdays, at("2026-11-21T12:00Z"))?.toString(),
    at("2026-11-23T02:00-08:00").toString(),
  );
  // Inside: now.
  assert.equal(nextWindowStart(weekdays, at("2026-11-23T10:30Z"))?.toString(), "2026-11-23T10:30:00Z");
  // Overnight fri 22-02 seen on Thursday: Friday's own 00:00-02:00 opens first, at midnight.
  assert.equal(
    nextWindowStart(win([5], "22:00", "02:00"), at("2026-11-19T12:00Z"))?.toString(),
    "2026-11-20T00:00:00Z",
  );
  // ... and seen on Friday 03:00: 22:00 that day.
  assert.equal(
    nextWindowStart(win([5], "22:00", "02:00"), at("2026-11-20T03:00Z"))?.toString(),
    "2026-11-20T22:00:00Z",
  );
  // Spring-forward day: Go's 02:30 is 01:30 PST.
  assert.equal(
    nextWindowStart(win(EVERY_DAY, "02:30", "03:00", LA), at("2026-03-08T08:00Z"))?.toString(),
    "2026-03-08T09:30:00Z",
  );
  // Every result is inside, and the instant just before it is not.
  for (const [w, iso] of cases) {
    const next = nextWindowStart(w, at(iso));
    if (next === undefined) {
      assert.equal(w.days.size, 0);
      continue;
    }
    assert.ok(inWindow(w, next), `${describeWindow(w)} from ${iso}`);
    if (next.epochNanoseconds > at(iso).epochNanoseconds) {
      assert.ok(
        !inWindow(w, new Temporal.Instant(next.epochNanoseconds - 1n)),
        `${describeWindow(w)} from ${iso}`,
      );
    }
  }
  assert.equal(nextWindowStart(win([], "00:00", "23:59:59"), at("2026-11-20T12:00Z")), undefined);
});

Deno.test("checkWindow() is clear inside and says when the window opens outside", () => {
  const w = win(MON_FRI, "02:00", "05:00", LA);
  assert.deepEqual(checkWindow(w, at("2026-11-23T10:30Z")), { clear: true });
  assert.deepEqual(checkWindow(w, at("2026-11-21T12:00Z")), {
    clear: false,
    reason: "window",
    message:
      "outside the reboot window (mon-fri 02:00-05:00 America/Los_Angeles); next opens 2026-11-23T02:00-08:00",
    retryAtMs: Date.parse("2026-11-23T10:00:00Z"),
  });
  assert.deepEqual(checkWindow(win([], "00:00", "23:59:59"), at("2026-11-21T12:00Z")), {
    clear: false,
    reason: "window",
    message:
      "outside the reboot window (no days 00:00-23:59:59 UTC); it never opens (no reboot day is configured)",
  });
  const secs = checkWindow(win([2], "02:00:30", "03:00"), at("2026-11-23T12:00Z"));
  assert.ok(!secs.clear);
  assert.match(secs.message, /\(tue 02:00:30-03:00 UTC\); next opens 2026-11-24T02:00:30\+00:00$/);
});

Deno.test("describeWindow() names day runs compactly", () => {
  const d = (days: number[]) => describeWindow(win(days, "00:00", "23:59:59")).split(" ")[0];
  assert.equal(d([1, 2, 3, 4, 5]), "mon-fri");
  assert.equal(d([0, 6]), "sun,sat");
  assert.equal(d([1, 3, 5]), "mon,wed,fri");
  assert.equal(d([0, 1, 2, 4]), "sun-tue,thu");
  assert.equal(describeWindow(win(EVERY_DAY, "00:00", "23:59:59")), "every day 00:00-23:59:59 UTC");
  assert.match(describeWindow(win([1], "01:00", "02:00", "Local")), /^mon 01:00-02:00 Local \(.+\)$/);
});

Deno.test("rebootWindow() builds the flags' window and refuses, naming --time-zone, what cannot be evaluated", () => {
  const w = rebootWindow({ ...defaultConfig(), rebootDays: ["mo", "fr"], timeZone: LA });
  assert.deepEqual([...w.days], [1, 5]);
  assert.equal(w.timeZone, LA);
  const refused = (over: Partial<ReturnType<typeof defaultConfig>>, why: RegExp) =>
    assert.throws(
      () => rebootWindow({ ...defaultConfig(), ...over }),
      (e: unknown) => e instanceof ConfigError && e.flag === "time-zone" && why.test(e.message),
    );
  // The flag parsers never produce these; the window still checks what it is given.
  refused({ startTime: { hour: 24, minute: 0, second: 0 } }, /invalid start time/);
  refused({ endTime: { hour: 1, minute: 60, second: 0 } }, /invalid end time/);
  refused({ timeZone: "Mars/Olympus" }, /unknown time zone "Mars\/Olympus"/);
});
