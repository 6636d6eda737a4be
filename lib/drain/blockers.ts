/**
 * Why a pod stops a drain, from the apiserver's answer to its Eviction (lib/drain/answer.ts sorts the same
 * answers into what the drain does next): a PodDisruptionBudget (named, with its allowed disruptions and
 * healthy/desired counts from the PDB object itself), an admission webhook's or ValidatingAdmissionPolicy's
 * denial (its message kept: the Strimzi drain cleaner, for one, explains itself there), a terminating
 * namespace, or anything else. And the one-line texts for the node condition, the `DrainBlocked` Event and
 * `kreboot status`, with the per-reason counts for `kreboot_drain_blocked_pods{reason}`.
 */
import { apiStatus, apiStatusBody, describeApiError } from "../kube/mod.ts";
import { admissionDenier, statusDetails } from "./answer.ts";
import { type Pdb, pdbName, pdbsCovering } from "./pdb.ts";
import type { Pod } from "./pods.ts";

/** The Event reason (and condition wording) for a drain that pods hold up. */
export const DRAIN_BLOCKED_REASON = "DrainBlocked";
/** The Event reason for a pod deleted instead of evicted (`--drain-disable-eviction-after`). */
export const EVICTION_BYPASSED_REASON = "EvictionBypassed";

/** The closed set of `reason` label values of `kreboot_drain_blocked_pods`. */
export const BLOCKER_KINDS = ["pdb", "admission", "namespace-terminating", "other"] as const;
export type BlockerKind = (typeof BLOCKER_KINDS)[number];

/** A PodDisruptionBudget as its status stood when the eviction was refused. */
export interface PdbState {
  /** namespace/name */
  name: string;
  allowed: number;
  healthy: number;
  desired: number;
  /** The status does not reflect the latest spec yet (observedGeneration < generation). */
  stale: boolean;
}

export type DrainBlocker =
  | { kind: "pdb"; pod: string; pdbs: PdbState[] }
  | { kind: "admission"; pod: string; by: string; status: number | undefined; message: string }
  | { kind: "namespace-terminating"; pod: string; namespace: string }
  | { kind: "other"; pod: string; message: string };

// The eviction handler's cause messages, which name the PDB (k8s.io/kubernetes
// pkg/registry/core/pod/storage/eviction.go), for when the PDB object could not be read.
const BUDGET_CAUSE = /The disruption budget (\S+) needs (\d+) healthy pods and has (\d+) currently/;
const STALE_CAUSE = /The disruption budget (\S+) is still being processed/;

/** The state of a PDB object, as a blocker reports it. */
export function pdbState(pdb: Pdb): PdbState {
  const status = pdb.status;
  return {
    name: pdbName(pdb),
    allowed: status?.disruptionsAllowed ?? 0,
    healthy: status?.currentHealthy ?? 0,
    desired: status?.desiredHealthy ?? 0,
    stale: (status?.observedGeneration ?? 0) < (pdb.metadata?.generation ?? 0),
  };
}

/**
 * Why the eviction of `pod` was refused with `error`. `pdbs` are the PDBs of the pod's namespace as freshly
 * read (the covering ones are picked here); without them a PDB refusal is still named from the cause message.
 */
export function classifyBlocker(pod: Pod, error: unknown, pdbs: readonly Pdb[]): DrainBlocker {
  const key = `${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""}`;
  const status = apiStatus(error);
  const body = apiStatusBody(error);
  const causes = statusDetails(error).causes ?? [];
  const by = admissionDenier(body.message);
  if (by !== undefined) return { kind: "admission", pod: key, by, status, message: body.message ?? "" };
  if (status === 403 && causes.some((c) => c.reason === "NamespaceTerminating")) {
    return { kind: "namespace-terminating", pod: key, namespace: pod.metadata?.namespace ?? "" };
  }
  const covering = pdbsCovering(pod, pdbs);
  const pdbRefusal = status === 429 && causes.some((c) => c.reason === "DisruptionBudget");
  const multiplePdbs = status === 500 && /more than one PodDisruptionBudget/i.test(body.message ?? "");
  if ((pdbRefusal || multiplePdbs) && covering.length > 0) {
    return { kind: "pdb", pod: key, pdbs: covering.map(pdbState) };
  }
  if (pdbRefusal) {
    const ns = pod.metadata?.namespace ?? "";
    for (const c of causes) {
      const m = BUDGET_CAUSE.exec(c.message ?? "");
      if (m) {
        const pdb = { name: `${ns}/${m[1]}`, allowed: 0, healthy: Number(m[3]), desired: Number(m[2]) };
        return { kind: "pdb", pod: key, pdbs: [{ ...pdb, stale: false }] };
      }
      const stale = STALE_CAUSE.exec(c.message ?? "");
      if (stale) {
        const pdb = { name: `${ns}/${stale[1]}`, allowed: 0, healthy: 0, desired: 0, stale: true };
        return { kind: "pdb", pod: key, pdbs: [pdb] };
      }
    }
    // A PDB refused it, but neither the objects nor the wording say which: still a PDB, unnamed.
    return { kind: "pdb", pod: key, pdbs: [] };
  }
  return { kind: "other", pod: key, message: describeApiError(error) };
}

/** One blocker in words, e.g. `pod shop/web-1: PodDisruptionBudget shop/web allows 0 disruptions (2 healthy, 2 desired)`. */
export function describeBlocker(b: DrainBlocker): string {
  switch (b.kind) {
    case "pdb": {
      if (b.pdbs.length > 1) {
        return `pod ${b.pod} is covered by ${b.pdbs.length} PodDisruptionBudgets (${
          b.pdbs.map((p) => p.name).join(", ")
        }), which the eviction API refuses; merge them`;
      }
      const p = b.pdbs[0];
      if (p === undefined) return `pod ${b.pod}: a PodDisruptionBudget allows no disruption now`;
      if (p.stale) {
        return `pod ${b.pod}: PodDisruptionBudget ${p.name} has not caught up with its latest spec`;
      }
      return `pod ${b.pod}: PodDisruptionBudget ${p.name} allows ${p.allowed} disruption${
        p.allowed === 1 ? "" : "s"
      } (${p.healthy} healthy, ${p.desired} desired)`;
    }
    case "admission":
      return `pod ${b.pod}: eviction denied by ${b.by}${b.status ? ` (HTTP ${b.status})` : ""}: ${
        denialText(b.message)
      }`;
    case "namespace-terminating":
      return `pod ${b.pod}: namespace ${b.namespace} is terminating`;
    case "other":
      return `pod ${b.pod}: ${b.message}`;
  }
}

/** The denier's own explanation: the part after "denied the request:" / "denied request:", else all of it. */
function denialText(message: string): string {
  const m = /denied (?:the )?request:\s*(.*)$/s.exec(message);
  return oneLine(m?.[1] || message);
}

/**
 * The node condition / Event / status text for a drain held up by `blockers`: every pod with its cause, in a
 * bounded line (a condition message is read by humans, and the Node object must stay small).
 */
export function drainBlockedMessage(blockers: readonly DrainBlocker[], maxChars = 1_024): string {
  const n = blockers.length;
  let out = `drain blocked by ${n} pod${n === 1 ? "" : "s"}: `;
  for (const [i, b] of blockers.entries()) {
    const sep = i === 0 ? "" : "; ";
    const part = describeBlocker(b);
    const more = (left: number) => (left > 0 ? `; and ${left} more` : "");
    if (out.length + sep.length + part.length + more(n - i - 1).length <= maxChars) {
      out += sep + part;
      continue;
    }
    if (i > 0) return out + more(n - i);
    // Not even the first cause fits: cut it, so the message still says what blocks.
    const room = maxChars - out.length - more(n - 1).length - 3;
    return `${out}${part.slice(0, Math.max(0, room))}...${more(n - 1)}`;
  }
  return out;
}

/** Blocked pods per reason, every reason present (a gauge per label value must be set back to 0). */
export function blockedPodCounts(blockers: readonly DrainBlocker[]): Record<BlockerKind, number> {
  const counts = Object.fromEntries(BLOCKER_KINDS.map((k) => [k, 0])) as Record<BlockerKind, number>;
  for (const b of blockers) counts[b.kind]++;
  return counts;
}

function oneLine(s: string, max = 300): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max)}...` : t;
}
