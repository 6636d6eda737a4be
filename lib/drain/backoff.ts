/**
 * How long to wait before asking the apiserver again to evict a pod it refused with 429 Too Many Requests.
 * kubectl ≥ 1.35 leaves this delay to the caller (0 unless set) and kured never sets it, so kured hot-loops
 * against a blocking PDB; kreboot honours the server's hint and never retries sooner than the floor.
 */

/** The shortest wait between two eviction attempts of the same pod. */
export const MIN_EVICTION_RETRY_MS = 5_000;

/**
 * The delay in ms: the larger of the `Retry-After` header, the Status body's `details.retryAfterSeconds` and
 * `minMs`. Absent, negative or non-finite hints are ignored.
 */
export function evictionRetryDelayMs(
  hints: { retryAfterHeader?: number | undefined; retryAfterBody?: number | undefined },
  minMs: number = MIN_EVICTION_RETRY_MS,
): number {
  const secs = [hints.retryAfterHeader, hints.retryAfterBody].filter((s): s is number =>
    typeof s === "number" && Number.isFinite(s) && s > 0
  );
  return Math.max(minMs, ...secs.map((s) => s * 1000));
}

/** The longest wait between two asks of a pod whose eviction an admission webhook or policy keeps denying. */
export const MAX_ADMISSION_RETRY_MS = 60_000;

/**
 * The wait before asking again after the `denials`-th admission denial of the same pod: the floor, doubled
 * with each denial up to MAX_ADMISSION_RETRY_MS. A webhook that denies on purpose (a drain cleaner moving the
 * pod itself, kured#1269) is asked soon at first, then without hammering it for the rest of the drain.
 */
export function admissionRetryDelayMs(denials: number, minMs: number = MIN_EVICTION_RETRY_MS): number {
  const n = Math.max(1, Math.floor(denials));
  return Math.max(minMs, Math.min(MAX_ADMISSION_RETRY_MS, minMs * 2 ** Math.min(n - 1, 20)));
}
