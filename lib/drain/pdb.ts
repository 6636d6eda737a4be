/**
 * What the apiserver's eviction handler will say about a pod, predicted from the PodDisruptionBudgets that
 * cover it: pods that are not Running, or already terminating, are deleted without a PDB check; more than one
 * covering PDB is a hard 500; a PDB whose status lags its spec, or that allows no disruption, answers 429 —
 * except for an unready pod while the budget is met (or with `AlwaysAllow`). The handler:
 * https://github.com/kubernetes/kubernetes/blob/master/pkg/registry/core/pod/storage/eviction.go
 * and https://kubernetes.io/docs/concepts/scheduling-eviction/api-eviction/.
 */
import type * as k8s from "@kubernetes/client-node";
import { deletionTime, type Pod } from "./pods.ts";
import { labelSelectorMatches } from "./selector.ts";

export type Pdb = k8s.V1PodDisruptionBudget;

/** The PDBs in the pod's namespace whose selector matches the pod. */
export function pdbsCovering(pod: Pod, pdbs: readonly Pdb[]): Pdb[] {
  const ns = pod.metadata?.namespace;
  return pdbs.filter((pdb) =>
    pdb.metadata?.namespace === ns && labelSelectorMatches(pdb.spec?.selector, pod.metadata?.labels)
  );
}

export function pdbName(pdb: Pdb): string {
  return `${pdb.metadata?.namespace ?? ""}/${pdb.metadata?.name ?? ""}`;
}

/** Whether the eviction handler consults PDBs for this pod at all. */
function evictionChecksPdbs(pod: Pod): boolean {
  return pod.status?.phase === "Running" && deletionTime(pod) === undefined;
}

function isReady(pod: Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

/**
 * Why evicting `pod` now would be refused, or undefined if the eviction would be accepted. `covering` are the
 * PDBs that match the pod (see `pdbsCovering`).
 */
export function evictionRefusal(pod: Pod, covering: readonly Pdb[]): string | undefined {
  if (!evictionChecksPdbs(pod) || covering.length === 0) return undefined;
  if (covering.length > 1) {
    return `is covered by ${covering.length} PodDisruptionBudgets (${
      covering.map(pdbName).join(", ")
    }), which the eviction API refuses outright; merge or fix them`;
  }
  const pdb = covering[0] as Pdb;
  const name = pdbName(pdb);
  const status = pdb.status;
  const generation = pdb.metadata?.generation ?? 0;
  if ((status?.observedGeneration ?? 0) < generation) {
    return `is covered by PodDisruptionBudget ${name}, whose status is not yet updated for its latest spec ` +
      `(observedGeneration ${status?.observedGeneration ?? "unset"} < generation ${generation})`;
  }
  const allowed = status?.disruptionsAllowed ?? 0;
  if (allowed >= 1) return undefined;
  if (!isReady(pod)) {
    // An unready pod does not count as healthy, so evicting it does not lower the healthy count.
    if (pdb.spec?.unhealthyPodEvictionPolicy === "AlwaysAllow") return undefined;
    const desired = status?.desiredHealthy ?? 0;
    if (desired > 0 && (status?.currentHealthy ?? 0) >= desired) return undefined;
  }
  return `is covered by PodDisruptionBudget ${name}, which allows ${allowed} disruption${
    allowed === 1 ? "" : "s"
  } now (${status?.currentHealthy ?? 0} healthy, ${status?.desiredHealthy ?? 0} needed)`;
}
