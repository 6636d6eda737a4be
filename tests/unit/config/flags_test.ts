import assert from "node:assert/strict";
import {
  type Config,
  ConfigError,
  configToArgs,
  configToJson,
  defaultConfig,
  FLAGS,
  HelpRequested,
  type JsonValue,
  parseConfig,
  requireNodeId,
  wantsHelp,
} from "../../../lib/config/mod.ts";

/** The 43 flags of kured 1.23.0 (cmd/kured/main.go), with kured's defaults as `kreboot config` prints them. */
interface Row {
  name: string;
  def: JsonValue;
  /** Two different valid values, raw and as JSON. */
  a: [string, JsonValue];
  b: [string, JsonValue];
  /** Other flags this one needs to be valid. */
  needs?: string[];
}

const KURED: Row[] = [
  { name: "node-id", def: "", a: ["node-1", "node-1"], b: ["node-2", "node-2"] },
  { name: "force-reboot", def: false, a: ["true", true], b: ["false", false] },
  { name: "metrics-host", def: "", a: ["127.0.0.1", "127.0.0.1"], b: ["::", "::"] },
  { name: "metrics-port", def: 8080, a: ["9090", 9090], b: ["1", 1] },
  { name: "drain-grace-period", def: -1, a: ["30", 30], b: ["0", 0] },
  { name: "drain-pod-selector", def: "", a: ["app=web", "app=web"], b: ["team in (a,b)", "team in (a,b)"] },
  { name: "skip-wait-for-delete-timeout", def: 0, a: ["60", 60], b: ["5", 5] },
  { name: "drain-delay", def: "0s", a: ["90s", "1m30s"], b: ["1h", "1h0m0s"] },
  { name: "drain-timeout", def: "0s", a: ["10m", "10m0s"], b: ["1.5h", "1h30m0s"] },
  { name: "reboot-delay", def: "0s", a: ["300ms", "300ms"], b: ["2m", "2m0s"] },
  { name: "reboot-method", def: "command", a: ["signal", "signal"], b: ["command", "command"] },
  { name: "period", def: "1h0m0s", a: ["5m", "5m0s"], b: ["1h0m0s", "1h0m0s"] },
  { name: "ds-namespace", def: "kube-system", a: ["kured", "kured"], b: ["ops", "ops"] },
  { name: "ds-name", def: "kured", a: ["kreboot", "kreboot"], b: ["my.ds", "my.ds"] },
  {
    name: "lock-annotation",
    def: "weave.works/kured-node-lock",
    a: ["example.com/lock", "example.com/lock"],
    b: ["lock", "lock"],
  },
  { name: "lock-ttl", def: "0s", a: ["30m", "30m0s"], b: ["24h", "24h0m0s"] },
  { name: "lock-release-delay", def: "0s", a: ["5m", "5m0s"], b: ["1s", "1s"] },
  {
    name: "prometheus-url",
    def: "",
    a: ["http://prometheus:9090", "http://prometheus:9090"],
    b: ["https://p.example.com", "https://p.example.com"],
  },
  {
    name: "alert-filter-regexp",
    def: null,
    a: ["^RebootRequired$", "^RebootRequired$"],
    b: ["Reboot|Drain", "Reboot|Drain"],
  },
  { name: "alert-filter-match-only", def: false, a: ["true", true], b: ["0", false] },
  { name: "alert-firing-only", def: false, a: ["t", true], b: ["F", false] },
  {
    name: "reboot-sentinel",
    def: "/var/run/reboot-required",
    a: ["/sentinel/reboot-required", "/sentinel/reboot-required"],
    b: ["/x", "/x"],
  },
  {
    name: "prefer-no-schedule-taint",
    def: "",
    a: ["weave.works/kured-node-reboot", "weave.works/kured-node-reboot"],
    b: ["rebooting", "rebooting"],
  },
  {
    name: "reboot-sentinel-command",
    def: "",
    a: [`sh -c "! needs-restarting --reboothint"`, "sh -c '! needs-restarting --reboothint'"],
    b: ["/usr/bin/test -f /run/reboot", "/usr/bin/test -f /run/reboot"],
  },
  {
    name: "reboot-command",
    def: "/bin/systemctl reboot",
    a: ["/sbin/reboot", "/sbin/reboot"],
    b: ["systemctl   reboot --force", "systemctl reboot --force"],
  },
  { name: "concurrency", def: 1, a: ["3", 3], b: ["25%", "25%"] },
  { name: "reboot-signal", def: 39, a: ["15", 15], b: ["64", 64] },
  {
    name: "slack-hook-url",
    def: "",
    a: ["https://hooks.slack.com/services/T/B/X", "https://hooks.slack.com/services/T/B/X"],
    b: [`"https://hooks.slack.com/services/A/B/C"`, "https://hooks.slack.com/services/A/B/C"],
  },
  { name: "slack-username", def: "kured", a: ["bot", "bot"], b: ["kured-bot", "kured-bot"] },
  { name: "slack-channel", def: "", a: ["#ops", "#ops"], b: ["general", "general"] },
  {
    name: "notify-url",
    def: "",
    a: ["slack://T/B/X", "slack://T/B/X"],
    b: [`'generic+https://example.com/hook'`, "generic+https://example.com/hook"],
  },
  {
    name: "message-template-uncordon",
    def: "Node %s rebooted & uncordoned successfully!",
    a: ["%s is back", "%s is back"],
    b: ["done", "done"],
  },
  { name: "message-template-drain", def: "Draining node %s", a: ["drain %s", "drain %s"], b: ["d", "d"] },
  { name: "message-template-reboot", def: "Rebooting node %s", a: ["reboot %s", "reboot %s"], b: ["r", "r"] },
  {
    name: "blocking-pod-selector",
    def: [],
    a: ["team in (a,b)", ["team in (a,b)"]],
    b: ["app=db,tier=primary", ["app=db,tier=primary"]],
  },
  {
    name: "reboot-days",
    def: ["su", "mo", "tu", "we", "th", "fr", "sa"],
    a: ["mon,Tuesday,3", ["mo", "tu", "we"]],
    b: ["sat,SU", ["sa", "su"]],
  },
  { name: "start-time", def: "0:00", a: ["05pm", "17:00"], b: ["8:30", "8:30"] },
  { name: "end-time", def: "23:59:59", a: ["18", "18:00"], b: ["11:15:30", "11:15:30"] },
  { name: "time-zone", def: "UTC", a: ["Europe/Berlin", "Europe/Berlin"], b: ["Local", "Local"] },
  { name: "annotate-nodes", def: false, a: ["True", true], b: ["FALSE", false] },
  { name: "log-format", def: "text", a: ["json", "json"], b: ["text", "text"] },
  { name: "pre-reboot-node-labels", def: [], a: ["a=b,c=d", ["a=b", "c=d"]], b: ["x/y=", ["x/y="]] },
  {
    name: "post-reboot-node-labels",
    def: [],
    a: ["a=b", ["a=b"]],
    b: ["kured=done,z=1", ["kured=done", "z=1"]],
  },
];

const KREBOOT: Row[] = [
  { name: "dry-run", def: false, a: ["true", true], b: ["1", true] },
  { name: "kubeconfig", def: "", a: ["/tmp/kc", "/tmp/kc"], b: ["/x", "/x"] },
  { name: "once", def: false, a: ["true", true], b: ["t", true] },
  { name: "nsenter", def: true, a: ["false", false], b: ["0", false] },
  { name: "sentinel-command-timeout", def: "30s", a: ["5s", "5s"], b: ["1m", "1m0s"] },
  { name: "reboot-timeout", def: "5m0s", a: ["1m", "1m0s"], b: ["90s", "1m30s"] },
  { name: "recovery-timeout", def: "10m0s", a: ["20m", "20m0s"], b: ["1h", "1h0m0s"] },
  { name: "post-reboot-ready-for", def: "0s", a: ["2m", "2m0s"], b: ["30s", "30s"] },
  { name: "wait-for-workloads", def: false, a: ["true", true], b: ["false", false] },
  { name: "max-failed-reboots", def: 0, a: ["2", 2], b: ["5", 5] },
  { name: "failure-window", def: "24h0m0s", a: ["1h", "1h0m0s"], b: ["90m", "1h30m0s"] },
  { name: "min-reboot-interval", def: "1h0m0s", a: ["0s", "0s"], b: ["30m", "30m0s"] },
  { name: "max-consecutive-reboots", def: 3, a: ["0", 0], b: ["5", 5] },
  { name: "drain-disable-eviction-after", def: "0s", a: ["15m", "15m0s"], b: ["90s", "1m30s"] },
  { name: "notify-timeout", def: "10s", a: ["3s", "3s"], b: ["500ms", "500ms"] },
  { name: "prometheus-timeout", def: "10s", a: ["2s", "2s"], b: ["1m", "1m0s"] },
  {
    name: "alertmanager-url",
    def: "",
    a: ["http://alertmanager:9093", "http://alertmanager:9093"],
    b: ["https://am.example.com/prefix", "https://am.example.com/prefix"],
  },
  {
    name: "prometheus-query",
    def: [],
    a: ["kube_deployment_status_replicas_unavailable > 0", [
      "kube_deployment_status_replicas_unavailable > 0",
    ]],
    b: ['sum by (a,b) (up{job=~"x|y"}) == 0', ['sum by (a,b) (up{job=~"x|y"}) == 0']],
    needs: ["--prometheus-url=http://prometheus:9090"],
  },
  {
    name: "group-label",
    def: "",
    a: ["topology.kubernetes.io/zone", "topology.kubernetes.io/zone"],
    b: ["pool", "pool"],
  },
  { name: "max-concurrency-total", def: 0, a: ["2", 2], b: ["0", 0] },
  {
    name: "budget",
    def: [],
    a: ["nodes=30%", ["nodes=30%"]],
    b: ["nodes=0,schedule=@daily,duration=1h", ["nodes=0,schedule=@daily,duration=1h0m0s,tz=UTC"]],
  },
  {
    name: "reboot-window",
    def: [],
    a: ["cron=0 22 * * fri,duration=6h,tz=Europe/Berlin", [
      "cron=0 22 * * fri,duration=6h0m0s,tz=Europe/Berlin",
    ]],
    b: ["cron=30 1 * * *,duration=90m", ["cron=30 1 * * *,duration=1h30m0s,tz=UTC"]],
  },
];

function envName(prefix: string, flag: string): string {
  return `${prefix}_${flag.toUpperCase().replaceAll("-", "_")}`;
}

function json(argv: string[], env: Record<string, string> = {}): Record<string, JsonValue> {
  return configToJson(parseConfig(argv, env).config);
}

Deno.test("the table has exactly kured's 43 flags and kreboot's own", () => {
  assert.equal(KURED.length, 43);
  assert.deepEqual(
    FLAGS.filter((f) => f.group === "kured").map((f) => f.name).sort(),
    KURED.map((r) => r.name).sort(),
  );
  assert.deepEqual(
    FLAGS.filter((f) => f.group === "kreboot").map((f) => f.name).sort(),
    KREBOOT.map((r) => r.name).sort(),
  );
  assert.equal(new Set(FLAGS.map((f) => f.name)).size, FLAGS.length, "one definition per flag");
  assert.equal(new Set(FLAGS.map((f) => f.key)).size, FLAGS.length, "one flag per Config field");
  for (const f of FLAGS) assert.ok(f.help.length > 10, `--${f.name} is documented`);
});

Deno.test("defaults show in configToJson exactly as kured's", () => {
  const out = json([]);
  for (const row of [...KURED, ...KREBOOT]) assert.deepEqual(out[row.name], row.def, row.name);
  assert.deepEqual(Object.keys(out), FLAGS.map((f) => f.name));
  assert.deepEqual(parseConfig([], {}).config, defaultConfig());
  assert.deepEqual(parseConfig([], {}).warnings, []);
});

Deno.test("every flag accepts a valid value in --name=value and --name value form", () => {
  for (const row of [...KURED, ...KREBOOT]) {
    for (const [raw, want] of [row.a, row.b]) {
      const needs = row.needs ?? [];
      assert.deepEqual(json([...needs, `--${row.name}=${raw}`])[row.name], want, `--${row.name}=${raw}`);
      const isBool = typeof row.def === "boolean";
      if (!isBool) {
        assert.deepEqual(json([...needs, `--${row.name}`, raw])[row.name], want, `--${row.name} ${raw}`);
      }
    }
  }
});

Deno.test("KREBOOT_ and KURED_ variables set every kured flag; the flag beats both; KREBOOT_ beats KURED_", () => {
  for (const row of KURED) {
    const [aRaw, aJson] = row.a;
    const [bRaw, bJson] = row.b;
    const kreboot = envName("KREBOOT", row.name);
    const kured = envName("KURED", row.name);
    assert.notDeepEqual(aJson, bJson, `${row.name}: the two values must differ for the precedence checks`);
    assert.deepEqual(json([], { [kreboot]: aRaw })[row.name], aJson, kreboot);
    assert.deepEqual(json([], { [kured]: aRaw })[row.name], aJson, kured);
    assert.deepEqual(
      json([`--${row.name}=${bRaw}`], { [kreboot]: aRaw, [kured]: aRaw })[row.name],
      bJson,
      row.name,
    );
    assert.deepEqual(json([], { [kreboot]: bRaw, [kured]: aRaw })[row.name], bJson, row.name);
  }
});

Deno.test("kreboot's own flags bind KREBOOT_ only", () => {
  for (const row of KREBOOT) {
    const [aRaw, aJson] = row.a;
    const needs = row.needs ?? [];
    assert.deepEqual(json(needs, { [envName("KREBOOT", row.name)]: aRaw })[row.name], aJson, row.name);
    assert.deepEqual(json(needs, { [envName("KURED", row.name)]: aRaw })[row.name], row.def, row.name);
  }
});

Deno.test("booleans take pflag's forms and false never switches a flag on", () => {
  const force = (argv: string[], env: Record<string, string> = {}) =>
    parseConfig(argv, env).config.forceReboot;
  assert.equal(force(["--force-reboot"]), true);
  assert.equal(force(["--force-reboot=true"]), true);
  assert.equal(force(["--force-reboot=false"]), false);
  assert.equal(force(["--force-reboot", "--force-reboot=false"]), false, "last one wins");
  for (const v of ["false", "0", "f", "F", "FALSE", "False"]) {
    assert.equal(force([], { KURED_FORCE_REBOOT: v }), false, v);
    assert.equal(force([], { KREBOOT_FORCE_REBOOT: v }), false, v);
  }
  for (const v of ["true", "1", "t", "T", "TRUE", "True"]) {
    assert.equal(force([], { KURED_FORCE_REBOOT: v }), true, v);
  }
  assert.equal(force(["--force-reboot=false"], { KURED_FORCE_REBOOT: "true" }), false, "flag beats env");
  assert.equal(parseConfig(["--nsenter=false"], {}).config.nsenter, false);
  assert.throws(
    () => parseConfig(["--force-reboot", "false"], {}),
    /unexpected argument "false".*--force-reboot=false/,
  );
});

Deno.test("--blocking-pod-selector is repeatable and never split on commas", () => {
  const sel = (argv: string[], env: Record<string, string> = {}) =>
    parseConfig(argv, env).config.blockingPodSelector;
  assert.deepEqual(sel(["--blocking-pod-selector=team in (a,b)"]), ["team in (a,b)"]);
  assert.deepEqual(
    sel(["--blocking-pod-selector", "app=db,tier=primary", "--blocking-pod-selector=!ready"]),
    [
      "app=db,tier=primary",
      "!ready",
    ],
  );
  assert.deepEqual(sel([], { KURED_BLOCKING_POD_SELECTOR: "team in (a,b),app" }), ["team in (a,b),app"]);
  assert.deepEqual(sel(["--blocking-pod-selector=x"], { KURED_BLOCKING_POD_SELECTOR: "y" }), ["x"]);
});

Deno.test("--reboot-days and node label lists are comma-split and repeatable", () => {
  const c = parseConfig(
    [
      "--reboot-days=mo,tu",
      "--reboot-days",
      "fri",
      "--pre-reboot-node-labels=a=1,b=2",
      "--pre-reboot-node-labels=c=3",
      "--post-reboot-node-labels=a=1,b=2,c=3",
    ],
    {},
  ).config;
  assert.deepEqual(c.rebootDays, ["mo", "tu", "fr"]);
  assert.deepEqual(c.preRebootNodeLabels, { a: "1", b: "2", c: "3" });
  assert.deepEqual(parseConfig([], { KURED_REBOOT_DAYS: "sa,su" }).config.rebootDays, ["sa", "su"]);
  assert.deepEqual(parseConfig(["--reboot-days="], {}).config.rebootDays, [], "empty = no day, as in kured");
  assert.deepEqual(
    parseConfig([], { KURED_REBOOT_DAYS: "" }).config.rebootDays.length,
    7,
    "empty variable = unset",
  );
});

Deno.test("an empty environment variable counts as unset", () => {
  assert.equal(parseConfig([], { KURED_FORCE_REBOOT: "" }).config.forceReboot, false);
  assert.equal(parseConfig([], { KREBOOT_PERIOD: "", KURED_PERIOD: "5m" }).config.period, 300_000);
  assert.equal(parseConfig([], { KREBOOT_NSENTER: "" }).config.nsenter, true);
});

Deno.test("deprecated slack flags work and warn once each", () => {
  const { config, warnings } = parseConfig(
    [
      "--slack-hook-url=https://hooks.slack.com/services/T/B/X",
      "--slack-username=bot",
      "--slack-username=bot2",
    ],
    { KURED_SLACK_CHANNEL: "ops" },
  );
  assert.equal(config.notifyUrl, "slack://T/B/X");
  assert.equal(config.slackUsername, "bot2");
  assert.equal(config.slackChannel, "ops");
  assert.equal(warnings.length, 3);
  for (const name of ["slack-hook-url", "slack-username", "slack-channel"]) {
    assert.equal(warnings.filter((w) => w.startsWith(`--${name} is deprecated`)).length, 1, name);
  }
  assert.ok(warnings.every((w) => !w.includes("\n")));
});

Deno.test("--notify-url with --slack-hook-url is rejected as conflicting", () => {
  assert.throws(
    () =>
      parseConfig(["--notify-url=slack://T/B/X"], {
        KURED_SLACK_HOOK_URL: "https://hooks.slack.com/services/T/B/X",
      }),
    (e: unknown) =>
      e instanceof ConfigError && e.flag === "notify-url" && /cannot be used together/.test(e.message),
  );
});

Deno.test("other warnings: label key mismatch, ignored sentinel file", () => {
  const { warnings } = parseConfig(
    ["--pre-reboot-node-labels=a=1", "--reboot-sentinel=/x", "--reboot-sentinel-command=true"],
    {},
  );
  assert.equal(warnings.length, 2);
  assert.match(warnings[0] ?? "", /different keys/);
  assert.match(warnings[1] ?? "", /--reboot-sentinel is ignored/);
});

Deno.test("parsed values have the documented shapes", () => {
  const c = parseConfig(
    [
      "--period=90s",
      "--concurrency=50%",
      "--start-time=5pm",
      "--reboot-command=sh -c 'sleep 1; reboot'",
      "--drain-grace-period=-1",
    ],
    {},
  ).config;
  assert.equal(c.period, 90_000);
  assert.deepEqual(c.concurrency, { kind: "percent", percent: 50 });
  assert.deepEqual(parseConfig([], {}).config.concurrency, { kind: "count", n: 1 });
  assert.deepEqual(c.startTime, { hour: 17, minute: 0, second: 0 });
  assert.deepEqual(c.endTime, { hour: 23, minute: 59, second: 59 });
  assert.deepEqual(c.rebootCommand, ["sh", "-c", "sleep 1; reboot"]);
  assert.deepEqual(c.rebootSentinelCommand, []);
  assert.equal(c.alertFilterRegexp, undefined);
  assert.equal(c.drainGracePeriod, -1);
});

Deno.test("requireNodeId is separate from parsing", () => {
  const { config } = parseConfig([], {});
  assert.throws(
    () => requireNodeId(config),
    (e: unknown) => e instanceof ConfigError && e.flag === "node-id",
  );
  assert.doesNotThrow(() => requireNodeId(parseConfig([], { KURED_NODE_ID: "n1" }).config));
});

Deno.test("--help is reported, not parsed", () => {
  assert.equal(wantsHelp(["--period=1m", "--help"]), true);
  assert.equal(wantsHelp(["-h"]), true);
  assert.equal(wantsHelp(["--period=1m"]), false);
  assert.throws(() => parseConfig(["--help"], {}), HelpRequested);
});

Deno.test("configToArgs round-trips through parseConfig", () => {
  const argvs: string[][] = [
    [],
    [
      "--node-id=n1",
      "--force-reboot",
      "--period=5m",
      "--concurrency=25%",
      "--reboot-days=mo,we",
      "--nsenter=false",
    ],
    [
      "--slack-hook-url=https://hooks.slack.com/services/T/B/X",
      "--blocking-pod-selector=team in (a,b)",
      "--blocking-pod-selector=app=db",
      "--reboot-command=/bin/sh -c 'echo it'\"'\"'s; reboot'",
      "--reboot-sentinel-command=test -e /run/x",
      "--alert-filter-regexp=",
      "--start-time=22:00",
      "--end-time=02:30:15",
      "--time-zone=America/Los_Angeles",
      "--pre-reboot-node-labels=a=1,b=",
      "--post-reboot-node-labels=a=2",
      "--reboot-days=",
    ],
    [
      "--notify-url=generic+https://example.com/hook",
      "--drain-grace-period=-1",
      "--drain-grace-period=0",
      "--metrics-port=9100",
      "--message-template-drain=draining %s, hold on",
      "--reboot-method=signal",
      "--reboot-signal=15",
      "--lock-ttl=1.5h",
      "--reboot-timeout=1m30s",
      "--log-format=json",
      "--kubeconfig=/tmp/kc",
    ],
    [
      "--group-label=topology.kubernetes.io/zone",
      "--max-concurrency-total=3",
      "--budget=nodes=0,schedule=0 8 * * mon-fri,duration=10h,tz=Europe/Berlin",
      "--budget=nodes=30%,group=batch",
      "--budget=nodes=1,group=",
      "--reboot-window=cron=0 22 * * fri,sat,duration=6h,tz=Europe/Berlin",
      "--reboot-window=cron=@daily,duration=2h",
    ],
  ];
  for (const argv of argvs) {
    const first = parseConfig(argv, {}).config;
    const args = configToArgs(first);
    const second: Config = parseConfig(args, {}).config;
    assert.deepEqual(second, first, args.join(" "));
  }
  assert.deepEqual(configToArgs(defaultConfig()), []);
  assert.deepEqual(
    configToArgs(parseConfig(["--period=60m"], {}).config),
    [],
    "a value equal to the default",
  );
});

Deno.test("configToArgs output also round-trips when built from the environment", () => {
  const env = {
    KURED_NODE_ID: "n",
    KURED_REBOOT_DAYS: "sat",
    KREBOOT_FORCE_REBOOT: "1",
    KURED_LOCK_TTL: "30m",
  };
  const first = parseConfig([], env).config;
  assert.deepEqual(configToArgs(first), [
    "--node-id=n",
    "--force-reboot=true",
    "--lock-ttl=30m0s",
    "--reboot-days=sa",
  ]);
  assert.deepEqual(parseConfig(configToArgs(first), {}).config, first);
});

Deno.test("configToJson can redact notification credentials", () => {
  const { config } = parseConfig(["--notify-url=slack://T000/B000/SECRET"], {});
  assert.equal(configToJson(config)["notify-url"], "slack://T000/B000/SECRET");
  assert.doesNotMatch(String(configToJson(config, { redact: true })["notify-url"]), /SECRET/);
});
