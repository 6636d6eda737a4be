/**
 * The Prometheus alert gate (`--prometheus-url`), exactly as kured queries it
 * (https://github.com/kubereboot/kured/blob/1.23.0/pkg/blockers/prometheus.go): an instant
 * PromQL query of the `ALERTS` series at `/api/v1/query` (POST form, GET fallback on 405/501, as
 * client_golang does), not Alertmanager, so silences do not apply.
 *
 * A sample counts when its value is not 0, its `alertname` passes the filter
 * (`filter === undefined || filter matches === matchOnly`) and, with `alertFiringOnly`, its `alertstate` is
 * "firing". Anything that is not a well-formed vector answer blocks (fail safe), with a message saying what
 * was wrong. Unlike kured, a sample without an `alertname` label is treated as a malformed answer (the URL
 * most likely points at something that is not Prometheus) rather than skipped.
 */
import { redact } from "../log.ts";
import { blocked, CLEAR, type GateResult, listNames } from "./gate.ts";

export interface PrometheusOptions {
  /** Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090 (a path prefix is kept). */
  url: string;
  /** kured's `--alert-filter-regexp`: by default matching alerts are ignored; undefined = all alerts count. */
  alertFilterRegexp?: RegExp | undefined;
  /** kured's `--alert-filter-match-only`: only alerts matching the regexp count. */
  alertFilterMatchOnly: boolean;
  /** kured's `--alert-firing-only`: pending alerts are ignored. */
  alertFiringOnly: boolean;
  /** Deadline for the whole query, both attempts included. */
  timeoutMs: number;
  /** Aborts the query (shutdown). */
  signal?: AbortSignal;
  /** Evaluation time of the instant query; defaults to now. */
  now?: () => Date;
}

export type AlertsResult = { ok: true; alerts: string[] } | { ok: false; error: string };

/** kured's `matchesRegex`: does an alert with this name count under the filter? */
export function alertCounts(name: string, filter: RegExp | undefined, matchOnly: boolean): boolean {
  // String.search ignores the `g`/`y` flags' lastIndex, so a shared RegExp stays stateless.
  return filter === undefined || (name.search(filter) !== -1) === matchOnly;
}

/** The sorted, de-duplicated names of the alerts that count, or what went wrong. */
export async function activeAlerts(opts: PrometheusOptions): Promise<AlertsResult> {
  let body: unknown;
  try {
    body = await queryAlerts(opts);
  } catch (e) {
    return { ok: false, error: describeFailure(e, opts) };
  }
  const samples = parseVector(body);
  if (typeof samples === "string") return { ok: false, error: samples };
  const names = new Set<string>();
  for (const s of samples) {
    if (s.value === 0) continue;
    if (!alertCounts(s.alertname, opts.alertFilterRegexp, opts.alertFilterMatchOnly)) continue;
    if (opts.alertFiringOnly && s.alertstate !== "firing") continue;
    names.add(s.alertname);
  }
  return { ok: true, alerts: [...names].sort() };
}

/** The alert gate: blocked while any counted alert is active, or when Prometheus cannot be asked. */
export async function checkPrometheus(opts: PrometheusOptions): Promise<GateResult> {
  const r = await activeAlerts(opts);
  if (!r.ok) {
    return blocked(
      "alert",
      `cannot query Prometheus at ${redact(opts.url)}, so reboots are blocked to be safe: ${r.error}`,
    );
  }
  if (r.alerts.length === 0) return CLEAR;
  const n = r.alerts.length;
  return blocked("alert", `${n} active Prometheus alert${n === 1 ? "" : "s"}: ${listNames(r.alerts)}`);
}

class HttpError extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`HTTP ${status}`);
  }
}

async function queryAlerts(opts: PrometheusOptions): Promise<unknown> {
  const endpoint = new URL(opts.url);
  endpoint.pathname = `${endpoint.pathname.replace(/\/+$/, "")}/api/v1/query`;
  const params = new URLSearchParams({ query: "ALERTS", time: goUnixSeconds(opts.now?.() ?? new Date()) });
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;

  let res = await fetch(endpoint, {
    method: "POST",
    body: params,
    headers: { accept: "application/json" },
    signal,
  });
  if (res.status === 405 || res.status === 501) {
    await res.body?.cancel();
    const get = new URL(endpoint);
    get.search = params.toString();
    res = await fetch(get, { headers: { accept: "application/json" }, signal });
  }
  const text = await res.text();
  if (!res.ok) throw new HttpError(res.status, text);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`the answer is not JSON: ${snippet(text)}`);
  }
}

function describeFailure(e: unknown, opts: PrometheusOptions): string {
  if (e instanceof HttpError) {
    const api = apiErrorOf(tryJson(e.body));
    return api ? `HTTP ${e.status} (${api})` : `HTTP ${e.status}: ${snippet(e.body)}`;
  }
  if (e instanceof DOMException && e.name === "TimeoutError") return `no answer within ${opts.timeoutMs} ms`;
  if (e instanceof DOMException && e.name === "AbortError") return "the query was aborted";
  return redact(errorChain(e));
}

/** "fetch failed: error sending request ...: Connection refused" — fetch hides the useful part in `cause`. */
function errorChain(e: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = e, depth = 0; cur !== undefined && depth < 5; depth++) {
    const msg = cur instanceof Error ? cur.message : String(cur);
    if (msg && !parts.some((p) => p.includes(msg))) parts.push(msg);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join(": ");
}

interface Sample {
  alertname: string;
  alertstate: string | undefined;
  value: number;
}

/** Checks a `/api/v1/query` answer by hand; returns the samples, or a string saying what is wrong. */
function parseVector(body: unknown): Sample[] | string {
  if (!isRecord(body)) return `the answer is not a JSON object: ${snippet(JSON.stringify(body))}`;
  if (body.status !== "success") {
    const api = apiErrorOf(body);
    return api ? `the query failed (${api})` : `unexpected status ${JSON.stringify(body.status)}`;
  }
  const data = body.data;
  if (!isRecord(data)) return "the answer has no data object";
  if (data.resultType !== "vector") {
    return `expected a vector result, got ${JSON.stringify(data.resultType)}`;
  }
  if (!Array.isArray(data.result)) return "the vector result is not an array";
  const samples: Sample[] = [];
  for (const [i, raw] of data.result.entries()) {
    const bad = (what: string) => `sample ${i} of the vector ${what}: ${snippet(JSON.stringify(raw))}`;
    if (!isRecord(raw) || !isRecord(raw.metric)) return bad("has no metric labels");
    const { alertname, alertstate } = raw.metric;
    if (typeof alertname !== "string" || alertname === "") return bad("has no alertname label");
    if (alertstate !== undefined && typeof alertstate !== "string") return bad("has a non-string alertstate");
    const value = raw.value;
    if (!Array.isArray(value) || value.length !== 2 || typeof value[1] !== "string") {
      return bad("has no [time, value] pair");
    }
    const n = promValue(value[1]);
    if (n === undefined) return bad("has an unparsable value");
    samples.push({ alertname, alertstate, value: n });
  }
  return samples;
}

/** Prometheus sample values are strings; NaN and ±Inf are valid and not 0. */
function promValue(s: string): number | undefined {
  if (/^[+-]?inf$/i.test(s)) return s.startsWith("-") ? -Infinity : Infinity;
  if (/^nan$/i.test(s)) return NaN;
  if (s.trim() === "") return undefined;
  const n = Number(s);
  return Number.isNaN(n) ? undefined : n;
}

function apiErrorOf(body: unknown): string | undefined {
  if (!isRecord(body) || body.status !== "error") return undefined;
  const type = typeof body.errorType === "string" ? body.errorType : "error";
  const msg = typeof body.error === "string" ? body.error : "";
  return `${type}: ${msg}`;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function snippet(text: string | undefined, max = 200): string {
  const t = (text ?? "").trim().replace(/\s+/g, " ");
  return t.length > max ? `${t.slice(0, max)}...` : t === "" ? "(empty)" : t;
}

/** client_golang's `formatTime`: Unix seconds as a decimal with the fraction it has. */
function goUnixSeconds(d: Date): string {
  return String(d.getTime() / 1000);
}
