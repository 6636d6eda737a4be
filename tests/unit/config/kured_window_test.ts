import assert from "node:assert/strict";
import {
  formatTimeOfDay,
  InvalidValue,
  parseTimeOfDay,
  parseTimeZone,
  parseWeekday,
  wallClock,
  weekdayNumber,
  WEEKDAYS,
} from "../../../lib/config/mod.ts";

Deno.test("parseWeekday takes kured's names in any case and numbers 0-6", () => {
  const names = [
    ["su", "sun", "sunday"],
    ["mo", "mon", "monday"],
    ["tu", "tue", "tuesday"],
    ["we", "wed", "wednesday"],
    ["th", "thu", "thursday"],
    ["fr", "fri", "friday"],
    ["sa", "sat", "saturday"],
  ];
  names.forEach((forms, i) => {
    const want = WEEKDAYS[i];
    for (const f of forms) {
      assert.equal(parseWeekday(f), want, f);
      assert.equal(parseWeekday(f.toUpperCase()), want, f.toUpperCase());
      assert.equal(parseWeekday(f[0]?.toUpperCase() + f.slice(1)), want, f);
    }
    assert.equal(parseWeekday(String(i)), want);
    assert.equal(weekdayNumber(parseWeekday(String(i))), i);
  });
  assert.equal(parseWeekday("+1"), "mo"); // strconv.Atoi accepts a sign
  assert.equal(parseWeekday("06"), "sa");
});

Deno.test("parseWeekday rejects unknown names and out-of-range numbers", () => {
  for (
    const [s, why] of [["7", /out of range/], ["-1", /out of range/], ["mondays", /unknown/], [
      "m",
      /unknown/,
    ], [
      "",
      /unknown/,
    ], ["1.0", /unknown/]] as const
  ) {
    assert.throws(() => parseWeekday(s), (e: unknown) => e instanceof InvalidValue && why.test(e.message), s);
  }
});

Deno.test("parseTimeOfDay accepts every layout kured tries", () => {
  const cases: [string, [number, number, number]][] = [
    ["0:00", [0, 0, 0]], // kured's --start-time default: midnight
    ["00:00", [0, 0, 0]],
    ["23:59:59", [23, 59, 59]], // kured's --end-time default
    ["0:00:00", [0, 0, 0]],
    ["17:00", [17, 0, 0]],
    ["9:30", [9, 30, 0]],
    ["17", [17, 0, 0]],
    ["0", [0, 0, 0]],
    ["5pm", [17, 0, 0]],
    ["9am", [9, 0, 0]],
    ["05pm", [17, 0, 0]],
    ["05:00pm", [17, 0, 0]],
    ["11:45am", [11, 45, 0]],
    ["12am", [0, 0, 0]],
    ["12pm", [12, 0, 0]],
    ["12:30am", [0, 30, 0]],
    ["00pm", [12, 0, 0]], // Go adds 12 to any hour below 12 with pm
  ];
  for (const [s, [hour, minute, second]] of cases) {
    assert.deepEqual(parseTimeOfDay(s), { hour, minute, second }, s);
  }
});

Deno.test("parseTimeOfDay rejects what Go's time.Parse rejects for those layouts", () => {
  const bad: [string, RegExp][] = [
    ["5:00pm", /two hour digits/],
    ["5:00 PM", /./],
    ["5PM", /lower case/],
    ["05:00PM", /lower case/],
    ["24:00", /hour out of range/],
    ["13pm", /out of range/],
    ["12:60", /minute out of range/],
    ["12:00:60", /second out of range/],
    ["17:0", /./],
    ["", /./],
    ["noon", /./],
    [" 17:00", /./],
    ["17:00:00:00", /./],
    ["1700", /./],
  ];
  for (const [s, why] of bad) {
    assert.throws(() => parseTimeOfDay(s), (e: unknown) => {
      assert.ok(e instanceof InvalidValue, s);
      assert.match(e.message, /expected a time of day in one of kured's forms/);
      assert.match(e.message, why, s);
      return true;
    });
  }
});

Deno.test("formatTimeOfDay output parses back", () => {
  for (
    const t of [{ hour: 0, minute: 0, second: 0 }, { hour: 23, minute: 59, second: 59 }, {
      hour: 7,
      minute: 5,
      second: 0,
    }]
  ) {
    assert.deepEqual(parseTimeOfDay(formatTimeOfDay(t)), t);
  }
  assert.equal(formatTimeOfDay({ hour: 0, minute: 0, second: 0 }), "0:00");
  assert.equal(formatTimeOfDay({ hour: 23, minute: 59, second: 59 }), "23:59:59");
});

Deno.test("parseTimeZone accepts UTC, Local and IANA names, case-sensitively", () => {
  for (
    const z of [
      "UTC",
      "Local",
      "Europe/Berlin",
      "America/Los_Angeles",
      "Asia/Kolkata",
      "Asia/Calcutta",
      "Etc/UTC",
    ]
  ) {
    assert.equal(parseTimeZone(z), z);
  }
  for (
    const [z, why] of [
      ["europe/berlin", /did you mean Europe\/Berlin/],
      ["utc", /did you mean UTC/],
      ["Mars/Olympus", /unknown time zone/],
      ["+01:00", /IANA/],
      ["", /IANA/],
      ["local", /./],
    ] as const
  ) {
    assert.throws(
      () => parseTimeZone(z),
      (e: unknown) => e instanceof InvalidValue && why.test(e.message),
      z,
    );
  }
});

Deno.test("wallClock gives the zone's local day and time", () => {
  // 2026-01-02T23:30:00Z is a Friday in UTC and already Saturday in Berlin.
  const t = Date.UTC(2026, 0, 2, 23, 30, 0);
  assert.deepEqual(wallClock(t, "UTC").time, { hour: 23, minute: 30, second: 0 });
  assert.equal(wallClock(t, "UTC").day, "fr");
  assert.equal(wallClock(t, "Europe/Berlin").day, "sa");
  assert.deepEqual(wallClock(t, "Europe/Berlin").time, { hour: 0, minute: 30, second: 0 });
  assert.equal(wallClock(t, "Europe/Berlin").date.toString(), "2026-01-03");
});

Deno.test("wallClock follows DST changes in America/Los_Angeles", () => {
  const la = "America/Los_Angeles";
  // Spring forward, Sunday 2026-03-08: 01:59:59 PST (UTC-8) is followed by 03:00:00 PDT (UTC-7).
  const beforeSpring = Date.UTC(2026, 2, 8, 9, 59, 59);
  assert.deepEqual(wallClock(beforeSpring, la).time, { hour: 1, minute: 59, second: 59 });
  assert.deepEqual(wallClock(beforeSpring + 1000, la).time, { hour: 3, minute: 0, second: 0 });
  assert.equal(wallClock(beforeSpring + 1000, la).day, "su");
  // 12:00 local is 19:00Z that day (PDT), 20:00Z the day before (PST).
  assert.deepEqual(wallClock(Date.UTC(2026, 2, 8, 19), la).time, { hour: 12, minute: 0, second: 0 });
  assert.deepEqual(wallClock(Date.UTC(2026, 2, 7, 20), la).time, { hour: 12, minute: 0, second: 0 });
  // Fall back, Sunday 2026-11-01: 01:30 happens twice, at 08:30Z (PDT) and 09:30Z (PST).
  const first = wallClock(Date.UTC(2026, 10, 1, 8, 30), la);
  const second = wallClock(Date.UTC(2026, 10, 1, 9, 30), la);
  assert.deepEqual(first.time, { hour: 1, minute: 30, second: 0 });
  assert.deepEqual(second.time, first.time);
  assert.equal(second.day, "su");
  // Late on the Saturday evening local time is already Sunday in UTC.
  assert.equal(wallClock(Date.UTC(2026, 10, 1, 6, 0), la).day, "sa");
  assert.equal(wallClock(Date.UTC(2026, 10, 1, 6, 0), "UTC").day, "su");
});
