import assert from "node:assert/strict";
import { checkPrometheusQueries } from "../../../lib/gates/prometheus_query.ts";
import { formatLabels } from "../../../lib/gates/promql.ts";
import { hang, json, withStandIn } from "./standin.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

const vector = (...result: unknown[]) => ({ status: "success", data: { resultType: "vector", result } });
const series = (metric: Record<string, string>, value = "1") => ({ metric, value: [1700000000, value] });

const UNAVAILABLE = "kube_deployment_status_replicas_unavailable > 0";
const PENDING = 'kube_pod_status_phase{phase="Pending"} == 1';

/** A Prometheus that answers per query: `answers[query]`, an empty vector for any other. */
function prometheus(answers: Record<string, unknown>) {
  return (_req: Request, params: URLSearchParams): Response =>
    json(answers[params.get("query") ?? ""] ?? vector());
}

const target = (url: string, timeoutMs = 2000) => ({ url, timeoutMs });

Deno.test({
  name: "prometheus-query: an empty result is clear, and every query is asked as an instant query",
  ...strict,
  fn: () =>
    withStandIn(prometheus({}), async (url, seen) => {
      assert.deepEqual(await checkPrometheusQueries(target(url), [UNAVAILABLE, PENDING]), { clear: true });
      assert.deepEqual(seen.map((s) => [s.method, s.path, s.params.get("query")]).sort(), [
        ["POST", "/api/v1/query", UNAVAILABLE],
        ["POST", "/api/v1/query", PENDING],
      ]);
      assert.ok(seen.every((s) => /^\d+(\.\d+)?$/.test(s.params.get("time") ?? "")));
    }),
});

Deno.test({
  name: "prometheus-query: a non-empty result blocks, and the reason names the query and its series",
  ...strict,
  fn: () =>
    withStandIn(
      prometheus({
        [UNAVAILABLE]: vector(
          series({ namespace: "shop", deployment: "web" }, "2"),
          series({ namespace: "shop", deployment: "api" }, "1"),
        ),
      }),
      async (url) => {
        assert.deepEqual(await checkPrometheusQueries(target(url), [PENDING, UNAVAILABLE]), {
          clear: false,
          reason: "query",
          message: `query "${UNAVAILABLE}" returned 2 series: ` +
            `{deployment="web", namespace="shop"}, {deployment="api", namespace="shop"}`,
        });
      },
    ),
});

Deno.test({
  name: "prometheus-query: a sample blocks whatever its value (the condition belongs in the query)",
  ...strict,
  fn: () =>
    withStandIn(prometheus({ "up": vector(series({ __name__: "up", job: "x" }, "0")) }), async (url) => {
      const r = await checkPrometheusQueries(target(url), ["up"]);
      assert.ok(!r.clear);
      assert.equal(r.message, 'query "up" returned 1 series: up{job="x"}');
    }),
});

Deno.test({
  name: "prometheus-query: several blocking queries are all named; many series are summarised",
  ...strict,
  fn: () =>
    withStandIn(
      prometheus({
        a: vector(series({ i: "1" }), series({ i: "2" }), series({ i: "3" }), series({ i: "4" })),
        b: vector(series({ j: "1" })),
      }),
      async (url) => {
        const r = await checkPrometheusQueries(target(url), ["a", "b"]);
        assert.ok(!r.clear);
        assert.equal(
          r.message,
          'query "a" returned 4 series: {i="1"}, {i="2"}, {i="3"} and 1 more; query "b" returned 1 series: {j="1"}',
        );
      },
    ),
});

Deno.test({
  name: "prometheus-query: a failing query blocks and names the query; a scalar result is refused",
  ...strict,
  fn: async () => {
    await withStandIn(
      () => json({ status: "error", errorType: "bad_data", error: "parse error at char 3" }, 400),
      async (url) => {
        const r = await checkPrometheusQueries(target(url), ["up >"]);
        assert.ok(!r.clear);
        assert.equal(r.reason, "query");
        assert.match(
          r.message,
          /^cannot run query "up >" on Prometheus at http:\/\/127\.0\.0\.1:\d+\/, so reboots are blocked to be safe: HTTP 400 \(bad_data: parse error at char 3\)$/,
        );
      },
    );
    await withStandIn(
      () => json({ status: "success", data: { resultType: "scalar", result: [1, "1"] } }),
      async (url) => {
        const r = await checkPrometheusQueries(target(url), ["1"]);
        assert.ok(!r.clear);
        assert.match(r.message, /expected a vector result, got "scalar"$/);
      },
    );
  },
});

Deno.test({
  name: "prometheus-query: a hang blocks at the timeout",
  ...strict,
  fn: () =>
    withStandIn(hang, async (url) => {
      const r = await checkPrometheusQueries(target(url, 150), [UNAVAILABLE]);
      assert.ok(!r.clear);
      assert.match(r.message, /no answer within 150 ms$/);
    }),
});

Deno.test("formatLabels prints a label set as Prometheus does, sorted", () => {
  assert.equal(
    formatLabels({ __name__: "up", job: "api", instance: "a:1" }),
    'up{instance="a:1", job="api"}',
  );
  assert.equal(formatLabels({}), "{}");
  assert.equal(formatLabels({ q: 'say "hi"' }), '{q="say \\"hi\\""}');
});
