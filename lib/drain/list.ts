/** Reading the pods of a node and the PDBs of the cluster, paged, as the drain and its pre-flight need them. */
import type * as k8s from "@kubernetes/client-node";
import type { Kube } from "../kube/mod.ts";

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
