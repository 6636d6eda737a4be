/**
 * Changes to the Node object around a reboot: cordon and uncordon (`spec.unschedulable`), the
 * PreferNoSchedule taint of `--prefer-no-schedule-taint` and the `--pre/post-reboot-node-labels`, with kured's
 * meaning (https://github.com/kubereboot/kured/blob/1.23.0/pkg/taints/taints.go and
 * https://github.com/kubereboot/kured/blob/1.23.0/cmd/kured/main.go). Every write honours dry-run. Taints are a
 * list that a merge patch replaces whole, so those patches carry the resourceVersion they were computed from
 * and are recomputed on 409 rather than clobbering a taint someone else added meanwhile.
 */
import type * as k8s from "@kubernetes/client-node";
import { describeApiError, dryRunParam, isConflict, type Kube, MERGE_PATCH } from "../kube/mod.ts";

type NodeKube = Pick<Kube, "core" | "dryRun">;

/**
 * The Node as this daemon already knows it (lib/node_control/watch.ts: from a watch), to compute a first write
 * without a read. The write carries the resourceVersion it was computed from, so a stale object costs a
 * conflict and a fresh read, never a wrong write; and a decision to write nothing is only ever taken on a fresh
 * read, since a watch may not show this daemon's own last write yet.
 */
export type KnownNode = () => Promise<k8s.V1Node>;

const CONFLICT_RETRIES = 10;

/** The reads of one change: the known object first (`fresh` false), then the API server's. */
function nodeReads(kube: NodeKube, node: string, known: KnownNode | undefined) {
  let first = known;
  return async (): Promise<{ current: k8s.V1Node; fresh: boolean }> => {
    const k = first;
    first = undefined;
    if (k) return { current: await k(), fresh: false };
    return { current: await kube.core.readNode({ name: node }), fresh: true };
  };
}

/**
 * Annotation kreboot puts on a node in the same patch that cordons it, and removes in the same patch that
 * uncordons it. It is the one record of "kreboot cordoned this node": it survives a crash between the cordon
 * and any other write, and garbage in the Lease cannot make kreboot uncordon a node an administrator cordoned.
 */
export const CORDONED_BY_KREBOOT = "kreboot.dev/cordoned";

/**
 * Cordons the node unless it already is. Returns whether it was unschedulable before kreboot touched it
 * (cordoned by someone else); a node kreboot itself cordoned earlier (a restart mid-cycle) counts as not.
 */
export async function cordon(
  kube: NodeKube,
  node: string,
  known?: KnownNode,
): Promise<{ wasUnschedulable: boolean }> {
  const read = nodeReads(kube, node, known);
  for (let attempt = 1;; attempt++) {
    const { current, fresh } = await read();
    const ours = current.metadata?.annotations?.[CORDONED_BY_KREBOOT] !== undefined;
    const cordoned = current.spec?.unschedulable === true;
    if ((ours || cordoned) && !fresh) continue;
    if (ours) return { wasUnschedulable: false };
    if (cordoned) return { wasUnschedulable: true };
    try {
      await kube.core.patchNode({
        name: node,
        body: {
          metadata: {
            resourceVersion: current.metadata?.resourceVersion,
            annotations: { [CORDONED_BY_KREBOOT]: "true" },
          },
          spec: { unschedulable: true },
        },
        ...dryRunParam(kube),
      }, MERGE_PATCH);
      return { wasUnschedulable: false };
    } catch (e) {
      if (!isConflict(e) || attempt >= CONFLICT_RETRIES) {
        throw new Error(`cannot cordon node ${node}: ${describeApiError(e)}`, { cause: e });
      }
    }
  }
}

/**
 * Makes the node schedulable again if and only if kreboot cordoned it (its annotation is there). A node that was
 * cordoned before kreboot came stays cordoned. The annotation, not the Lease's record, decides: it is written
 * in the same patch as the cordon, so it cannot disagree with it.
 */
export async function uncordon(
  kube: NodeKube,
  node: string,
  known?: KnownNode,
): Promise<{ uncordoned: boolean }> {
  const read = nodeReads(kube, node, known);
  for (let attempt = 1;; attempt++) {
    const { current, fresh } = await read();
    const ours = current.metadata?.annotations?.[CORDONED_BY_KREBOOT] !== undefined;
    if (!ours && !fresh) continue;
    if (!ours) return { uncordoned: false };
    const body = {
      metadata: {
        resourceVersion: current.metadata?.resourceVersion,
        annotations: { [CORDONED_BY_KREBOOT]: null },
      },
      spec: { unschedulable: null },
    };
    try {
      await kube.core.patchNode({ name: node, body, ...dryRunParam(kube) }, MERGE_PATCH);
      return { uncordoned: true };
    } catch (e) {
      if (!isConflict(e) || attempt >= CONFLICT_RETRIES) {
        throw new Error(`cannot uncordon node ${node}: ${describeApiError(e)}`, { cause: e });
      }
    }
  }
}

/** Adds (`present` true) or removes the PreferNoSchedule taint `key`; a no-op when already so. */
export async function setPreferNoScheduleTaint(
  kube: NodeKube,
  node: string,
  key: string,
  present: boolean,
  known?: KnownNode,
): Promise<{ changed: boolean }> {
  if (key === "") return { changed: false };
  const read = nodeReads(kube, node, known);
  for (let attempt = 1;; attempt++) {
    const { current, fresh } = await read();
    const taints: k8s.V1Taint[] = current.spec?.taints ?? [];
    const has = taints.some((t) => isOurTaint(t, key));
    if (has === present && !fresh) continue;
    if (has === present) return { changed: false };
    const next = present
      ? [...taints, { key, effect: "PreferNoSchedule" }]
      : taints.filter((t) => !isOurTaint(t, key));
    try {
      await kube.core.patchNode({
        name: node,
        body: {
          metadata: { resourceVersion: current.metadata?.resourceVersion },
          spec: { taints: next.map(plainTaint) },
        },
        ...dryRunParam(kube),
      }, MERGE_PATCH);
      return { changed: true };
    } catch (e) {
      if (!isConflict(e) || attempt >= CONFLICT_RETRIES) {
        throw new Error(
          `cannot ${present ? "add" : "remove"} taint ${key}:PreferNoSchedule on node ${node}: ${
            describeApiError(e)
          }`,
        );
      }
      // Someone changed the node between our read and our patch: read again and recompute.
    }
  }
}

function isOurTaint(t: k8s.V1Taint, key: string): boolean {
  return t.key === key && t.effect === "PreferNoSchedule";
}

/** A taint as JSON for a patch (the model's Date `timeAdded` would not serialize as the API expects). */
function plainTaint(t: k8s.V1Taint): Record<string, unknown> {
  const out: Record<string, unknown> = { key: t.key, effect: t.effect };
  if (t.value !== undefined) out.value = t.value;
  if (t.timeAdded !== undefined) {
    const added: unknown = t.timeAdded;
    out.timeAdded = added instanceof Date ? added.toISOString().replace(/\.\d+Z$/, "Z") : added;
  }
  return out;
}

/** Sets the labels (kured: pre-reboot labels before the drain, post-reboot ones after the uncordon). */
export async function setNodeLabels(
  kube: NodeKube,
  node: string,
  labels: Readonly<Record<string, string>>,
): Promise<void> {
  if (Object.keys(labels).length === 0) return;
  await kube.core.patchNode(
    { name: node, body: { metadata: { labels } }, ...dryRunParam(kube) },
    MERGE_PATCH,
  );
}

/** Removes the label keys (those absent stay absent). */
export async function removeNodeLabels(kube: NodeKube, node: string, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const labels = Object.fromEntries(keys.map((k) => [k, null]));
  await kube.core.patchNode(
    { name: node, body: { metadata: { labels } }, ...dryRunParam(kube) },
    MERGE_PATCH,
  );
}
