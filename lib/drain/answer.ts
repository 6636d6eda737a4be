/**
 * The apiserver's answers to an Eviction, sorted into what the drain does next: 2xx accepted (the pod is now
 * terminating), 404 already gone, 429 try again later (a PDB allows no disruption now, or its status is still
 * being processed), 403 NamespaceTerminating wait and retry, and an unreachable or overloaded apiserver retry
 * too, and everything else — a pod under several PDBs (500), a negative budget (403) — fails the drain for a
 * human. See https://kubernetes.io/docs/concepts/scheduling-eviction/api-eviction/.
 */
import { apiStatus, apiStatusBody, describeApiError, retryAfterSeconds } from "../kube.ts";
import { evictionRetryDelayMs } from "./backoff.ts";

export type EvictionAnswer =
  | { kind: "gone" }
  | { kind: "retry"; delayMs: number; why: string }
  | { kind: "namespace-terminating"; delayMs: number }
  | { kind: "fatal"; status: number | undefined; message: string; multiplePdbs: boolean };

interface StatusDetails {
  retryAfterSeconds?: number;
  causes?: { reason?: string; message?: string }[];
}

function details(e: unknown): StatusDetails {
  const d = apiStatusBody(e).details;
  return typeof d === "object" && d !== null ? d as StatusDetails : {};
}

/** Classifies a failed eviction call; `minRetryMs` is the floor for waits before retrying. */
export function classifyEvictionError(e: unknown, minRetryMs?: number): EvictionAnswer {
  const status = apiStatus(e);
  const body = apiStatusBody(e);
  const d = details(e);
  const causes = d.causes ?? [];
  if (status === 404) return { kind: "gone" };
  if (status === 429) {
    const delayMs = evictionRetryDelayMs(
      { retryAfterHeader: retryAfterSeconds(e), retryAfterBody: d.retryAfterSeconds },
      minRetryMs,
    );
    // The cause names the PDB and its counts ("The disruption budget web needs 2 healthy pods and has 2 ...").
    const cause = causes.find((c) => c.reason === "DisruptionBudget")?.message;
    return { kind: "retry", delayMs, why: cause ?? body.message ?? "too many requests" };
  }
  if (status === 403 && causes.some((c) => c.reason === "NamespaceTerminating")) {
    return { kind: "namespace-terminating", delayMs: evictionRetryDelayMs({}, minRetryMs) };
  }
  const message = describeApiError(e);
  if (status === undefined || status === 503 || status === 504) {
    // The apiserver is unreachable or overloaded (restart, network): not the pod's fault, ask again later.
    return { kind: "retry", delayMs: evictionRetryDelayMs({}, minRetryMs), why: message };
  }
  return {
    kind: "fatal",
    status,
    message,
    multiplePdbs: status === 500 && /more than one PodDisruptionBudget/i.test(body.message ?? ""),
  };
}
