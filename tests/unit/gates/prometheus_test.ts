import assert from "node:assert/strict";
import { alertCounts } from "../../../lib/gates/alert_filter.ts";
import { activeAlerts, checkPrometheus, type PrometheusOptions } from "../../../lib/gates/prometheus.ts";
import { closedPort, hang, json, withStandIn as withFake } from "./standin.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

function sample(alertname: string, alertstate = "firing", value = "1") {
  return {
    metric: { __name__: "ALERTS", alertname, alertstate, severity: "warning" },
    value: [1622472933.973, value],
  };
}
const vector = (...result: unknown[]) => ({ status: "success", data: { resultType: "vector", result } });

const base = (url: string, more: Partial<PrometheusOptions> = {}): PrometheusOptions => ({
  url,
  alertFilterMatchOnly: false,
  alertFiringOnly: false,
  timeoutMs: 2000,
  ...more,
});

// kured's pkg/blockers/prometheus_test.go answer: four firing alerts and one pending.
const KURED_BODY = vector(
  sample("GatekeeperViolations"),
  sample("PodCrashing-dev"),
  sample("PodRestart-dev"),
  sample("PrometheusTargetDown"),
  sample("ScheduledRebootFailing", "pending"),
);

Deno.test({
  name: "prometheus: kured's TestActiveAlerts table",
  ...strict,
  fn: () =>
    withFake(() => json(KURED_BODY), async (url) => {
      const table: [RegExp | undefined, boolean, boolean, number][] = [
        [/(?:)/, false, false, 0], // "" matches everything: nothing blocks
        [/Pod/, false, false, 3],
        [/Gatekeeper/, false, true, 1],
        [undefined, false, false, 5], // kured's "*" fails to compile and leaves nil
        [undefined, true, false, 4], // firing only
      ];
      for (const [re, firingOnly, matchOnly, want] of table) {
        const r = await activeAlerts(
          base(url, { alertFilterRegexp: re, alertFiringOnly: firingOnly, alertFilterMatchOnly: matchOnly }),
        );
        assert.ok(r.ok);
        assert.equal(r.alerts.length, want, `${re} firingOnly=${firingOnly} matchOnly=${matchOnly}`);
      }
    }),
});

Deno.test({
  name: "prometheus: kured's RebootRequired filter cases",
  ...strict,
  fn: () =>
    withFake(() => json(vector(sample("RebootRequired", "pending"))), async (url) => {
      assert.deepEqual(await activeAlerts(base(url, { alertFilterRegexp: /RebootRequired/ })), {
        ok: true,
        alerts: [],
      });
      assert.deepEqual(
        await activeAlerts(base(url, { alertFilterRegexp: /RebootRequired/, alertFilterMatchOnly: true })),
        { ok: true, alerts: ["RebootRequired"] },
      );
    }),
});

Deno.test({
  name: "prometheus: healthy (no alerts) is clear, and the query is an instant POST of ALERTS",
  ...strict,
  fn: () =>
    withFake(() => json(vector()), async (url, seen) => {
      const now = new Date("2026-11-20T10:00:00.250Z");
      assert.deepEqual(await checkPrometheus(base(url, { now: () => now })), { clear: true });
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.method, "POST");
      assert.equal(seen[0]?.path, "/api/v1/query");
      assert.equal(seen[0]?.params.get("query"), "ALERTS");
      assert.equal(seen[0]?.params.get("time"), String(now.getTime() / 1000));
      assert.match(seen[0]?.params.get("time") ?? "", /^\d{10}\.25$/);
    }),
});

Deno.test({
  name: "prometheus: firing alerts block, named sorted and de-duplicated; zero-valued samples do not count",
  ...strict,
  fn: () =>
    withFake(
      () =>
        json(
          vector(
            sample("NodeDown"),
            sample("DiskFull"),
            sample("NodeDown", "pending"),
            sample("Zeroed", "firing", "0"),
          ),
        ),
      async (url) => {
        assert.deepEqual(await checkPrometheus(base(url)), {
          clear: false,
          reason: "alert",
          message: "2 active Prometheus alerts: DiskFull, NodeDown",
        });
      },
    ),
});

Deno.test({
  name: "prometheus: a pending alert blocks, unless --alert-firing-only",
  ...strict,
  fn: () =>
    withFake(() => json(vector(sample("SlowBurn", "pending"))), async (url) => {
      assert.deepEqual(await checkPrometheus(base(url)), {
        clear: false,
        reason: "alert",
        message: "1 active Prometheus alert: SlowBurn",
      });
      assert.deepEqual(await checkPrometheus(base(url, { alertFiringOnly: true })), { clear: true });
    }),
});

Deno.test({
  name: "prometheus: the filter ignores matching alerts, or with match-only counts only them",
  ...strict,
  fn: () =>
    withFake(
      () => json(vector(sample("RebootRequired"), sample("Watchdog"), sample("CriticalDB"))),
      async (url) => {
        const ignore = await checkPrometheus(base(url, { alertFilterRegexp: /^(RebootRequired|Watchdog)$/ }));
        assert.deepEqual(ignore, {
          clear: false,
          reason: "alert",
          message: "1 active Prometheus alert: CriticalDB",
        });
        const only = await checkPrometheus(
          base(url, { alertFilterRegexp: /^Critical/, alertFilterMatchOnly: true }),
        );
        assert.deepEqual(only, {
          clear: false,
          reason: "alert",
          message: "1 active Prometheus alert: CriticalDB",
        });
        const none = await checkPrometheus(
          base(url, { alertFilterRegexp: /^Nothing$/, alertFilterMatchOnly: true }),
        );
        assert.deepEqual(none, { clear: true });
      },
    ),
});

Deno.test({
  name: "prometheus: more than ten alerts are summarised",
  ...strict,
  fn: () =>
    withFake(
      () => json(vector(...Array.from({ length: 12 }, (_, i) => sample(`A${String(i).padStart(2, "0")}`)))),
      async (url) => {
        const r = await checkPrometheus(base(url));
        assert.ok(!r.clear);
        assert.equal(
          r.message,
          "12 active Prometheus alerts: A00, A01, A02, A03, A04, A05, A06, A07, A08, A09 and 2 more",
        );
      },
    ),
});

async function blockedWith(opts: PrometheusOptions, pattern: RegExp): Promise<void> {
  const r = await checkPrometheus(opts);
  assert.ok(!r.clear, "expected blocked");
  assert.equal(r.reason, "alert");
  assert.match(r.message, /^cannot query Prometheus at .*, so reboots are blocked to be safe: /);
  assert.match(r.message, pattern);
}

Deno.test({
  name: "prometheus: HTTP 500 blocks (fail safe) and says so",
  ...strict,
  fn: () =>
    withFake(() => new Response("upstream exploded", { status: 500 }), async (url) => {
      await blockedWith(base(url), /HTTP 500: upstream exploded$/);
    }),
});

Deno.test({
  name: "prometheus: an API error body is reported with its errorType",
  ...strict,
  fn: () =>
    withFake(
      () => json({ status: "error", errorType: "bad_data", error: "parse error" }, 400),
      async (url) => {
        await blockedWith(base(url), /HTTP 400 \(bad_data: parse error\)$/);
      },
    ),
});

Deno.test({
  name: "prometheus: garbage and wrong shapes block with what was wrong",
  ...strict,
  fn: async () => {
    const bodies: [() => Response, RegExp][] = [
      [() => new Response("<html>login</html>"), /the answer is not JSON: <html>login<\/html>$/],
      [() => json([1, 2]), /the answer is not a JSON object/],
      [
        () => json({ status: "error", errorType: "timeout", error: "query timed out" }),
        /the query failed \(timeout: query timed out\)/,
      ],
      [() => json({ status: "success" }), /no data object/],
      [
        () => json({ status: "success", data: { resultType: "matrix", result: [] } }),
        /expected a vector result, got "matrix"/,
      ],
      [() => json({ status: "success", data: { resultType: "vector", result: {} } }), /not an array/],
      [
        () => json(vector({ metric: { severity: "x" }, value: [1, "1"] })),
        /sample 0 of the vector has no alertname label/,
      ],
      [
        () => json(vector(sample("Ok"), { metric: { alertname: "A" } })),
        /sample 1 of the vector has no \[time, value\] pair/,
      ],
      [() => json(vector({ metric: { alertname: "A" }, value: [1, "one"] })), /has an unparsable value/],
    ];
    for (const [answer, pattern] of bodies) {
      await withFake(answer, (url) => blockedWith(base(url), pattern));
    }
  },
});

Deno.test({
  name: "prometheus: a slow server is cut off at the timeout and blocks",
  ...strict,
  fn: () =>
    withFake(
      (req) =>
        new Promise<Response>((resolve) => {
          const t = setTimeout(() => resolve(json(vector())), 5000);
          req.signal.addEventListener("abort", () => {
            clearTimeout(t);
            resolve(new Response("gone"));
          });
        }),
      async (url) => {
        const t0 = performance.now();
        await blockedWith(base(url, { timeoutMs: 150 }), /no answer within 150 ms$/);
        assert.ok(performance.now() - t0 < 2000);
      },
    ),
});

Deno.test({
  name: "prometheus: connection refused blocks",
  ...strict,
  fn: async () => {
    await blockedWith(base(`http://127.0.0.1:${closedPort()}`), /fetch failed: .*Connection refused/);
  },
});

Deno.test({
  name: "prometheus: falls back to GET on 405, keeps a path prefix, and redacts credentials in messages",
  ...strict,
  fn: async () => {
    await withFake(
      (req) => req.method === "POST" ? new Response("no POST here", { status: 405 }) : json(vector()),
      async (url, seen) => {
        assert.deepEqual(await checkPrometheus(base(`${url}/prom/`)), { clear: true });
        assert.deepEqual(seen.map((s) => [s.method, s.path, s.params.get("query")]), [
          ["POST", "/prom/api/v1/query", "ALERTS"],
          ["GET", "/prom/api/v1/query", "ALERTS"],
        ]);
      },
    );
    await withFake(() => new Response("nope", { status: 401 }), async (url) => {
      const withUser = url.replace("http://", "http://admin:hunter2@");
      const r = await checkPrometheus(base(withUser));
      assert.ok(!r.clear);
      assert.doesNotMatch(r.message, /hunter2/);
      assert.match(r.message, /HTTP 401: nope$/);
    });
  },
});

Deno.test({
  name: "prometheus: aborting the caller's signal ends the query",
  ...strict,
  fn: () =>
    withFake(
      hang,
      async (url) => {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 50);
        await blockedWith(base(url, { timeoutMs: 10_000, signal: ac.signal }), /aborted$/);
      },
    ),
});

Deno.test("alertCounts() is kured's matchesRegex and ignores a global regexp's state", () => {
  assert.equal(alertCounts("X", undefined, false), true);
  assert.equal(alertCounts("X", undefined, true), true);
  assert.equal(alertCounts("RebootRequired", /Reboot/, false), false);
  assert.equal(alertCounts("RebootRequired", /Reboot/, true), true);
  assert.equal(alertCounts("Other", /Reboot/, false), true);
  const g = /Reboot/g;
  assert.equal(alertCounts("RebootRequired", g, true), true);
  assert.equal(alertCounts("RebootRequired", g, true), true);
});
