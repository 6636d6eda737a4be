/**
 * The reboot window's value types: days (`--reboot-days`), times of day (`--start-time`, `--end-time`) and
 * the time zone (`--time-zone`), parsed exactly as kured's `pkg/timewindow` accepts them.
 *
 * The window logic itself lives in lib/gates/window/kured.ts; `wallClock` below is the one place that turns an
 * instant into the zone's local day and time, so DST handling is in one spot.
 */

import { InvalidValue } from "./errors.ts";

/** Canonical day codes, Sunday first, as kured prints its default (`[su,mo,tu,we,th,fr,sa]`). */
export const WEEKDAYS = ["su", "mo", "tu", "we", "th", "fr", "sa"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const DAY_NAMES: Record<string, Weekday> = {};
for (
  const [i, names] of [
    ["su", "sun", "sunday"],
    ["mo", "mon", "monday"],
    ["tu", "tue", "tuesday"],
    ["we", "wed", "wednesday"],
    ["th", "thu", "thursday"],
    ["fr", "fri", "friday"],
    ["sa", "sat", "saturday"],
  ].entries()
) {
  for (const name of names) DAY_NAMES[name] = WEEKDAYS[i] ?? "su";
}

const DAY_EXPECTED = "a day such as su, mon, Tuesday or a number 0-6 (0 = Sunday)";

/** One day: names in any case (`su`, `Sun`, `SUNDAY`) or a number 0–6 with 0 = Sunday (Go `strconv.Atoi`). */
export function parseWeekday(s: string): Weekday {
  if (/^[+-]?\d+$/.test(s)) {
    const n = Number(s);
    const day = WEEKDAYS[n];
    if (day === undefined || !Number.isInteger(n)) {
      throw new InvalidValue(DAY_EXPECTED, "number out of range");
    }
    return day;
  }
  const day = DAY_NAMES[s.toLowerCase()];
  if (day === undefined) throw new InvalidValue(DAY_EXPECTED, "unknown day name");
  return day;
}

/** 0 = Sunday … 6 = Saturday, like Go's `time.Weekday`. */
export function weekdayNumber(day: Weekday): number {
  return WEEKDAYS.indexOf(day);
}

/** A wall-clock time of day; `--end-time` is inclusive to the end of its second (kured adds .999999999 s). */
export interface TimeOfDay {
  hour: number;
  minute: number;
  second: number;
}

const TIME_EXPECTED = "a time of day in one of kured's forms 17:00, 17:00:00, 05:00pm, 17, 05pm or 5pm";

/**
 * kured parses times with Go's `time.Parse`, trying the layouts `15:04`, `15:04:05`, `03:04pm`, `15`,
 * `03pm` and `3pm` in turn. Go's rules that follow from that, reproduced here:
 * - `15` takes one or two digits (0–23); `03` exactly two digits (00–12); `3` one or two (0–12);
 * - `04` and `05` take exactly two digits (00–59);
 * - `pm`/`am` must be lower case; `12am` is 0:00, `12pm` is 12:00, `00pm` is 12:00 (Go adds 12 to any
 *   hour below 12 when pm is given);
 * - so `5:00pm` (one-digit hour with minutes and pm) is rejected by kured, and is rejected here too.
 */
export function parseTimeOfDay(s: string): TimeOfDay {
  const h24 = "(\\d{1,2})";
  const mm = "(\\d{2})";
  const layouts: [RegExp, boolean][] = [
    [new RegExp(`^${h24}:${mm}$`), false],
    [new RegExp(`^${h24}:${mm}:${mm}$`), false],
    [new RegExp(`^(\\d{2}):${mm}(am|pm)$`), true],
    [new RegExp(`^${h24}$`), false],
    [/^(\d{1,2})(am|pm)$/, true],
  ];
  let rangeError: string | undefined;
  for (const [re, twelveHour] of layouts) {
    const m = re.exec(s);
    if (!m) continue;
    const nums = m.slice(1).filter((g) => g !== "am" && g !== "pm").map(Number);
    const [hourRaw = 0, minute = 0, second = 0] = nums;
    let hour = hourRaw;
    const ampm = m.find((g) => g === "am" || g === "pm");
    if (twelveHour) {
      if (hour > 12) {
        rangeError = "hour out of range for am/pm";
        continue;
      }
      if (ampm === "pm" && hour < 12) hour += 12;
      else if (ampm === "am" && hour === 12) hour = 0;
    } else if (hour > 23) {
      rangeError = "hour out of range";
      continue;
    }
    if (minute > 59 || second > 59) {
      rangeError = minute > 59 ? "minute out of range" : "second out of range";
      continue;
    }
    return { hour, minute, second };
  }
  if (/^\d:\d{2}(am|pm)$/.test(s)) {
    throw new InvalidValue(TIME_EXPECTED, "kured needs two hour digits with minutes and am/pm, e.g. 05:00pm");
  }
  if (/(AM|PM|Am|Pm|aM|pM)$/.test(s)) throw new InvalidValue(TIME_EXPECTED, "am/pm must be lower case");
  throw new InvalidValue(TIME_EXPECTED, rangeError);
}

/** `H:MM` or `H:MM:SS` (seconds only when non-zero), which `parseTimeOfDay` reads back. */
export function formatTimeOfDay(t: TimeOfDay): string {
  const base = `${t.hour}:${String(t.minute).padStart(2, "0")}`;
  return t.second === 0 ? base : `${base}:${String(t.second).padStart(2, "0")}`;
}

const ZONE_EXPECTED = "an IANA time zone such as Europe/Berlin, or UTC, or Local";

/**
 * Accepts `UTC`, `Local` (the process's zone: TZ or /etc/localtime) and IANA names, case-sensitively as
 * Go's `time.LoadLocation` does on Linux. Offsets like `+01:00` are rejected: Go does not take them.
 */
export function parseTimeZone(s: string): string {
  if (s === "Local" || s === "UTC") return s;
  if (s === "" || /^[+\-\u2212]/.test(s)) throw new InvalidValue(ZONE_EXPECTED);
  let id: string;
  try {
    id = Temporal.Now.zonedDateTimeISO(s).timeZoneId;
  } catch {
    throw new InvalidValue(ZONE_EXPECTED, "unknown time zone");
  }
  if (id !== s) throw new InvalidValue(ZONE_EXPECTED, `names are case-sensitive: did you mean ${id}?`);
  return s;
}

/** The Temporal time zone id for a `--time-zone` value (`Local` becomes the process's zone). */
export function resolveTimeZone(zone: string): string {
  return zone === "Local" ? Temporal.Now.timeZoneId() : zone;
}

/** The local calendar day and time of day at `epochMs` in `zone` (a `--time-zone` value). */
export function wallClock(
  epochMs: number,
  zone: string,
): { day: Weekday; date: Temporal.PlainDate; time: TimeOfDay } {
  const zdt = Temporal.Instant.fromEpochMilliseconds(epochMs).toZonedDateTimeISO(resolveTimeZone(zone));
  return {
    day: WEEKDAYS[zdt.dayOfWeek % 7] ?? "su", // Temporal: Monday = 1 … Sunday = 7
    date: zdt.toPlainDate(),
    time: { hour: zdt.hour, minute: zdt.minute, second: zdt.second },
  };
}
