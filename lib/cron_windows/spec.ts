/**
 * The `key=value,key=value` syntax shared by `--reboot-window` and `--budget`. A cron pattern contains
 * spaces and may contain commas (`0 22 * * fri,sat`), so a comma separates two items only where the next
 * item starts with `name=`: no cron pattern, duration, zone or label value contains `=`.
 */
import { formatGoDuration, parseGoDuration } from "../config/duration.ts";
import { InvalidValue } from "../config/errors.ts";
import { CRON_EXPECTED, parseCron } from "./cron.ts";
import type { AnchoredWindow } from "./anchored.ts";

/** Specs longer than this are refused before they are split (a hostile value must cost nothing). */
export const MAX_SPEC_LENGTH = 1_000;

/**
 * Splits `spec` into its items. `known` lists the allowed keys; `expected` completes "expected …" in
 * errors. Throws `InvalidValue` for an unknown or repeated key, an item without `=`, or an empty spec.
 */
export function splitSpec(spec: string, known: readonly string[], expected: string): Map<string, string> {
  if (spec.trim() === "") throw new InvalidValue(expected, "empty");
  if (spec.length > MAX_SPEC_LENGTH) throw new InvalidValue(expected, "too long");
  const items = new Map<string, string>();
  for (const item of spec.split(/,(?=\s*[A-Za-z][A-Za-z0-9_-]*\s*=)/)) {
    const eq = item.indexOf("=");
    if (eq < 0) throw new InvalidValue(expected, `${JSON.stringify(item.trim())} is not key=value`);
    const key = item.slice(0, eq).trim();
    if (!known.includes(key)) {
      throw new InvalidValue(expected, `unknown key ${JSON.stringify(key)} (known: ${known.join(", ")})`);
    }
    if (items.has(key)) throw new InvalidValue(expected, `${key}= given twice`);
    items.set(key, item.slice(eq + 1).trim());
  }
  return items;
}

/** A duration of a window or scheduled budget: a positive Go duration. */
export function parseWindowDuration(s: string | undefined, expected: string): number {
  if (s === undefined) throw new InvalidValue(expected, "duration= is missing");
  let ms: number;
  try {
    ms = parseGoDuration(s);
  } catch (e) {
    throw new InvalidValue(expected, `duration=${s}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!(ms > 0)) throw new InvalidValue(expected, `duration=${s}: must be positive`);
  return ms;
}

/** Builds the anchored window of `cron`/`schedule`, `duration` and `tz` (default UTC). */
export function windowFrom(
  cron: string,
  duration: string | undefined,
  tz: string | undefined,
  expected: string,
  cronKey: string,
): AnchoredWindow {
  let schedule;
  try {
    schedule = parseCron(cron, tz ?? "UTC");
  } catch (e) {
    if (!(e instanceof InvalidValue)) throw e;
    const detail = e.expected === CRON_EXPECTED
      ? `${cronKey}=${cron}: ${
        e.detail ?? "not a cron pattern"
      }; use five fields (minute hour day-of-month month day-of-week) such as '0 22 * * fri', or @daily`
      : `tz=${tz}: ${e.detail ?? "not a time zone"}; use UTC, Local or an IANA name such as Europe/Berlin`;
    throw new InvalidValue(expected, detail);
  }
  return { schedule, durationMs: parseWindowDuration(duration, expected) };
}

const WINDOW_EXPECTED = "cron=CRON,duration=DURATION[,tz=ZONE]";

/** One `--reboot-window` value. */
export function parseWindowSpec(spec: string): AnchoredWindow {
  const items = splitSpec(spec, ["cron", "duration", "tz"], WINDOW_EXPECTED);
  const cron = items.get("cron");
  if (cron === undefined) throw new InvalidValue(WINDOW_EXPECTED, "cron= is missing");
  return windowFrom(cron, items.get("duration"), items.get("tz"), WINDOW_EXPECTED, "cron");
}

/** The canonical `--reboot-window` value of `w`, which `parseWindowSpec` reads back. */
export function formatWindowSpec(w: AnchoredWindow): string {
  return `cron=${w.schedule.pattern},duration=${formatGoDuration(w.durationMs)},tz=${w.schedule.timeZone}`;
}
