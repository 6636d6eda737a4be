/**
 * The apiserver's answers to an Eviction, sorted into what the drain does next: 2xx accepted (the pod is now
 * terminating), 404 already gone, 429 try again later (a PDB allows no disruption now, or its status is still
 * being processed), 403 NamespaceTerminating wait and retry, an admission webhook's or policy's denial retry
 * (https://github.com/kubereboot/kured/issues/1269: a drain cleaner denies on purpose and moves the pod
 * itself), an unreachable or overloaded apiserver retry too, and everything else — a pod under several PDBs
 * (500), a negative budget (403) — fails the drain for a human. lib/drain/blockers.ts says why in words.
 * See https://kubernetes.io/docs/concepts/scheduling-eviction/api-eviction/.
 */
import { apiStatus, apiStatusBody, describeApiError, retryAfterSeconds } from "../kube/mod.ts";
import { evictionRetryDelayMs } from "./backoff.ts";

export type EvictionAnswer =
  | { kind: "gone" }
  | { kind: "retry"; delayMs: number; why: string }
  | { kind: "namespace-terminating"; delayMs: number }
  | { kind: "fatal"; status: number | undefined; message: string; multiplePdbs: boolean };

export interface StatusDetails {
  retryAfterSeconds?: number;
  causes?: { reason?: string; message?: string }[];
}

/** The `details` of a failed call's Status body ({} when absent). */
export function statusDetails(e: unknown): StatusDetails {
  const d = apiStatusBody(e).details;
  return typeof d === "object" && d !== null ? d as StatusDetails : {};
}

// The apiserver's wording: k8s.io/apiserver/pkg/admission/plugin/webhook/errors (webhooks) and
// k8s.io/apiserver/pkg/admission/plugin/policy/validating (ValidatingAdmissionPolicy).
const WEBHOOK_DENIAL = /admission webhook "([^"]+)" denied the request/;
const POLICY_DENIAL = /ValidatingAdmissionPolicy '([^']+)'(?: with binding '[^']+')? denied request/;

/**
 * Who denied an admission, if the message is an admission denial: `admission webhook "name"` or
 * `ValidatingAdmissionPolicy "name"`. Such a refusal is a decision someone made on purpose and may change,
 * so the drain asks again later instead of failing.
 */
export function admissionDenier(message: string | undefined): string | undefined {
  const webhook = WEBHOOK_DENIAL.exec(message ?? "");
  if (webhook) return `admission webhook "${webhook[1]}"`;
  const policy = POLICY_DENIAL.exec(message ?? "");
  return policy ? `ValidatingAdmissionPolicy "${policy[1]}"` : undefined;
}

/** Classifies a failed eviction call; `minRetryMs` is the floor for waits before retrying. */
export function classifyEvictionError(e: unknown, minRetryMs?: number): EvictionAnswer {
  const status = apiStatus(e);
  const body = apiStatusBody(e);
  const d = statusDetails(e);
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
  if (admissionDenier(body.message) !== undefined) {
    return { kind: "retry", delayMs: evictionRetryDelayMs({}, minRetryMs), why: message };
  }
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
