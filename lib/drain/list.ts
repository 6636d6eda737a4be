/** Reading the pods of a node and the PDBs of the cluster, paged, as the drain and its pre-flight need them. */
import type * as k8s from "@kubernetes/client-node";
import type { Kube } from "../kube/mod.ts";
import { pdbName, pdbsCovering } from "./pdb.ts";

const PAGE = 500;

/** All pods bound to `node` (optionally only those matching `labelSelector`), across namespaces. */
export async function listNodePods(
  kube: Pick<Kube, "core">,
  node: string,
  labelSelector = "",
): Promise<k8s.V1Pod[]> {
  const out: k8s.V1Pod[] = [];
  let cont: string | undefined;
  do {
    const page = await kube.core.listPodForAllNamespaces({
      fieldSelector: `spec.nodeName=${node}`,
      ...(labelSelector ? { labelSelector } : {}),
      limit: PAGE,
      ...(cont ? { _continue: cont } : {}),
    });
    out.push(...page.items);
    cont = page.metadata?._continue || undefined;
  } while (cont);
  return out;
}

/** The PDBs of the given namespaces (one cluster-wide list; drains rarely span few enough to justify more). */
export async function listPdbs(
  kube: Pick<Kube, "policy">,
  namespaces: ReadonlySet<string>,
): Promise<k8s.V1PodDisruptionBudget[]> {
  if (namespaces.size === 0) return [];
  const out: k8s.V1PodDisruptionBudget[] = [];
  let cont: string | undefined;
  do {
    const page = await kube.policy.listPodDisruptionBudgetForAllNamespaces({
      limit: PAGE,
      ...(cont ? { _continue: cont } : {}),
    });
    out.push(...page.items.filter((p) => namespaces.has(p.metadata?.namespace ?? "")));
    cont = page.metadata?._continue || undefined;
  } while (cont);
  return out;
}

/**
 * Why the eviction API refused pod `namespace/name` for being under more than one PDB, naming them (read now);
 * `message` is the refusal, said as is when the PDBs cannot be read.
 */
export async function explainMultiplePdbs(
  kube: Pick<Kube, "core" | "policy">,
  namespace: string,
  name: string,
  message: string,
): Promise<string> {
  try {
    const pod = await kube.core.readNamespacedPod({ namespace, name });
    const pdbs = pdbsCovering(pod, await listPdbs(kube, new Set([namespace])));
    return `it is covered by more than one PodDisruptionBudget (${
      pdbs.map(pdbName).join(", ") || "unknown"
    }), which the eviction API does not support; make exactly one PDB select it`;
  } catch {
    return `it is covered by more than one PodDisruptionBudget, which the eviction API does not support (${message})`;
  }
}
