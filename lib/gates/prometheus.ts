/**
 * The Prometheus alert gate (`--prometheus-url`), exactly as kured queries it
 * (https://github.com/kubereboot/kured/blob/1.23.0/pkg/blockers/prometheus.go): an instant PromQL query of the
 * `ALERTS` series (lib/gates/promql.ts), not Alertmanager, so silences do not apply (`--alertmanager-url`,
 * lib/gates/alertmanager.ts, is the gate that respects them).
 *
 * A sample counts when its value is not 0 and it passes the alert filter (lib/gates/alert_filter.ts; "firing"
 * is its `alertstate` label). Anything that is not a well-formed vector answer blocks (fail safe), with a
 * message saying what was wrong. Unlike kured, a sample without an `alertname` label is treated as a
 * malformed answer (the URL most likely points at something that is not Prometheus) rather than skipped.
 */
import { alertBlocks, type AlertFilterOptions, alertGateResult, type AlertsResult } from "./alert_filter.ts";
import type { GateResult } from "./gate.ts";
import { snippet } from "./http_json.ts";
import { instantQuery, type PrometheusTarget } from "./promql.ts";

export interface PrometheusOptions extends PrometheusTarget, AlertFilterOptions {}

/** The sorted, de-duplicated names of the alerts that count, or what went wrong. */
export async function activeAlerts(opts: PrometheusOptions): Promise<AlertsResult> {
  const r = await instantQuery(opts, "ALERTS");
  if (!r.ok) return r;
  const names = new Set<string>();
  for (const [i, s] of r.samples.entries()) {
    const { alertname, alertstate } = s.labels;
    if (alertname === undefined || alertname === "") {
      return {
        ok: false,
        error: `sample ${i} of the vector has no alertname label: ${snippet(JSON.stringify(s.labels))}`,
      };
    }
    if (s.value === 0) continue;
    if (alertBlocks({ name: alertname, firing: alertstate === "firing" }, opts)) names.add(alertname);
  }
  return { ok: true, alerts: [...names].sort() };
}

/** The alert gate: blocked while any counted alert is active, or when Prometheus cannot be asked. */
export async function checkPrometheus(opts: PrometheusOptions): Promise<GateResult> {
  return alertGateResult("Prometheus", opts.url, await activeAlerts(opts));
}
