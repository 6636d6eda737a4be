import assert from "node:assert/strict";
import { formatGoDuration, InvalidValue, parseGoDuration } from "../../../lib/config/mod.ts";

const NS = 1n;
const US = 1000n * NS;
const MS = 1000n * US;
const S = 1000n * MS;
const M = 60n * S;
const H = 60n * M;

/** Milliseconds as parseGoDuration returns them for a nanosecond count. */
function ms(ns: bigint): number {
  return ns < 0n ? -(Number(-ns) / 1e6) : Number(ns) / 1e6;
}

// Go's own table (src/time/time_test.go, parseDurationTests).
const VALID: [string, bigint][] = [
  ["0", 0n],
  ["5s", 5n * S],
  ["30s", 30n * S],
  ["1478s", 1478n * S],
  ["-5s", -5n * S],
  ["+5s", 5n * S],
  ["-0", 0n],
  ["+0", 0n],
  ["5.0s", 5n * S],
  ["5.6s", 5n * S + 600n * MS],
  ["5.s", 5n * S],
  [".5s", 500n * MS],
  ["1.0s", 1n * S],
  ["1.00s", 1n * S],
  ["1.004s", 1n * S + 4n * MS],
  ["1.0040s", 1n * S + 4n * MS],
  ["100.00100s", 100n * S + 1n * MS],
  ["10ns", 10n * NS],
  ["11us", 11n * US],
  ["12\u00b5s", 12n * US],
  ["12\u03bcs", 12n * US],
  ["13ms", 13n * MS],
  ["14s", 14n * S],
  ["15m", 15n * M],
  ["16h", 16n * H],
  ["3h30m", 3n * H + 30n * M],
  ["10.5s4m", 4n * M + 10n * S + 500n * MS],
  ["-2m3.4s", -(2n * M + 3n * S + 400n * MS)],
  ["1h2m3s4ms5us6ns", 1n * H + 2n * M + 3n * S + 4n * MS + 5n * US + 6n * NS],
  ["39h9m14.425s", 39n * H + 9n * M + 14n * S + 425n * MS],
  ["52763797000ns", 52763797000n * NS],
  ["0.3333333333333333333h", 20n * M],
  ["9007199254740993ns", (1n << 53n) + 1n],
  ["9223372036854775807ns", (1n << 63n) - 1n],
  ["9223372036854775.807us", (1n << 63n) - 1n],
  ["9223372036s854ms775us807ns", (1n << 63n) - 1n],
  ["-9223372036854775808ns", -1n << 63n],
  ["-9223372036854775.808us", -1n << 63n],
  ["0.100000000000000000000h", 6n * M],
  ["0.830103483285477580700h", 49n * M + 48n * S + 372539827n * NS],
  // the forms kreboot's users write
  ["1h0m0s", H],
  ["90s", 90n * S],
  ["1.5h", 90n * M],
  ["300ms", 300n * MS],
  ["-1.5h", -90n * M],
];

const INVALID: [string, RegExp][] = [
  ["", /empty/],
  ["3", /missing unit/],
  ["10", /missing unit/],
  ["-", /sign/],
  ["s", /unexpected/],
  [".", /missing unit|unexpected/],
  ["-.", /unexpected|missing/],
  [".s", /unexpected/],
  ["+.s", /unexpected/],
  ["1d", /unknown unit "d"/],
  ["1h junk", /unknown unit/],
  ["1h ", /unknown unit/],
  [" 1h", /unexpected/],
  ["\x85\x85", /unexpected/],
  ["hello \xffff world", /unexpected/],
  ["9223372036854775808ns", /out of range/],
  ["9223372036854775.808us", /out of range/],
  ["-9223372036854775809ns", /out of range/],
  ["1H", /unknown unit "H"/],
  ["1hh", /unknown unit "hh"/],
];

Deno.test("parseGoDuration accepts Go's valid durations with Go's values", () => {
  for (const [input, ns] of VALID) {
    assert.equal(parseGoDuration(input), ms(ns), input);
  }
});

Deno.test("parseGoDuration rejects what Go rejects, saying why", () => {
  for (const [input, why] of INVALID) {
    assert.throws(() => parseGoDuration(input), (e: unknown) => {
      assert.ok(e instanceof InvalidValue, input);
      assert.match(e.message, /expected a Go duration such as 90s, 1h30m or 1h0m0s/);
      assert.match(e.message, why, input);
      return true;
    });
  }
});

Deno.test("formatGoDuration matches Go's Duration.String", () => {
  const cases: [bigint, string][] = [
    [0n, "0s"],
    [1n, "1ns"],
    [1100n, "1.1\u00b5s"],
    [2200n * US, "2.2ms"],
    [300n * MS, "300ms"],
    [3300n * MS, "3.3s"],
    [4n * M + 5n * S, "4m5s"],
    [4n * M + 5001n * MS, "4m5.001s"],
    [5n * H + 6n * M + 7001n * MS, "5h6m7.001s"],
    [8n * M + 1n, "8m0.000000001s"],
    [H, "1h0m0s"],
    [90n * S, "1m30s"],
    [30n * S, "30s"],
    [-(90n * M), "-1h30m0s"],
    [-1n, "-1ns"],
  ];
  for (const [ns, want] of cases) assert.equal(formatGoDuration(ms(ns)), want, want);
});

Deno.test("formatGoDuration output parses back to the same value", () => {
  for (const [input] of VALID) {
    const v = parseGoDuration(input);
    if (Math.abs(v) > 1e12) continue; // beyond float precision of whole nanoseconds
    assert.equal(parseGoDuration(formatGoDuration(v)), v, input);
  }
});
