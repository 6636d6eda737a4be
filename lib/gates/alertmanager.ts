/**
 * The Alertmanager gate (`--alertmanager-url`): unlike the Prometheus `ALERTS` gate, it respects silences and
 * inhibitions, so an operator who silenced an alert in Alertmanager has also told kreboot to ignore it.
 *
 * It asks Alertmanager API v2 (https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml)
 * `GET /api/v2/alerts?active=true&silenced=false&inhibited=false&unprocessed=true`: every alert that is not
 * resolved and neither silenced nor inhibited. "Unprocessed" alerts (just received, not yet matched against
 * silences) are included: they may turn out silenced a moment later, but a reboot waits a period rather than
 * start under an alert. The answer is checked again on our side (`status.state` "suppressed", or a non-empty
 * `silencedBy`/`inhibitedBy`, does not block), so a proxy that drops the query still gives the right answer.
 *
 * The filter flags mean what they mean for the Prometheus gate (lib/gates/alert_filter.ts), applied to the
 * `alertname` label. Alertmanager only ever holds firing alerts (Prometheus sends an alert once it fires,
 * never while it is pending), so `--alert-firing-only` changes nothing here. Unreachable, slow (more than
 * `--prometheus-timeout`) or malformed answers block (fail safe), as the Prometheus gate does.
 */
import { alertBlocks, type AlertFilterOptions, alertGateResult, type AlertsResult } from "./alert_filter.ts";
import type { GateResult } from "./gate.ts";
import { apiEndpoint, isRecord, requestJson, snippet } from "./http_json.ts";

export interface AlertmanagerOptions extends AlertFilterOptions {
  /** Base URL of Alertmanager, e.g. http://alertmanager.monitoring:9093 (a path prefix is kept). */
  url: string;
  /** Deadline for the request. */
  timeoutMs: number;
  /** Aborts the request (shutdown). */
  signal?: AbortSignal | undefined;
}

/** One alert of the answer, as far as the gate needs it. */
export interface AmAlert {
  /** The `alertname` label; "" when the alert has none (Alertmanager does not require it). */
  name: string;
  /** Silenced or inhibited, by Alertmanager's own account. */
  suppressed: boolean;
}

const STATES = new Set(["active", "suppressed", "unprocessed"]);
const UNNAMED = "(alert without alertname)";

/** The sorted, de-duplicated names of the alerts that block, or what went wrong. */
export async function unsilencedAlerts(opts: AlertmanagerOptions): Promise<AlertsResult> {
  const endpoint = apiEndpoint(opts.url, "/api/v2/alerts");
  endpoint.search = new URLSearchParams({
    active: "true",
    silenced: "false",
    inhibited: "false",
    unprocessed: "true",
  }).toString();
  const answer = await requestJson(
    (signal) => fetch(endpoint, { headers: { accept: "application/json" }, signal }),
    { timeoutMs: opts.timeoutMs, signal: opts.signal },
  );
  if (!answer.ok) return answer;
  const alerts = parseAlerts(answer.body);
  if (typeof alerts === "string") return { ok: false, error: alerts };
  const names = new Set<string>();
  for (const a of alerts) {
    if (a.suppressed) continue;
    if (alertBlocks({ name: a.name, firing: true }, opts)) names.add(a.name === "" ? UNNAMED : a.name);
  }
  return { ok: true, alerts: [...names].sort() };
}

/** The gate: blocked while an alert that is neither silenced nor inhibited counts, or when Alertmanager cannot be asked. */
export async function checkAlertmanager(opts: AlertmanagerOptions): Promise<GateResult> {
  return alertGateResult(
    "Alertmanager",
    opts.url,
    await unsilencedAlerts(opts),
    " (not silenced or inhibited)",
  );
}

/** Checks a `GET /api/v2/alerts` answer (an array of gettableAlert) by hand; the alerts, or what is wrong. */
export function parseAlerts(body: unknown): AmAlert[] | string {
  if (!Array.isArray(body)) return `expected a JSON array of alerts, got ${snippet(JSON.stringify(body))}`;
  const alerts: AmAlert[] = [];
  for (const [i, raw] of body.entries()) {
    const bad = (what: string) => `alert ${i} ${what}: ${snippet(JSON.stringify(raw))}`;
    if (!isRecord(raw) || !isRecord(raw.labels)) return bad("has no labels");
    const name = raw.labels.alertname ?? "";
    if (typeof name !== "string") return bad("has a non-string alertname");
    const status = raw.status;
    if (!isRecord(status) || typeof status.state !== "string" || !STATES.has(status.state)) {
      return bad("has no status.state of active, suppressed or unprocessed");
    }
    const silencedBy = status.silencedBy ?? [];
    const inhibitedBy = status.inhibitedBy ?? [];
    if (!Array.isArray(silencedBy) || !Array.isArray(inhibitedBy)) {
      return bad("has a status.silencedBy or status.inhibitedBy that is not a list");
    }
    alerts.push({
      name,
      suppressed: status.state === "suppressed" || silencedBy.length > 0 || inhibitedBy.length > 0,
    });
  }
  return alerts;
}
