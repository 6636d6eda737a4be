/** The group, budget and window flags: parsing, environment, start-up cross-checks, one-line exit-2 errors. */
import assert from "node:assert/strict";
import { configCommand } from "../../../lib/cli/config_cmd.ts";
import { ConfigError, parseConfig } from "../../../lib/config/mod.ts";
import { isOpen } from "../../../lib/cron_windows/mod.ts";

Deno.test("the new flags default to today's behaviour: one group, no cap, no budget, no cron window", () => {
  const { config } = parseConfig([], {});
  assert.equal(config.groupLabel, "");
  assert.equal(config.maxConcurrencyTotal, 0);
  assert.deepEqual(config.budgets, []);
  assert.deepEqual(config.rebootWindows, []);
});

Deno.test("repeatable specs keep their commas; KREBOOT_ variables set one each; the command line wins", () => {
  const { config } = parseConfig([
    "--budget",
    "nodes=0,schedule=0 8 * * mon-fri,duration=10h,tz=Europe/Berlin",
    "--budget=nodes=30%,group=batch",
    "--group-label=node.kubernetes.io/pool",
    "--reboot-window=cron=0 22 * * fri,sat,duration=6h,tz=Europe/Berlin",
  ], {});
  assert.equal(config.budgets.length, 2);
  assert.equal(config.budgets[1]?.group, "batch");
  assert.equal(config.rebootWindows[0]?.schedule.pattern, "0 22 * * fri,sat");
  assert.equal(isOpen(config.rebootWindows[0]!, Date.parse("2026-03-29T00:00:00Z")), true, "Sunday 01:00");

  const env = {
    KREBOOT_GROUP_LABEL: "topology.kubernetes.io/zone",
    KREBOOT_MAX_CONCURRENCY_TOTAL: "4",
    KREBOOT_BUDGET: "nodes=1,group=eu-west-1a",
    KREBOOT_REBOOT_WINDOW: "cron=@daily,duration=3h",
  };
  const fromEnv = parseConfig([], env).config;
  assert.equal(fromEnv.groupLabel, "topology.kubernetes.io/zone");
  assert.equal(fromEnv.maxConcurrencyTotal, 4);
  assert.deepEqual(fromEnv.budgets.map((b) => b.group), ["eu-west-1a"]);
  assert.equal(fromEnv.rebootWindows[0]?.durationMs, 3 * 3_600_000);
  assert.equal(parseConfig([], { KURED_BUDGET: "nodes=1" }).config.budgets.length, 0, "not kured's flag");
  assert.equal(parseConfig(["--max-concurrency-total=1"], env).config.maxConcurrencyTotal, 1);
});

/** [argv, flag named, pattern the one line must match] */
const INVALID: [string[], string, RegExp][] = [
  [
    ["--group-label=zone name"],
    "group-label",
    /invalid value "zone name" for --group-label: expected a node label key/,
  ],
  [["--group-label=-zone"], "group-label", /label key/],
  [["--max-concurrency-total=-1"], "max-concurrency-total", /integer >= 0/],
  [["--max-concurrency-total=two"], "max-concurrency-total", /integer/],
  [["--budget=nodes=-1"], "budget", /nodes=-1: a whole number/],
  [["--budget=nodes=1.5"], "budget", /nodes=1\.5/],
  [["--budget=nodes=101%"], "budget", /0% to 100%/],
  [["--budget=nodes=1e3"], "budget", /nodes=1e3/],
  [["--budget=nodes=9999999999"], "budget", /whole number/],
  [["--budget=group=a"], "budget", /nodes= is missing/],
  [["--budget=nodes=1,group=a b", "--group-label=z"], "budget", /group=a b: not a label value/],
  [["--budget=nodes=1,group=" + "x".repeat(64), "--group-label=z"], "budget", /not a label value/],
  [["--budget=nodes=0,schedule=0 8 * * mon-fri"], "budget", /duration= is missing/],
  [["--budget=nodes=0,duration=1h"], "budget", /duration= needs schedule=/],
  [["--budget=nodes=0,tz=UTC"], "budget", /tz= needs schedule=/],
  [["--budget=nodes=0,schedule=0 25 * * *,duration=1h"], "budget", /schedule=0 25 \* \* \*/],
  [["--budget=nodes=0,schedule=0 0 30 2 *,duration=1h"], "budget", /never fires/],
  [
    ["--budget=nodes=0,schedule=@daily,duration=1h,tz=Europe/Nowhere"],
    "budget",
    /tz=Europe\/Nowhere: unknown/,
  ],
  [["--budget=nodes=0,schedule=@daily,duration=1y"], "budget", /unknown unit "y"/],
  [["--budget=nodes=1,nodes=2"], "budget", /nodes= given twice/],
  [["--budget=nodes=1", "--budget=max=2"], "budget", /invalid value "max=2"/],
  [["--budget=nodes=1,group=batch"], "budget", /names a group, but --group-label is not set/],
  [["--reboot-window=cron=0 22 * * fri"], "reboot-window", /duration= is missing/],
  [["--reboot-window=duration=1h"], "reboot-window", /cron= is missing/],
  [["--reboot-window=cron=0 22 * * fri,duration=0"], "reboot-window", /must be positive/],
  [["--reboot-window=cron=0 22 * * fri,duration=6h,tz=local"], "reboot-window", /tz=local/],
  [["--reboot-window=schedule=@daily,duration=1h"], "reboot-window", /unknown key "schedule"/],
  [["--reboot-window="], "reboot-window", /empty/],
  [["--group-label=zone", `--ds-name=${"d".repeat(220)}`], "group-label", /--ds-name of at most 208/],
];

Deno.test("hostile values exit 2 with one line naming the flag", () => {
  for (const [argv, flag, want] of INVALID) {
    let err: unknown;
    try {
      parseConfig(argv, {});
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, `${argv.join(" ")} must be refused`);
    assert.equal(err.flag, flag, argv.join(" "));
    assert.match(err.message, want, argv.join(" "));
    const out = configCommand(argv, {});
    assert.equal(out.code, 2);
    assert.equal(out.stdout, "");
    assert.equal(out.stderr.trimEnd().split("\n").length, 1, out.stderr);
    assert.match(out.stderr, new RegExp(`--${flag}`));
  }
  // From the environment the message says where the value came from.
  const out = configCommand([], { KREBOOT_BUDGET: "nodes=x" });
  assert.match(out.stderr, /for --budget \(from environment variable KREBOOT_BUDGET\)/);
});
