/**
 * One JSON request to a monitoring API (Prometheus, Alertmanager) under a deadline, with every way it can go
 * wrong turned into one line: refused connection, timeout, abort, an HTTP error (with the API's own error
 * text when the body carries one), or a body that is not JSON. The gates built on it block on any of these
 * (fail safe), so the line is what the operator reads in the Node condition and `kreboot status`.
 */
import { redact } from "../log.ts";

export type JsonAnswer = { ok: true; body: unknown } | { ok: false; error: string };

export interface JsonRequestOptions {
  /** Deadline for the whole exchange, every attempt `send` makes included. */
  timeoutMs: number;
  /** Aborts the request (shutdown). */
  signal?: AbortSignal | undefined;
  /** The API's own error text in a failed answer's decoded body, if it has one (e.g. Prometheus's errorType). */
  apiError?: (body: unknown) => string | undefined;
}

/**
 * Runs `send` (one fetch, or several for a fallback) with a signal that fires at the deadline or on abort,
 * and decodes the final answer as JSON.
 */
export async function requestJson(
  send: (signal: AbortSignal) => Promise<Response>,
  opts: JsonRequestOptions,
): Promise<JsonAnswer> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  let res: Response;
  let text: string;
  try {
    res = await send(signal);
    text = await res.text();
  } catch (e) {
    return { ok: false, error: describeFetchFailure(e, opts.timeoutMs) };
  }
  if (!res.ok) {
    const api = opts.apiError?.(tryJson(text));
    return { ok: false, error: api ? `HTTP ${res.status} (${api})` : `HTTP ${res.status}: ${snippet(text)}` };
  }
  const body = tryJson(text);
  return body === undefined
    ? { ok: false, error: `the answer is not JSON: ${snippet(text)}` }
    : { ok: true, body };
}

function describeFetchFailure(e: unknown, timeoutMs: number): string {
  if (e instanceof DOMException && e.name === "TimeoutError") return `no answer within ${timeoutMs} ms`;
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

/** `base` with `path` appended to its own path, so an API behind a path prefix (a proxy) keeps it. */
export function apiEndpoint(base: string, path: string): URL {
  const endpoint = new URL(base);
  endpoint.pathname = `${endpoint.pathname.replace(/\/+$/, "")}${path}`;
  return endpoint;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A piece of an answer fit for a one-line message. */
export function snippet(text: string | undefined, max = 200): string {
  const t = (text ?? "").trim().replace(/\s+/g, " ");
  return t.length > max ? `${t.slice(0, max)}...` : t === "" ? "(empty)" : t;
}
