/**
 * Go durations (`time.ParseDuration` and `Duration.String`), because kured's users write them in their
 * DaemonSet args and `kreboot config` must print them the way kured does (`1h0m0s`).
 *
 * Durations are carried as milliseconds in a `number`. Go counts in integer nanoseconds, so sub-millisecond
 * values (`1500ns`, `2us`) come back as fractional milliseconds (0.0015, 0.002); every value a flag
 * realistically holds is an integer number of milliseconds.
 */

import { InvalidValue } from "./errors.ts";

/** Milliseconds in a second, a minute and an hour: how the flag tables write their defaults. */
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

const EXPECTED = "a Go duration such as 90s, 1h30m or 1h0m0s";

const NS_PER_UNIT: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "\u00b5s": 1e3, // µ MICRO SIGN, as Go accepts
  "\u03bcs": 1e3, // μ GREEK SMALL LETTER MU, as Go accepts
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

// Go's limit is the int64 range of nanoseconds (about 292 years).
const MAX_NS = 9223372036854775807n;

/**
 * Parses a Go duration strictly: an optional sign, then one or more `<decimal><unit>` groups with units
 * ns, us (µs), ms, s, m, h; `0` alone is allowed without a unit. Returns milliseconds.
 * Throws `InvalidValue` for anything Go would reject (`10`, `1d`, `1h junk`, ``, `.s`).
 */
export function parseGoDuration(s: string): number {
  let rest = s;
  let negative = false;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    negative = rest[0] === "-";
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw new InvalidValue(EXPECTED, s === "" ? "empty" : "no number after the sign");
  // Sum in bigint nanoseconds so that overflow is detected as Go does and fractions stay exact.
  let totalNs = 0n;
  while (rest !== "") {
    const m = /^(\d*)(?:\.(\d*))?/.exec(rest);
    const intPart = m?.[1] ?? "";
    const fracPart = m?.[2] ?? "";
    if (intPart === "" && fracPart === "") {
      throw new InvalidValue(EXPECTED, `unexpected ${JSON.stringify(rest[0])}`);
    }
    rest = rest.slice(m?.[0].length ?? 0);
    const unitMatch = /^[^\d.]*/.exec(rest);
    const unit = unitMatch?.[0] ?? "";
    if (unit === "") throw new InvalidValue(EXPECTED, "missing unit");
    const perUnit = NS_PER_UNIT[unit];
    if (perUnit === undefined) throw new InvalidValue(EXPECTED, `unknown unit ${JSON.stringify(unit)}`);
    rest = rest.slice(unit.length);
    const unitNs = BigInt(perUnit);
    let ns = BigInt(intPart || "0") * unitNs;
    if (fracPart !== "") ns += fractionNs(fracPart, perUnit);
    totalNs += ns;
    if (totalNs > MAX_NS + (negative ? 1n : 0n)) throw new InvalidValue(EXPECTED, "out of range");
  }
  const ms = Number(totalNs) / 1e6;
  return negative ? -ms : ms;
}

/**
 * Formats milliseconds like Go's `Duration.String()`: `0s`, `300ms`, `1.5s`, `1m30s`, `1h0m0s`, `-1h30m0s`.
 * Sub-millisecond fractions are rounded to whole nanoseconds.
 */
export function formatGoDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`cannot format ${ms} as a Go duration`);
  let ns = BigInt(Math.round(ms * 1e6));
  const sign = ns < 0n ? "-" : "";
  if (ns < 0n) ns = -ns;
  if (ns === 0n) return "0s";
  if (ns < 1000n) return `${sign}${ns}ns`;
  if (ns < 1_000_000n) return `${sign}${decimal(ns, 1000n)}\u00b5s`;
  if (ns < 1_000_000_000n) return `${sign}${decimal(ns, 1_000_000n)}ms`;
  const seconds = decimal(ns % 60_000_000_000n, 1_000_000_000n);
  const totalMinutes = ns / 60_000_000_000n;
  if (totalMinutes === 0n) return `${sign}${seconds}s`;
  const minutes = totalMinutes % 60n;
  const hours = totalMinutes / 60n;
  return hours === 0n ? `${sign}${minutes}m${seconds}s` : `${sign}${hours}h${minutes}m${seconds}s`;
}

/** `n / unit` as a decimal without trailing zeros, e.g. decimal(1500n, 1000n) = "1.5". */
function decimal(n: bigint, unit: bigint): string {
  const whole = n / unit;
  const frac = n % unit;
  if (frac === 0n) return `${whole}`;
  const digits = String(unit).length - 1;
  return `${whole}.${String(frac).padStart(digits, "0").replace(/0+$/, "")}`;
}

/**
 * The fraction's contribution exactly as Go computes it: digits are accumulated while they fit in an
 * int64, then scaled in float64 and truncated, so that results match Go to the nanosecond.
 */
function fractionNs(digits: string, perUnit: number): bigint {
  const limit = 9223372036854775807n;
  let f = 0n;
  let scale = 1;
  for (const d of digits) {
    if (f > limit / 10n) break;
    const y = f * 10n + BigInt(d);
    if (y > limit + 1n) break; // Go compares with 1<<63 here
    f = y;
    scale *= 10;
  }
  return BigInt(Math.trunc(Number(f) * (perUnit / scale)));
}
