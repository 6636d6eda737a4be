/**
 * The blocking-pod gate (`--blocking-pod-selector`, repeatable), as kured does it
 * (https://github.com/kubereboot/kured/blob/1.23.0/pkg/blockers/kubernetespod.go): for each
 * label selector in turn (several selectors = OR), list the pods on this node whose phase is not Succeeded,
 * Failed or Unknown — Running and Pending ones block. The first selector with a match blocks; an API error
 * blocks too (fail safe). Per-node, at most 10 pods are listed per selector.
 */
import type { Kube } from "../kube/mod.ts";
import { describeApiError } from "../kube/mod.ts";
import { blocked, cannotCheck, CLEAR, type GateResult } from "./gate.ts";

const LIST_LIMIT = 10;
const NOT_BLOCKING_PHASES = new Set(["Succeeded", "Failed", "Unknown"]);

export async function checkBlockingPods(
  kube: Pick<Kube, "core">,
  node: string,
  selectors: readonly string[],
): Promise<GateResult> {
  const fieldSelector =
    `spec.nodeName=${node},status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown`;
  for (const labelSelector of selectors) {
    let list;
    try {
      list = await kube.core.listPodForAllNamespaces({ labelSelector, fieldSelector, limit: LIST_LIMIT });
    } catch (e) {
      return cannotCheck(
        "pod",
        `cannot list pods matching ${
          JSON.stringify(labelSelector)
        } on node ${node}, so reboots are blocked to be safe: ${describeApiError(e)}`,
        Date.now(),
      );
    }
    // The field selector already excludes finished pods; checking again keeps a lenient server honest.
    const pods = list.items.filter((p) => !NOT_BLOCKING_PHASES.has(p.status?.phase ?? ""));
    if (pods.length === 0) continue;
    const names = pods.map((p) =>
      `${p.metadata?.namespace ?? "?"}/${p.metadata?.name ?? "?"} (${p.status?.phase ?? "no phase"})`
    );
    const more = list.metadata?._continue ? " and more" : "";
    return blocked(
      "pod",
      `blocked by pod${names.length === 1 && !more ? "" : "s"} matching ${JSON.stringify(labelSelector)}: ${
        names.join(", ")
      }${more}`,
    );
  }
  return CLEAR;
}
