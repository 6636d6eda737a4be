/**
 * The PromQL gate (`--prometheus-query`, repeatable): each query is an instant query against
 * `--prometheus-url`; a non-empty result blocks, e.g. `kube_deployment_status_replicas_unavailable > 0`
 * blocks while any Deployment misses a replica. Like a PromQL alert rule, a sample counts whatever its value:
 * "non-empty" is the condition, so write the comparison into the query. A query that cannot be answered
 * blocks too (fail safe). The blocked message names the query, so a reader knows which condition held.
 */
import { redact } from "../log.ts";
import { blocked, CLEAR, type GateResult, listNames } from "./gate.ts";
import { formatLabels, instantQuery, type PrometheusTarget } from "./promql.ts";

/** How many series of one query the message shows. */
const SHOWN_SERIES = 3;

/** Asks every query (at the same time, each within the timeout); blocked if any returns a sample or fails. */
export async function checkPrometheusQueries(
  target: PrometheusTarget,
  queries: readonly string[],
): Promise<GateResult> {
  const results = await Promise.all(queries.map((q) => instantQuery(target, q)));
  const problems: string[] = [];
  for (const [i, r] of results.entries()) {
    const query = JSON.stringify(queries[i]);
    if (!r.ok) {
      problems.push(
        `cannot run query ${query} on Prometheus at ${
          redact(target.url)
        }, so reboots are blocked to be safe: ${r.error}`,
      );
    } else if (r.samples.length > 0) {
      const n = r.samples.length;
      const series = listNames(r.samples.map((s) => formatLabels(s.labels)), SHOWN_SERIES);
      problems.push(`query ${query} returned ${n} series: ${series}`);
    }
  }
  return problems.length === 0 ? CLEAR : blocked("query", problems.join("; "));
}
