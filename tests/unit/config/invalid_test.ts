import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../../lib/config/mod.ts";

/** [argv, flag named in the error, pattern the message must match] */
const INVALID: [string[], string, RegExp][] = [
  // durations
  [
    ["--period=1d"],
    "period",
    /invalid value "1d" for --period: expected a Go duration .*\(unknown unit "d"\)/,
  ],
  [["--period=10"], "period", /missing unit/],
  [["--period=1h junk"], "period", /unknown unit/],
  [["--period="], "period", /empty/],
  [["--period=0"], "period", /positive/],
  [["--drain-delay=-5s"], "drain-delay", /non-negative/],
  [["--drain-timeout=forever"], "drain-timeout", /Go duration/],
  [["--reboot-delay=5 m"], "reboot-delay", /Go duration/],
  [["--lock-ttl=1w"], "lock-ttl", /unknown unit "w"/],
  [["--lock-release-delay=PT1M"], "lock-release-delay", /Go duration/],
  [["--sentinel-command-timeout=0s"], "sentinel-command-timeout", /positive/],
  [["--reboot-timeout=5"], "reboot-timeout", /missing unit/],
  [["--recovery-timeout=-1m"], "recovery-timeout", /positive/],
  [["--notify-timeout=ten"], "notify-timeout", /Go duration/],
  [["--prometheus-timeout=1.5"], "prometheus-timeout", /missing unit/],
  // integers
  [["--metrics-port=12abc"], "metrics-port", /expected an integer 1\.\.65535/],
  [["--metrics-port=0"], "metrics-port", /1\.\.65535/],
  [["--metrics-port=65536"], "metrics-port", /1\.\.65535/],
  [["--drain-grace-period=1.5"], "drain-grace-period", /integer/],
  [["--skip-wait-for-delete-timeout=-1"], "skip-wait-for-delete-timeout", />= 0/],
  [["--reboot-signal=0"], "reboot-signal", /1\.\.64/],
  [["--reboot-signal=65"], "reboot-signal", /1\.\.64/],
  [["--reboot-signal=SIGTERM"], "reboot-signal", /integer/],
  [["--concurrency=0"], "concurrency", /positive integer/],
  [["--concurrency=-2"], "concurrency", /positive integer/],
  [["--concurrency=0%"], "concurrency", /out of range/],
  [["--concurrency=101%"], "concurrency", /out of range/],
  [["--concurrency=two"], "concurrency", /positive integer/],
  // booleans
  [["--force-reboot=yes"], "force-reboot", /true or false/],
  [["--annotate-nodes=on"], "annotate-nodes", /true or false/],
  [["--nsenter="], "nsenter", /true or false/],
  // enums
  [["--reboot-method=kexec"], "reboot-method", /one of command, signal/],
  [["--log-format=logfmt"], "log-format", /one of text, json/],
  // regexp
  [["--alert-filter-regexp=*"], "alert-filter-regexp", /regular expression \(JavaScript syntax\)/],
  [["--alert-filter-regexp=(unclosed"], "alert-filter-regexp", /regular expression/],
  // selectors
  [["--drain-pod-selector=app in (a"], "drain-pod-selector", /label selector/],
  [["--blocking-pod-selector=team in (a,b"], "blocking-pod-selector", /invalid value "team in \(a,b"/],
  [["--blocking-pod-selector=app=ok", "--blocking-pod-selector=a b"], "blocking-pod-selector", /"a b"/],
  [["--blocking-pod-selector="], "blocking-pod-selector", /empty selector matches every pod/],
  // days and times
  [["--reboot-days=mo,funday"], "reboot-days", /invalid value "funday" for --reboot-days: expected a day/],
  [["--reboot-days=7"], "reboot-days", /out of range/],
  [["--start-time=25:00"], "start-time", /hour out of range/],
  [["--start-time=5:00pm"], "start-time", /05:00pm/],
  [["--end-time=5 PM"], "end-time", /time of day/],
  [["--end-time=23:59:60"], "end-time", /second out of range/],
  [["--time-zone=Mars/Base"], "time-zone", /unknown time zone/],
  [["--time-zone=europe/berlin"], "time-zone", /did you mean Europe\/Berlin/],
  [["--time-zone=+02:00"], "time-zone", /IANA/],
  // commands
  [["--reboot-command="], "reboot-command", /empty/],
  [["--reboot-command=   "], "reboot-command", /empty/],
  [["--reboot-command=sh -c 'reboot"], "reboot-command", /unterminated single quote/],
  [['--reboot-sentinel-command=test -f "/x'], "reboot-sentinel-command", /unterminated double quote/],
  [["--reboot-sentinel-command=# nothing"], "reboot-sentinel-command", /empty/],
  // URLs
  [["--notify-url=https://hooks.slack.com/services/A/B/C"], "notify-url", /scheme "https" is not supported/],
  [["--notify-url=slack://T/B"], "notify-url", /three token parts/],
  [["--notify-url=not a url"], "notify-url", /no scheme/],
  [["--slack-hook-url=https://hooks.slack.com/services/A/B"], "slack-hook-url", /\/services\/<T>\/<B>\/<X>/],
  [["--prometheus-url=prometheus:9090"], "prometheus-url", /http\(s\) URL/],
  [["--prometheus-url=ftp://p"], "prometheus-url", /http\(s\) URL/],
  // names and labels
  [["--ds-namespace=Kube_System"], "ds-namespace", /namespace name/],
  [["--ds-name=Kured"], "ds-name", /object name/],
  [["--lock-annotation=bad key!"], "lock-annotation", /annotation key/],
  [["--prefer-no-schedule-taint=-taint"], "prefer-no-schedule-taint", /taint key/],
  [["--reboot-sentinel="], "reboot-sentinel", /file path/],
  [["--pre-reboot-node-labels=novalue"], "pre-reboot-node-labels", /invalid value "novalue".*missing =/],
  [["--post-reboot-node-labels=a=1,bad key=2"], "post-reboot-node-labels", /"bad key=2"/],
  [["--post-reboot-node-labels=a=has space"], "post-reboot-node-labels", /label value/],
  // argv shape
  [["--foo"], "foo", /^unknown flag --foo/],
  [["--foo=bar"], "foo", /^unknown flag --foo/],
  [["--period"], "period", /flag needs an argument: --period/],
];

Deno.test(`${INVALID.length} invalid inputs are ConfigErrors naming the flag and the value`, () => {
  assert.ok(INVALID.length >= 40);
  const flagsCovered = new Set(INVALID.map(([, flag]) => flag));
  assert.ok(flagsCovered.size >= 40, `covers ${flagsCovered.size} flags`);
  for (const [argv, flag, pattern] of INVALID) {
    assert.throws(() => parseConfig(argv, {}), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `${argv.join(" ")}: ${String(e)}`);
      assert.equal(e.flag, flag, argv.join(" "));
      assert.match(e.message, pattern, argv.join(" "));
      assert.ok(e.message.includes(`--${flag}`), `${e.message} names --${flag}`);
      assert.ok(!e.message.includes("\n"), "one line");
      return true;
    });
  }
});

Deno.test("an invalid environment value names the variable", () => {
  assert.throws(
    () => parseConfig([], { KURED_PERIOD: "1d" }),
    (e: unknown) =>
      e instanceof ConfigError && e.flag === "period" &&
      e.message === `invalid value "1d" for --period (from environment variable KURED_PERIOD): ` +
          `expected a Go duration such as 90s, 1h30m or 1h0m0s (unknown unit "d")`,
  );
  assert.throws(
    () => parseConfig([], { KREBOOT_REBOOT_DAYS: "mo,xx", KURED_REBOOT_DAYS: "mo" }),
    /invalid value "xx" for --reboot-days \(from environment variable KREBOOT_REBOOT_DAYS\)/,
  );
  // a valid flag hides an invalid environment value: the flag wins and the variable is never read
  assert.equal(parseConfig(["--period=5m"], { KURED_PERIOD: "1d" }).config.period, 300_000);
});

Deno.test("stray arguments and shorthands are rejected", () => {
  for (
    const [argv, pattern] of [
      [["reboot"], /unexpected argument "reboot"/],
      [["-x"], /unknown shorthand flag "-x"/],
      [["--", "x"], /unexpected argument "x"/],
    ] as const
  ) {
    assert.throws(
      () => parseConfig(argv, {}),
      (e: unknown) => e instanceof ConfigError && e.flag === undefined && pattern.test(e.message),
    );
  }
});

Deno.test("secret values are redacted in error messages", () => {
  assert.throws(
    () => parseConfig(["--notify-url=slack://T000/SECRETTOKEN"], {}),
    (e: unknown) =>
      e instanceof ConfigError && !e.message.includes("SECRETTOKEN") && /--notify-url/.test(e.message),
  );
});
