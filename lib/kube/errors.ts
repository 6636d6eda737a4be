/**
 * Failed API calls, decoded in one place. The transport throws an `ApiError` for every non-2xx answer (with the
 * apiserver's `Status` body and the response headers) and a `TransportError` when no answer came (TLS, DNS,
 * connection refused, timeout). The decoders below also read `@kubernetes/client-node`'s `ApiException`, which
 * has the same `code`/`body`/`headers` shape, so the test harness's full client is classified the same way.
 */

/** A non-2xx answer from the apiserver. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    /** The HTTP status. */
    readonly code: number,
    /** The raw response body: usually a JSON `Status`. */
    readonly body: string,
    /** Response headers, lower-case names. */
    readonly headers: Record<string, string>,
    /** What was asked, e.g. `PATCH /api/v1/nodes/n1`. */
    readonly request: string,
  ) {
    super(`${request}: HTTP ${code}${summary(body)}`);
  }
}

/** No answer: the request never reached the apiserver or the connection broke. Names the server. */
export class TransportError extends Error {
  override readonly name = "TransportError";
  constructor(request: string, server: string, cause: unknown) {
    super(`${request} on ${server}: ${causeMessage(cause)}`, { cause });
  }
}

function causeMessage(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  // Deno's fetch nests the useful part ("invalid peer certificate: UnknownIssuer") in the cause chain.
  const inner = e.cause instanceof Error && !e.message.includes(e.cause.message)
    ? `: ${e.cause.message}`
    : "";
  return `${e.message}${inner}`;
}

function summary(body: string): string {
  const s = decodeStatus(body);
  return s.message ? ` ${s.reason ?? ""}: ${s.message}`.replace(/^ : /, ": ") : "";
}

export interface StatusBody {
  reason?: string;
  message?: string;
  details?: unknown;
  code?: number;
}

function decodeStatus(body: unknown): StatusBody {
  if (typeof body === "object" && body !== null) return body as StatusBody;
  if (typeof body !== "string" || body === "") return {};
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === "object" && parsed !== null ? parsed as StatusBody : { message: body };
  } catch {
    return { message: body };
  }
}

function hasCode(e: unknown): e is { code: number; body?: unknown; headers?: unknown } {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "number";
}

/** The HTTP status of a failed API call, or undefined for transport errors. */
export function apiStatus(e: unknown): number | undefined {
  return hasCode(e) ? e.code : undefined;
}

/** The decoded `Status` body of a failed API call. */
export function apiStatusBody(e: unknown): StatusBody {
  return hasCode(e) ? decodeStatus(e.body) : {};
}

export function isConflict(e: unknown): boolean {
  return apiStatus(e) === 409;
}
export function isNotFound(e: unknown): boolean {
  return apiStatus(e) === 404;
}

/** Seconds from a `Retry-After` header of a failed call, if any. */
export function retryAfterSeconds(e: unknown): number | undefined {
  if (!hasCode(e) || typeof e.headers !== "object" || e.headers === null) return undefined;
  const headers = e.headers as Record<string, unknown>;
  const raw = headers["retry-after"] ?? headers["Retry-After"];
  const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** One line describing a failed API call, for logs and errors. */
export function describeApiError(e: unknown): string {
  const status = apiStatus(e);
  if (status !== undefined) {
    const body = apiStatusBody(e);
    return `HTTP ${status}${body.reason ? ` ${body.reason}` : ""}: ${body.message ?? String(e)}`;
  }
  return e instanceof Error ? e.message : String(e);
}
