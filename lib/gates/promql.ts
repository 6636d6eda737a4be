/**
 * One PromQL instant query against the Prometheus HTTP API, as client_golang asks it: `/api/v1/query` as a
 * POST form with a GET fallback on 405/501, evaluated at `time` = now
 * (https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries). The answer must be a
 * vector; each sample comes back as its label set and value. Anything else is an error line, never a
 * partial result, because the gates built on it block when they cannot tell.
 */
import { apiEndpoint, isRecord, requestJson, snippet } from "./http_json.ts";

export interface PrometheusTarget {
  /** Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090 (a path prefix is kept). */
  url: string;
  /** Deadline for the whole query, both attempts included. */
  timeoutMs: number;
  /** Aborts the query (shutdown). */
  signal?: AbortSignal | undefined;
  /** Evaluation time of the instant query; defaults to now. */
  now?: () => Date;
}

/** One sample of an instant vector. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export type VectorResult = { ok: true; samples: Sample[] } | { ok: false; error: string };

/** Runs `query` at now and returns the vector's samples, or what went wrong in one line. */
export async function instantQuery(target: PrometheusTarget, query: string): Promise<VectorResult> {
  const endpoint = apiEndpoint(target.url, "/api/v1/query");
  const params = new URLSearchParams({ query, time: goUnixSeconds(target.now?.() ?? new Date()) });
  const headers = { accept: "application/json" };
  const answer = await requestJson(async (signal) => {
    const res = await fetch(endpoint, { method: "POST", body: params, headers, signal });
    if (res.status !== 405 && res.status !== 501) return res;
    await res.body?.cancel();
    const get = new URL(endpoint);
    get.search = params.toString();
    return await fetch(get, { headers, signal });
  }, { timeoutMs: target.timeoutMs, signal: target.signal, apiError: apiErrorOf });
  if (!answer.ok) return answer;
  const samples = parseVector(answer.body);
  return typeof samples === "string" ? { ok: false, error: samples } : { ok: true, samples };
}

/** A sample's labels as Prometheus prints them: `name{a="x", b="y"}`, or `{a="x"}` without a name. */
export function formatLabels(labels: Record<string, string>): string {
  const { __name__: name, ...rest } = labels;
  const pairs = Object.keys(rest).sort().map((k) => `${k}=${JSON.stringify(rest[k])}`);
  return `${name ?? ""}{${pairs.join(", ")}}`;
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
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw.metric)) {
      if (typeof v !== "string") return bad(`has a non-string ${k} label`);
      labels[k] = v;
    }
    const value = raw.value;
    if (!Array.isArray(value) || value.length !== 2 || typeof value[1] !== "string") {
      return bad("has no [time, value] pair");
    }
    const n = promValue(value[1]);
    if (n === undefined) return bad("has an unparsable value");
    samples.push({ labels, value: n });
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

/** The error of a Prometheus `{"status":"error","errorType":…,"error":…}` body. */
function apiErrorOf(body: unknown): string | undefined {
  if (!isRecord(body) || body.status !== "error") return undefined;
  const type = typeof body.errorType === "string" ? body.errorType : "error";
  const msg = typeof body.error === "string" ? body.error : "";
  return `${type}: ${msg}`;
}

/** client_golang's `formatTime`: Unix seconds as a decimal with the fraction it has. */
function goUnixSeconds(d: Date): string {
  return String(d.getTime() / 1000);
}
