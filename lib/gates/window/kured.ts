/**
 * The reboot window (`--reboot-days`, `--start-time`, `--end-time`, `--time-zone`), with kured's exact
 * semantics (`Contains` in https://github.com/kubereboot/kured/blob/1.23.0/pkg/timewindow/timewindow.go):
 *
 * - The weekday of *now* in the window's zone must be one of `days` (an empty set never matches).
 * - Start and end are built on now's local date; start is inclusive, end is inclusive to .999999999 s.
 * - If end < start (an overnight window): when now < end, start moves back 24 h, otherwise end moves forward
 *   24 h. The day filter still applies to now's date, so `fri 22:00-02:00` contains Friday 01:00 and not
 *   Saturday 01:00.
 * - Local times that fall into a DST gap or overlap resolve as Go's `time.Date` resolves them (emulated in
 *   `goDate`), and the ±24 h shifts are absolute durations, as in Go's `Time.Add`.
 */
import { type Config, ConfigError, WEEKDAYS } from "../../config/mod.ts";
import type { TimeOfDay } from "../../config/kured_window.ts";
import { blocked, CLEAR, type GateResult } from "../gate.ts";

export type { TimeOfDay };

export interface RebootWindow {
  /** Weekdays, 0 = Sunday .. 6 = Saturday. Empty = kreboot never reboots. */
  days: ReadonlySet<number>;
  start: TimeOfDay;
  end: TimeOfDay;
  /** "UTC", "Local" (the process's zone) or an IANA name. */
  timeZone: string;
}

/** The window the flags describe; throws `ConfigError` (naming `--time-zone`) when it cannot be evaluated. */
export function rebootWindow(
  config: Pick<Config, "rebootDays" | "startTime" | "endTime" | "timeZone">,
): RebootWindow {
  const w: RebootWindow = {
    days: new Set(config.rebootDays.map((d) => WEEKDAYS.indexOf(d))),
    start: config.startTime,
    end: config.endTime,
    timeZone: config.timeZone,
  };
  try {
    assertWindow(w);
  } catch (e) {
    throw new ConfigError("time-zone", e instanceof Error ? e.message : String(e));
  }
  return w;
}

const NS_PER_SECOND = 1_000_000_000n;
const NS_PER_DAY = 86_400n * NS_PER_SECOND;
const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

/** Throws a message fit for a configuration error when the window cannot be evaluated. */
function assertWindow(w: RebootWindow): void {
  for (const d of w.days) {
    if (!Number.isInteger(d) || d < 0 || d > 6) throw new Error(`invalid weekday ${d}: use 0 (Sunday) to 6`);
  }
  for (const [name, t] of [["start", w.start], ["end", w.end]] as const) {
    const ok = [t.hour, t.minute, t.second].every(Number.isInteger) && t.hour >= 0 && t.hour <= 23 &&
      t.minute >= 0 && t.minute <= 59 && t.second >= 0 && t.second <= 59;
    if (!ok) {
      throw new Error(`invalid ${name} time ${JSON.stringify(t)}: use hours 0-23, minutes and seconds 0-59`);
    }
  }
  try {
    Temporal.Now.instant().toZonedDateTimeISO(zoneId(w.timeZone));
  } catch {
    throw new Error(`unknown time zone ${JSON.stringify(w.timeZone)}: use UTC, Local or an IANA name`);
  }
}

/** kured's `TimeWindow.Contains`. */
export function inWindow(w: RebootWindow, instant: Temporal.Instant): boolean {
  const tz = zoneId(w.timeZone);
  const local = instant.toZonedDateTimeISO(tz);
  if (!w.days.has(local.dayOfWeek % 7)) return false;
  const date = local.toPlainDate();
  let start = goDate(date, w.start, 0n, tz);
  let end = goDate(date, w.end, NS_PER_SECOND - 1n, tz);
  const t = instant.epochNanoseconds;
  if (end < start) {
    if (t < end) start -= NS_PER_DAY;
    else end += NS_PER_DAY;
  }
  return t >= start && t <= end;
}

/**
 * The first instant at or after `instant` that is inside the window, or undefined if there is none within
 * the next eight days (which means never: the pattern repeats weekly). For status lines and logs, and for
 * policy.ts, which combines it with the `--reboot-window` cron windows.
 */
export function nextWindowStart(w: RebootWindow, instant: Temporal.Instant): Temporal.Instant | undefined {
  if (w.days.size === 0) return undefined;
  const tz = zoneId(w.timeZone);
  const today = instant.toZonedDateTimeISO(tz).toPlainDate();
  const t = instant.epochNanoseconds;
  // Between these candidates the answer of inWindow() cannot change from "out" to "in": it flips only at a
  // window start, at a local midnight (the day filter), or at an end (which only closes).
  const candidates = [t];
  for (let i = -1; i <= 8; i++) {
    const date = today.add({ days: i });
    candidates.push(goDate(date, w.start, 0n, tz));
    candidates.push(date.toZonedDateTime(tz).epochNanoseconds);
  }
  const sorted = candidates.filter((c) => c >= t).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const c of sorted) {
    const at = new Temporal.Instant(c);
    if (inWindow(w, at)) return at;
  }
  return undefined;
}

/** The window gate: clear inside the window, otherwise blocked with when it opens next. */
export function checkWindow(w: RebootWindow, now: Temporal.Instant): GateResult {
  if (inWindow(w, now)) return CLEAR;
  const next = nextWindowStart(w, now);
  const when = next === undefined
    ? "it never opens (no reboot day is configured)"
    : `next opens ${formatInstant(next, w)}`;
  const message = `outside the reboot window (${describeWindow(w)}); ${when}`;
  return next === undefined
    ? blocked("window", message)
    : { clear: false, reason: "window", message, retryAtMs: next.epochMilliseconds };
}

/** E.g. "mon-fri 02:00-05:00 America/Los_Angeles", "every day 00:00-23:59:59 UTC". */
export function describeWindow(w: RebootWindow): string {
  const tz = w.timeZone === "Local" ? `Local (${zoneId("Local")})` : w.timeZone;
  return `${describeDays(w.days)} ${formatTime(w.start)}-${formatTime(w.end)} ${tz}`;
}

function describeDays(days: ReadonlySet<number>): string {
  if (days.size === 0) return "no days";
  if (days.size === 7) return "every day";
  const name = (d: number) => DAY_NAMES[d] ?? String(d);
  const sorted = [...days].sort((a, b) => a - b);
  const runs: string[] = [];
  let first = 0;
  // Walk the sorted days, closing a run where the next day is not consecutive.
  sorted.forEach((d, i) => {
    const next = sorted[i + 1];
    if (next === d + 1) return;
    const from = sorted[first] ?? d;
    runs.push(d - from >= 2 ? `${name(from)}-${name(d)}` : d === from ? name(d) : `${name(from)},${name(d)}`);
    first = i + 1;
  });
  return runs.join(",");
}

function formatTime(t: TimeOfDay): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(t.hour)}:${two(t.minute)}${t.second ? `:${two(t.second)}` : ""}`;
}

function formatInstant(at: Temporal.Instant, w: RebootWindow): string {
  const zdt = at.toZonedDateTimeISO(zoneId(w.timeZone));
  return zdt.toString({ smallestUnit: zdt.second ? "second" : "minute", timeZoneName: "never" });
}

function zoneId(timeZone: string): string {
  return timeZone === "Local" ? Temporal.Now.timeZoneId() : timeZone;
}

/**
 * Go's `time.Date(y, m, d, hh, mm, ss, ns, loc)` as epoch nanoseconds. Go guesses the offset at the local
 * wall time read as UTC and corrects it once; for a wall time in a DST gap or overlap this picks a side that
 * depends on the zone's offset sign, which Temporal's disambiguation options do not reproduce.
 */
function goDate(date: Temporal.PlainDate, t: TimeOfDay, nanos: bigint, tz: string): bigint {
  const wall =
    date.toPlainDateTime({ hour: t.hour, minute: t.minute, second: t.second }).toZonedDateTime("UTC")
      .epochNanoseconds;
  let offset = offsetAt(wall, tz);
  if (offset !== 0n) {
    const corrected = offsetAt(wall - offset, tz);
    if (corrected !== offset) offset = corrected;
  }
  return wall - offset + nanos;
}

function offsetAt(epochNs: bigint, tz: string): bigint {
  return BigInt(new Temporal.Instant(epochNs).toZonedDateTimeISO(tz).offsetNanoseconds);
}
