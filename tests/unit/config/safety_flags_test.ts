import assert from "node:assert/strict";
import { ConfigError, configToArgs, FLAGS, InvalidValue, parseConfig } from "../../../lib/config/mod.ts";
import { SAFETY_FLAGS, type SafetySettings } from "../../../lib/config/safety_flags.ts";

const PROM = "--prometheus-url=http://prometheus:9090";

function configError(argv: string[], env: Record<string, string> = {}): ConfigError {
  try {
    parseConfig(argv, env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`expected a ConfigError for ${argv.join(" ")}`);
}

Deno.test("--alertmanager-url takes an http(s) URL and names itself when it is not one", () => {
  assert.equal(
    parseConfig(["--alertmanager-url=http://am:9093"], {}).config.alertmanagerUrl,
    "http://am:9093",
  );
  assert.equal(parseConfig([], {}).config.alertmanagerUrl, "");
  for (const bad of ["am:9093", "ftp://am", "http://"]) {
    const e = configError([`--alertmanager-url=${bad}`]);
    assert.equal(e.flag, "alertmanager-url");
    assert.match(
      e.message,
      /for --alertmanager-url: expected an http\(s\) URL such as http:\/\/alertmanager/,
    );
  }
});

Deno.test("--prometheus-query is repeatable, keeps commas, and comes from KREBOOT_PROMETHEUS_QUERY as one query", () => {
  const q1 = "kube_deployment_status_replicas_unavailable > 0";
  const q2 = 'sum by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Unknown"}) > 0';
  assert.deepEqual(
    parseConfig([PROM, `--prometheus-query=${q1}`, "--prometheus-query", q2], {}).config.prometheusQuery,
    [
      q1,
      q2,
    ],
  );
  assert.deepEqual(
    parseConfig([PROM], { KREBOOT_PROMETHEUS_QUERY: q2 }).config.prometheusQuery,
    [q2],
  );
  const config = parseConfig([PROM, `--prometheus-query=${q1}`, `--prometheus-query=${q2}`], {}).config;
  assert.deepEqual(parseConfig(configToArgs(config), {}).config, config);
});

Deno.test("--prometheus-query: an empty query, or no --prometheus-url to ask, is a config error naming the flag", () => {
  const empty = configError([PROM, "--prometheus-query=up", "--prometheus-query= "]);
  assert.equal(empty.flag, "prometheus-query");
  assert.match(empty.message, /invalid value " " for --prometheus-query: expected a PromQL query \(empty\)/);
  const alone = configError(["--prometheus-query=up"]);
  assert.equal(alone.flag, "prometheus-query");
  assert.match(alone.message, /--prometheus-query needs --prometheus-url/);
});

/** [setting, valid raw values with what they decode to, invalid raw values with what the error says] */
const SAFETY: {
  [K in keyof SafetySettings]: {
    def: SafetySettings[K];
    ok: [string, SafetySettings[K]][];
    bad: [string, RegExp][];
  };
} = {
  postRebootReadyFor: {
    def: 0,
    ok: [["0s", 0], ["2m", 120_000]],
    bad: [["-1s", /non-negative Go duration/], ["2", /missing unit/]],
  },
  waitForWorkloads: { def: false, ok: [["true", true], ["0", false]], bad: [["yes", /true or false/]] },
  maxFailedReboots: { def: 0, ok: [["0", 0], ["2", 2]], bad: [["-1", />= 0/], ["two", /integer/]] },
  failureWindow: {
    def: 24 * 3_600_000,
    ok: [["1h", 3_600_000], ["90m", 5_400_000]],
    bad: [["0s", /positive Go duration/], ["1d", /unknown unit "d"/]],
  },
  minRebootInterval: { def: 3_600_000, ok: [["0s", 0], ["30m", 1_800_000]], bad: [["-5m", /non-negative/]] },
  maxConsecutiveReboots: { def: 3, ok: [["0", 0], ["5", 5]], bad: [["1.5", /integer/]] },
  drainDisableEvictionAfter: { def: 0, ok: [["15m", 900_000]], bad: [["soon", /Go duration/]] },
};

Deno.test("the safety flags' parsers: defaults, valid values, and one-line errors", () => {
  for (const key of Object.keys(SAFETY) as (keyof SafetySettings)[]) {
    const { name, spec } = SAFETY_FLAGS[key];
    const want = SAFETY[key];
    assert.equal(spec.default, want.def, name);
    for (const [raw, value] of want.ok) assert.equal(spec.decode([raw]), value, `--${name}=${raw}`);
    for (const [raw, pattern] of want.bad) {
      assert.throws(
        () => spec.decode([raw]),
        (e: unknown) => e instanceof InvalidValue && pattern.test(e.message),
      );
    }
    assert.ok(spec.help.length > 20, name);
  }
});

Deno.test("every safety flag is offered, with its KREBOOT_ variable, its parser and its default", () => {
  const offered = new Map(FLAGS.map((f) => [f.name, f]));
  for (const key of Object.keys(SAFETY_FLAGS) as (keyof SafetySettings)[]) {
    const { name, spec } = SAFETY_FLAGS[key];
    const f = offered.get(name);
    assert.ok(f, `--${name} is offered`);
    assert.equal(f.key, key);
    assert.equal(f.group, "kreboot");
    const env = `KREBOOT_${name.toUpperCase().replaceAll("-", "_")}`;
    assert.deepEqual(f.env, [env]);
    assert.deepEqual(parseConfig([], {}).config[key], spec.default);
    const [raw, value] = SAFETY[key].ok.at(-1) ?? ["", spec.default];
    assert.deepEqual(parseConfig([`--${name}=${raw}`], {}).config[key], value, `--${name}=${raw}`);
    assert.deepEqual(parseConfig([], { [env]: raw }).config[key], value, `${env}=${raw}`);
    const [bad] = SAFETY[key].bad[0] ?? [""];
    assert.equal(configError([`--${name}=${bad}`]).flag, name, `--${name}=${bad} names the flag`);
  }
});
