/**
 * The drain pre-flight: before kreboot takes a reboot slot or cordons, it predicts whether a drain could go
 * through. A pod covered by a PodDisruptionBudget that allows no disruption now, whose status lags its spec, or
 * by more than one PDB (which the eviction API refuses outright) blocks the node with reason "pdb" — nothing
 * is cordoned, no slot is held, and the message names the pod and the PDB. A budget that allows 1 passes even
 * when several of its pods live here: the drain evicts them one after the other as the budget recovers.
 */
import type * as k8s from "@kubernetes/client-node";
import { describeApiError, type Kube } from "../kube/mod.ts";
import { blocked, cannotCheck, CLEAR, type GateResult, listNames } from "../gates/gate.ts";
import { listNodePods, listPdbs } from "./list.ts";
import { evictionRefusal, pdbsCovering } from "./pdb.ts";
import { podKey, selectPodsToDrain } from "./pods.ts";

export type { GateResult };

export interface PreflightOptions {
  /** `--drain-pod-selector`; "" = all pods. */
  podSelector: string;
  /** `--skip-wait-for-delete-timeout` in seconds. */
  skipWaitForDeleteTimeoutSeconds: number;
  /** Told of the pods it listed: the drain that follows at once starts from them instead of a list of its own. */
  listed?: (pods: readonly k8s.V1Pod[]) => void;
  now?: () => Date;
}

export async function preflight(
  kube: Pick<Kube, "core" | "policy">,
  node: string,
  opts: PreflightOptions,
): Promise<GateResult> {
  let refusals: string[];
  try {
    const pods = await listNodePods(kube, node, opts.podSelector);
    opts.listed?.(pods);
    const { evict } = selectPodsToDrain(pods, opts, (opts.now ?? (() => new Date()))());
    const pdbs = await listPdbs(kube, new Set(evict.map((p) => p.metadata?.namespace ?? "")));
    refusals = evict.flatMap((pod) => {
      const why = evictionRefusal(pod, pdbsCovering(pod, pdbs));
      return why === undefined ? [] : [`pod ${podKey(pod)} ${why}`];
    });
  } catch (e) {
    return cannotCheck(
      "pdb",
      `cannot check the PodDisruptionBudgets of the pods on node ${node}, so the drain is held back to be safe: ${
        describeApiError(e)
      }`,
      (opts.now ?? (() => new Date()))().getTime(),
    );
  }
  if (refusals.length === 0) return CLEAR;
  return blocked("pdb", `drain would be refused: ${listNames(refusals, 3)}`);
}
