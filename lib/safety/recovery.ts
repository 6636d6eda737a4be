/**
 * The post-reboot health gate's I/O (the judgement is lib/safety/health.ts): before the drain evicts anything,
 * what it will evict is recorded on the slot Lease (lib/safety/evicted.ts), so that the daemon started after
 * the reboot knows what to wait for; after the reboot, the Node, the pods on it and (with
 * `--wait-for-workloads`) the recorded ReplicaSets, StatefulSets and PodDisruptionBudgets are read and judged.
 */
import type * as k8s from "@kubernetes/client-node";
import { listNodePods, listPdbs } from "../drain/list.ts";
import type { Pod } from "../drain/pods.ts";
import { describeApiError, isNotFound, type Kube } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import {
  decodeEvicted,
  encodeEvicted,
  type EvictedRecord,
  evictedRecordOf,
  mergeEvicted,
  type WorkloadRef,
} from "./evicted.ts";
import { type HealthVerdict, judgeHealth, type WorkloadObjects } from "./health.ts";

/**
 * The slot as the record needs it: its recorded phase and raw `evicted` annotation, and a write of both
 * (RebootLock fits).
 */
export interface EvictedSlot {
  readonly held: { phase?: string; evicted?: string } | undefined;
  update(fields: { phase: "draining"; evicted: string }): Promise<unknown>;
}

/**
 * Records on the slot Lease what evicting `pods` disturbs (their ReplicaSets/StatefulSets and covering PDBs),
 * added to what an earlier run of the same drain recorded, and the phase `draining` in the same write (the slot
 * keeper writes no record of its own on entering it: lib/machine/startup.ts). Throws with a message that says
 * what to do.
 */
export async function recordEvicted(
  kube: Pick<Kube, "policy">,
  slot: EvictedSlot,
  pods: readonly Pod[],
): Promise<void> {
  try {
    const namespaces = new Set(pods.map((p) => p.metadata?.namespace ?? ""));
    const fresh = evictedRecordOf(pods, await listPdbs(kube, namespaces));
    const before = slot.held?.evicted;
    const value = encodeEvicted(mergeEvicted(decodeEvicted(before).record, fresh));
    if (value !== before || slot.held?.phase !== "draining") {
      await slot.update({ phase: "draining", evicted: value });
    }
  } catch (e) {
    throw new Error(
      `cannot record what the drain evicts on the slot Lease (--wait-for-workloads waits for it after the ` +
        `reboot), so nothing was evicted: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

export interface HealthCheckOptions {
  node: string;
  /** `--post-reboot-ready-for`. */
  readyForMs: number;
  /** `--recovery-timeout`. */
  recoveryTimeoutMs: number;
  /** `--wait-for-workloads`. */
  waitForWorkloads: boolean;
  /** The slot Lease's raw record of what was evicted (undefined: none). */
  evicted: () => string | undefined;
  /** The Node as the daemon sees it (its watch of its own Node); default: one read per look. */
  readNode?: () => Promise<k8s.V1Node>;
  log: Logger;
  now?: () => number;
}

/** The post-reboot health gate, asked while recovering; throws only when the Node cannot be read. */
export class HealthCheck {
  readonly #kube: Pick<Kube, "core" | "apps" | "policy">;
  readonly #o: HealthCheckOptions;
  #warned = false;

  constructor(kube: Pick<Kube, "core" | "apps" | "policy">, opts: HealthCheckOptions) {
    this.#kube = kube;
    this.#o = opts;
  }

  async judge(confirmedAtMs: number): Promise<HealthVerdict> {
    const node = await (this.#o.readNode?.() ?? this.#kube.core.readNode({ name: this.#o.node }));
    const base = {
      rebootConfirmedAtMs: confirmedAtMs,
      readyForMs: this.#o.readyForMs,
      recoveryTimeoutMs: this.#o.recoveryTimeoutMs,
      node,
    };
    // The node itself first: while it is not Ready long enough (and the timeout has not come), nothing else
    // can make the verdict other than "waiting", so the pods and workloads are not read yet.
    const early = judgeHealth({ ...base, nowMs: this.#o.now?.() ?? Date.now(), podsOnNode: [] });
    if (early.state === "waiting") return early;
    const pods = await listNodePods(this.#kube, this.#o.node);
    let workloads: { record: EvictedRecord; objects: WorkloadObjects } | undefined;
    let unreadable: string[] = [];
    if (this.#o.waitForWorkloads) {
      const { record, problems } = decodeEvicted(this.#o.evicted());
      if (!this.#warned && (problems.length > 0 || record.dropped > 0)) {
        this.#warned = true;
        const more = record.dropped > 0 ? [`${record.dropped} evicted workload(s) were not recorded`] : [];
        this.#o.log.warn("not waiting for every evicted workload", { problems: [...problems, ...more] });
      }
      const read = await readWorkloadObjects(this.#kube, record);
      workloads = { record, objects: read.objects };
      unreadable = read.unreadable;
    }
    return judgeHealth({
      ...base,
      nowMs: this.#o.now?.() ?? Date.now(),
      podsOnNode: pods,
      workloads,
      unreadable,
    });
  }
}

/**
 * The objects the record names, as they are now: each ReplicaSet and StatefulSet by name (absent = deleted,
 * whole by definition), the PDBs in one list of their namespaces. What cannot be read is named in
 * `unreadable`, so the gate waits for it rather than call the workload whole.
 */
export async function readWorkloadObjects(
  kube: Pick<Kube, "apps" | "policy">,
  record: EvictedRecord,
): Promise<{ objects: WorkloadObjects; unreadable: string[] }> {
  const replicaSets: k8s.V1ReplicaSet[] = [];
  const statefulSets: k8s.V1StatefulSet[] = [];
  const unreadable: string[] = [];
  const read = async (ref: WorkloadRef) => {
    try {
      const at = { namespace: ref.namespace, name: ref.name };
      if (ref.kind === "ReplicaSet") replicaSets.push(await kube.apps.readNamespacedReplicaSet(at));
      else statefulSets.push(await kube.apps.readNamespacedStatefulSet(at));
    } catch (e) {
      if (!isNotFound(e)) {
        unreadable.push(`${ref.kind} ${ref.namespace}/${ref.name} (${describeApiError(e)})`);
      }
    }
  };
  await Promise.all(record.workloads.map(read));
  let pdbs: k8s.V1PodDisruptionBudget[] = [];
  if (record.pdbs.length > 0) {
    try {
      const wanted = new Set(record.pdbs.map((p) => `${p.namespace}/${p.name}`));
      const namespaces = new Set(record.pdbs.map((p) => p.namespace));
      pdbs = (await listPdbs(kube, namespaces)).filter((p) =>
        wanted.has(`${p.metadata?.namespace ?? ""}/${p.metadata?.name ?? ""}`)
      );
    } catch (e) {
      unreadable.push(`the PodDisruptionBudgets (${describeApiError(e)})`);
    }
  }
  return { objects: { replicaSets, statefulSets, pdbs }, unreadable };
}
