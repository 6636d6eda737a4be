import assert from "node:assert/strict";
import { ApiError } from "../../../lib/kube/mod.ts";
import {
  admissionRetryDelayMs,
  evictionRetryDelayMs,
  MAX_ADMISSION_RETRY_MS,
  MIN_EVICTION_RETRY_MS,
} from "../../../lib/drain/backoff.ts";
import { classifyEvictionError } from "../../../lib/drain/answer.ts";

const DELAY_TABLE: { name: string; header?: number; body?: number; min?: number; want: number }[] = [
  { name: "no hint: the 5 s floor", want: 5_000 },
  { name: "Retry-After 0 (PDB 429): the floor", header: 0, body: 0, want: 5_000 },
  { name: "Retry-After below the floor", header: 2, want: 5_000 },
  { name: "Retry-After above the floor", header: 30, want: 30_000 },
  { name: "body retryAfterSeconds 10 (PDB still processing)", body: 10, want: 10_000 },
  { name: "the larger of header and body", header: 12, body: 10, want: 12_000 },
  { name: "negative hint ignored", header: -3, want: 5_000 },
  { name: "NaN hint ignored", header: NaN, want: 5_000 },
  { name: "infinite hint ignored", header: Infinity, want: 5_000 },
  { name: "fractional seconds", header: 7.5, want: 7_500 },
  { name: "custom floor", header: 1, min: 100, want: 1_000 },
];

for (const row of DELAY_TABLE) {
  Deno.test(`evictionRetryDelayMs: ${row.name}`, () => {
    assert.equal(
      evictionRetryDelayMs({ retryAfterHeader: row.header, retryAfterBody: row.body }, row.min),
      row.want,
    );
  });
}

Deno.test("MIN_EVICTION_RETRY_MS is kubectl's 5 s", () => {
  assert.equal(MIN_EVICTION_RETRY_MS, 5_000);
});

function apiError(code: number, status: Record<string, unknown>, headers: Record<string, string> = {}) {
  return new ApiError(code, JSON.stringify({ kind: "Status", code, ...status }), headers, "POST eviction");
}

Deno.test("classifyEvictionError: 429 from a PDB retries after the floor, naming the budget", () => {
  const e = apiError(429, {
    reason: "TooManyRequests",
    message: "Cannot evict pod as it would violate the pod's disruption budget.",
    details: {
      causes: [{
        reason: "DisruptionBudget",
        message: "The disruption budget web needs 2 healthy pods and has 2 currently",
      }],
    },
  }, { "retry-after": "0" });
  assert.deepEqual(classifyEvictionError(e), {
    kind: "retry",
    delayMs: 5_000,
    why: "The disruption budget web needs 2 healthy pods and has 2 currently",
  });
});

Deno.test("classifyEvictionError: 429 honours Retry-After and the body's retryAfterSeconds", () => {
  const e = apiError(429, {
    message: "The disruption budget web is still being processed by the server.",
    details: { retryAfterSeconds: 10 },
  }, { "retry-after": "10" });
  const a = classifyEvictionError(e);
  assert.equal(a.kind, "retry");
  assert.equal(a.kind === "retry" && a.delayMs, 10_000);
  assert.equal(
    a.kind === "retry" && a.why,
    "The disruption budget web is still being processed by the server.",
  );
});

Deno.test("classifyEvictionError: 404 means gone", () => {
  assert.deepEqual(classifyEvictionError(apiError(404, { reason: "NotFound" })), { kind: "gone" });
});

Deno.test("classifyEvictionError: 403 NamespaceTerminating waits and retries", () => {
  const e = apiError(403, {
    reason: "Forbidden",
    details: { causes: [{ reason: "NamespaceTerminating", message: "namespace x is being terminated" }] },
  });
  assert.deepEqual(classifyEvictionError(e), { kind: "namespace-terminating", delayMs: 5_000 });
});

Deno.test("classifyEvictionError: other 403 (negative budget, RBAC) is fatal", () => {
  const a = classifyEvictionError(
    apiError(403, { reason: "Forbidden", message: "pdb disruptions allowed is negative" }),
  );
  assert.equal(a.kind, "fatal");
  assert.equal(a.kind === "fatal" && a.multiplePdbs, false);
  assert.match(
    a.kind === "fatal" ? a.message : "",
    /HTTP 403 Forbidden: pdb disruptions allowed is negative/,
  );
});

Deno.test("classifyEvictionError: 500 for several PDBs is fatal and flagged", () => {
  const a = classifyEvictionError(apiError(500, {
    message:
      "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
  }));
  assert.equal(a.kind, "fatal");
  assert.equal(a.kind === "fatal" && a.multiplePdbs, true);
  assert.equal(a.kind === "fatal" && a.status, 500);
});

Deno.test("classifyEvictionError: an unreachable or overloaded apiserver is retried", () => {
  assert.equal(classifyEvictionError(new TypeError("connection refused")).kind, "retry");
  assert.equal(classifyEvictionError(apiError(503, { message: "unavailable" })).kind, "retry");
  assert.equal(classifyEvictionError(apiError(504, { message: "timeout" })).kind, "retry");
});

Deno.test("classifyEvictionError: a custom floor applies to 429 and namespace termination", () => {
  const a = classifyEvictionError(apiError(429, {}), 250);
  assert.equal(a.kind === "retry" && a.delayMs, 250);
});

Deno.test("admissionRetryDelayMs: the floor, doubled per denial of the same pod, capped at a minute", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 50].map((n) => admissionRetryDelayMs(n)),
    [5_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000],
  );
  assert.equal(admissionRetryDelayMs(0), 5_000, "no denial yet counts as the first");
  assert.equal(admissionRetryDelayMs(3, 100), 400, "a custom floor doubles the same way");
  assert.equal(MAX_ADMISSION_RETRY_MS, 60_000);
});
