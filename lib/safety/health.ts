/**
 * The post-reboot health gate's judgement (issue 16, item 1): after the boot ID confirmed the reboot, the node
 * keeps its slot until
 *   (a) it has been Ready without a break for `--post-reboot-ready-for`,
 *   (b) its DaemonSet pods are Ready, and
 *   (c) with `--wait-for-workloads`, every workload that lost a pod to this node's drain is whole again: the
 *       owning ReplicaSet/StatefulSet has its ready replicas back to its spec, and every PDB that covered an
 *       evicted pod has currentHealthy ≥ desiredHealthy (lib/safety/evicted.ts records which);
 * all of it bounded by `--recovery-timeout`, after which the reboot counts as failed (lib/safety/breaker.ts).
 *
 * Pure: the shell reads the Node, the pods on it and the recorded objects, and asks `judgeHealth`.
 */
import type * as k8s from "@kubernetes/client-node";
import { formatGoDuration } from "../config/duration.ts";
import { listNames } from "../gates/gate.ts";
import type { EvictedRecord, PdbRef, WorkloadRef } from "./evicted.ts";

/** The objects named in the evicted record, as just read; one that is absent was deleted. */
export interface WorkloadObjects {
  replicaSets: readonly k8s.V1ReplicaSet[];
  statefulSets: readonly k8s.V1StatefulSet[];
  pdbs: readonly k8s.V1PodDisruptionBudget[];
}

export interface HealthInputs {
  nowMs: number;
  /** When the new boot ID was seen. Readiness from before it (a kubelet that kept its condition) does not count. */
  rebootConfirmedAtMs: number;
  /** `--post-reboot-ready-for`; 0 = Ready once is enough. */
  readyForMs: number;
  /** `--recovery-timeout`, counted from `rebootConfirmedAtMs`. */
  recoveryTimeoutMs: number;
  node: k8s.V1Node;
  /** The pods on the node (every pod; the DaemonSet ones are picked here). */
  podsOnNode: readonly k8s.V1Pod[];
  /** With `--wait-for-workloads`: what was evicted and the objects it names; undefined = do not wait. */
  workloads?: { record: EvictedRecord; objects: WorkloadObjects } | undefined;
  /** What could not be read (e.g. "ReplicaSet shop/web: HTTP 403"): waited for, as its state is unknown. */
  unreadable?: readonly string[];
}

export type HealthVerdict =
  | { state: "healthy" }
  /** `waitingFor` in words; `retryAtMs` when only time is missing (the Ready streak), so no poll is wasted. */
  | { state: "waiting"; waitingFor: string[]; retryAtMs?: number }
  /**
   * The recovery timeout passed first: the reboot failed, `why` says what never came right, `nodeReady`
   * whether the node itself is Ready (the circuit breaker counts "did not come back Ready" apart).
   */
  | { state: "timed-out"; why: string; nodeReady: boolean };

export function judgeHealth(i: HealthInputs): HealthVerdict {
  const waiting: string[] = [];
  let retryAtMs: number | undefined;

  const since = readySinceMs(i.node);
  if (since === undefined) {
    waiting.push("the node to be Ready");
  } else if (i.readyForMs > 0) {
    // A kubelet that restarts fast keeps its old lastTransitionTime: Ready counts from the reboot at the earliest.
    const streakEndsMs = Math.max(since, i.rebootConfirmedAtMs) + i.readyForMs;
    if (i.nowMs < streakEndsMs) {
      const readyMs = Math.max(0, i.nowMs - Math.max(since, i.rebootConfirmedAtMs));
      waiting.push(
        `the node to be Ready without a break for ${formatGoDuration(i.readyForMs)} (Ready for ${
          formatGoDuration(Math.floor(readyMs / 1000) * 1000)
        })`,
      );
      // Back when the streak is complete, or at the timeout if that comes first.
      retryAtMs = Math.min(streakEndsMs, i.rebootConfirmedAtMs + i.recoveryTimeoutMs);
    }
  }

  const unready = unreadyDaemonPods(i.podsOnNode);
  if (unready.length > 0) waiting.push(`DaemonSet pods to be Ready: ${listNames(unready, 5)}`);

  if (i.workloads) waiting.push(...incompleteWorkloads(i.workloads.record, i.workloads.objects));
  for (const what of i.unreadable ?? []) waiting.push(`${what} to be readable`);

  if (waiting.length === 0) return { state: "healthy" };
  if (i.nowMs >= i.rebootConfirmedAtMs + i.recoveryTimeoutMs) {
    return {
      state: "timed-out",
      nodeReady: since !== undefined,
      why:
        `not healthy within --recovery-timeout (${
          formatGoDuration(i.recoveryTimeoutMs)
        }) after the reboot: ` +
        `still waiting for ${waiting.join("; ")}`,
    };
  }
  // Only the Ready streak is missing: come back when it is complete. Anything else needs polling.
  if (waiting.length === 1 && retryAtMs !== undefined) {
    return { state: "waiting", waitingFor: waiting, retryAtMs };
  }
  return { state: "waiting", waitingFor: waiting };
}

/** When the node's Ready condition last turned True, or undefined while it is not Ready. */
export function readySinceMs(node: k8s.V1Node): number | undefined {
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  if (ready?.status !== "True") return undefined;
  const t = ready.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : NaN;
  // No usable transition time: 0, so the streak counts from the reboot (the floor `judgeHealth` applies).
  return Number.isFinite(t) ? t : 0;
}

/**
 * The DaemonSet pods on the node (CNI, storage, monitoring agents) that are not Ready, as namespace/name.
 * Pods being deleted are left out: their replacement is what counts.
 */
export function unreadyDaemonPods(pods: readonly k8s.V1Pod[]): string[] {
  return pods
    .filter((p) => p.metadata?.ownerReferences?.some((o) => o.kind === "DaemonSet" && o.controller))
    .filter((p) => !p.metadata?.deletionTimestamp)
    .filter((p) => !p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
    .map((p) => `${p.metadata?.namespace ?? ""}/${p.metadata?.name ?? ""}`);
}

/** What is not whole again among the recorded workloads and PDBs; absent objects count as whole. */
export function incompleteWorkloads(record: EvictedRecord, objects: WorkloadObjects): string[] {
  const out: string[] = [];
  for (const ref of record.workloads) {
    const obj = find(ref.kind === "ReplicaSet" ? objects.replicaSets : objects.statefulSets, ref);
    if (!obj) continue;
    const desired = obj.spec?.replicas ?? 1;
    const ready = obj.status?.readyReplicas ?? 0;
    if (ready < desired) {
      out.push(`${ref.kind} ${ref.namespace}/${ref.name} to have ${desired} ready (has ${ready})`);
    }
  }
  for (const ref of record.pdbs) {
    const pdb = find(objects.pdbs, ref);
    if (!pdb) continue;
    const name = `PodDisruptionBudget ${ref.namespace}/${ref.name}`;
    const status = pdb.status;
    if ((status?.observedGeneration ?? 0) < (pdb.metadata?.generation ?? 0)) {
      out.push(`${name} to catch up with its latest spec`);
      continue;
    }
    const healthy = status?.currentHealthy ?? 0;
    const desired = status?.desiredHealthy ?? 0;
    if (healthy < desired) out.push(`${name} to have ${desired} healthy pods (has ${healthy})`);
  }
  return out;
}

function find<T extends { metadata?: k8s.V1ObjectMeta }>(
  items: readonly T[],
  ref: WorkloadRef | PdbRef,
): T | undefined {
  return items.find((o) => o.metadata?.namespace === ref.namespace && o.metadata?.name === ref.name);
}
