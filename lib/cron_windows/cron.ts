/**
 * Cron fire times in a real time zone, from croner (https://github.com/Hexagon/croner): it computes both the
 * next and the previous fire time of a pattern in an IANA zone, resolves DST gaps and overlaps as Vixie cron
 * does (a fixed time in a gap fires right after it; in an overlap, once), and has no dependencies. The
 * README's "Groups, budgets and windows" section says why croner and not cron-parser or cron-schedule.
 *
 * Patterns have exactly five fields (minute hour day-of-month month day-of-week) or are one of the
 * nicknames (`@daily`, `@weekly`, …), as Kubernetes CronJobs and Karpenter's budgets take them.
 *
 * A `CronSchedule` is plain data (it lives in the parsed configuration, which is cloned and compared);
 * the compiled croner object is kept in a small cache here.
 */
import { Cron } from "croner";
import { InvalidValue } from "../config/errors.ts";
import { parseTimeZone, resolveTimeZone } from "../config/kured_window.ts";

/** A validated cron pattern bound to a time zone. */
export interface CronSchedule {
  /** The pattern, trimmed. */
  readonly pattern: string;
  /** `UTC`, `Local` or an IANA name, as `--time-zone` takes them. */
  readonly timeZone: string;
}

export const CRON_EXPECTED =
  "a five-field cron pattern such as '0 22 * * fri' (minute hour day-of-month month day-of-week) or @daily";

/** Longer patterns are refused before croner sees them: no real pattern comes near this. */
const MAX_PATTERN_LENGTH = 200;

const REFERENCE_MS = Date.UTC(2000, 0, 1);

/**
 * Validates `pattern` for `timeZone`. Throws `InvalidValue` for a pattern croner rejects, an unknown zone,
 * or a pattern that never fires (such as `0 0 30 2 *`), which would make a window that never opens or a
 * budget that never applies.
 */
export function parseCron(pattern: string, timeZone: string): CronSchedule {
  const schedule = { pattern: pattern.trim(), timeZone: parseTimeZone(timeZone) };
  if (schedule.pattern === "") throw new InvalidValue(CRON_EXPECTED, "empty pattern");
  if (schedule.pattern.length > MAX_PATTERN_LENGTH) throw new InvalidValue(CRON_EXPECTED, "pattern too long");
  let cron: Cron;
  try {
    cron = compiled(schedule);
  } catch (e) {
    const why = e instanceof Error ? e.message.replace(/^CronPattern: /, "").replace(/\.$/, "") : String(e);
    throw new InvalidValue(CRON_EXPECTED, why.slice(0, 160));
  }
  // A five-field pattern repeats at least every 28 years (the calendar cycle), so one without a fire time
  // after a fixed date never fires. The fixed date keeps parsing independent of the clock.
  if (cron.nextRun(new Date(REFERENCE_MS)) === null) {
    throw new InvalidValue(CRON_EXPECTED, "the pattern never fires");
  }
  return schedule;
}

/** The latest fire time at or before `epochMs`, or undefined when it never fired before. */
export function lastFireAtOrBefore(s: CronSchedule, epochMs: number): number | undefined {
  // previousRuns() is strictly before its reference date; one millisecond later makes a fire exactly at
  // `epochMs` count, so a window is open from the first millisecond of its start.
  return compiled(s).previousRuns(1, new Date(epochMs + 1))[0]?.getTime();
}

/** The first fire time strictly after `epochMs`, or undefined when it never fires again. */
export function nextFireAfter(s: CronSchedule, epochMs: number): number | undefined {
  return compiled(s).nextRun(new Date(epochMs))?.getTime();
}

const cache = new Map<string, Cron>();
const CACHE_SIZE = 256;

function compiled(s: CronSchedule): Cron {
  const zone = resolveTimeZone(s.timeZone);
  const key = `${zone}\n${s.pattern}`;
  let cron = cache.get(key);
  if (cron === undefined) {
    // No function is given, so croner starts no timer: the object only computes fire times.
    cron = new Cron(s.pattern, { timezone: zone, mode: "5-part" });
    if (cache.size >= CACHE_SIZE) cache.clear();
    cache.set(key, cron);
  }
  return cron;
}
