/**
 * Which pods of a node a drain removes, as `kubectl drain --ignore-daemonsets --delete-emptydir-data --force`
 * decides it (kured's settings, `drain()` in
 * https://github.com/kubereboot/kured/blob/1.23.0/cmd/kured/main.go), in the filter order of
 * https://github.com/kubernetes/kubectl/blob/master/pkg/drain/filters.go:
 *
 * 1. terminating for longer than `--skip-wait-for-delete-timeout` (when > 0): skipped, not waited for;
 * 2. managed by a DaemonSet and still running: left alone (the DaemonSet would recreate it at once);
 * 3. a mirror pod (the API shadow of a static pod): skipped, the kubelet owns it;
 * 4. emptyDir volumes: evicted, their data is lost (kured forces it);
 * 5. no controller: evicted (kured forces it), nothing recreates it;
 * 6. finished (Succeeded/Failed): deleted, there is nothing to disrupt.
 *
 * `--drain-pod-selector` narrows the list itself: it goes to the apiserver as the list's label selector, as
 * kubectl does, so pods outside it never reach this function.
 */
import type * as k8s from "@kubernetes/client-node";

export type Pod = k8s.V1Pod;

export type SkipReason = "terminating" | "daemonset" | "mirror";

export interface PodSelection {
  /** Running (or pending) pods to evict through the Eviction API, which honours PDBs. */
  evict: Pod[];
  /** Finished pods to delete. */
  delete: Pod[];
  skip: { pod: Pod; reason: SkipReason }[];
}

export interface SelectionOptions {
  /** Seconds; 0 = wait for every terminating pod however long it has been terminating. */
  skipWaitForDeleteTimeoutSeconds: number;
}

const MIRROR_ANNOTATION = "kubernetes.io/config.mirror";

export function selectPodsToDrain(pods: readonly Pod[], opts: SelectionOptions, now: Date): PodSelection {
  const out: PodSelection = { evict: [], delete: [], skip: [] };
  for (const pod of pods) {
    if (terminatingTooLong(pod, opts.skipWaitForDeleteTimeoutSeconds, now)) {
      out.skip.push({ pod, reason: "terminating" });
    } else if (isFinished(pod)) {
      // kubectl lets finished pods through every filter except the mirror one.
      if (isMirror(pod)) out.skip.push({ pod, reason: "mirror" });
      else out.delete.push(pod);
    } else if (controllerKind(pod) === "DaemonSet") {
      out.skip.push({ pod, reason: "daemonset" });
    } else if (isMirror(pod)) {
      out.skip.push({ pod, reason: "mirror" });
    } else {
      out.evict.push(pod);
    }
  }
  return out;
}

/** `namespace/name`, the way pods are named in every message. */
export function podKey(pod: Pod): string {
  return `${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""}`;
}

function isFinished(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === "Succeeded" || phase === "Failed";
}

function isMirror(pod: Pod): boolean {
  return pod.metadata?.annotations?.[MIRROR_ANNOTATION] !== undefined;
}

export function hasEmptyDir(pod: Pod): boolean {
  return (pod.spec?.volumes ?? []).some((v) => v.emptyDir !== undefined);
}

/** The kind of the pod's controller owner reference, or undefined for a bare pod. */
export function controllerKind(pod: Pod): string | undefined {
  const ref = (pod.metadata?.ownerReferences ?? []).find((r) => r.controller === true);
  if (ref === undefined) return undefined;
  // kubectl only treats the apps/v1 DaemonSet as one; anything else that controls a pod is just "managed".
  if (ref.kind === "DaemonSet" && ref.apiVersion !== "apps/v1") return `${ref.apiVersion}/${ref.kind}`;
  return ref.kind;
}

/** When the pod got its deletion timestamp, if it is terminating. */
export function deletionTime(pod: Pod): Date | undefined {
  const t: unknown = pod.metadata?.deletionTimestamp;
  if (t instanceof Date) return t;
  if (typeof t === "string") return new Date(t);
  return undefined;
}

function terminatingTooLong(pod: Pod, skipSeconds: number, now: Date): boolean {
  if (skipSeconds <= 0) return false;
  const since = deletionTime(pod);
  return since !== undefined && now.getTime() - since.getTime() > skipSeconds * 1000;
}

/** Human words for a skip reason, for logs. */
export function describeSkip(reason: SkipReason): string {
  switch (reason) {
    case "terminating":
      return "terminating for longer than --skip-wait-for-delete-timeout; not waiting for it";
    case "daemonset":
      return "managed by a DaemonSet; left running";
    case "mirror":
      return "mirror pod of a static pod; the kubelet owns it";
  }
}
