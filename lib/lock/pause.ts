/**
 * The pause: a cluster-wide stop for new reboots, set by `kreboot pause` (a Lease `<ds>-pause` whose holder is
 * who paused, with the reason as an annotation) or by hand the kured way (the lock annotation on the
 * DaemonSet, `{"nodeID":"manual"}`). Nodes that hold a slot finish; nobody takes a new one. This is the one
 * place that reads either form: the lock and `kreboot status` both ask here.
 */
import { LOCK_LABEL, microTimeString, pauseLeaseName, SLOT_ANNOTATIONS } from "./slots.ts";
import { LeaseConflict, type LeaseStore } from "./store.ts";

export type PauseState =
  | { paused: false }
  | { paused: true; by: string; reason: string; since?: Date; source: "lease" | "kured-annotation" };

export const NOT_PAUSED: PauseState = { paused: false };

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {};
}

/** The pause Lease (`kreboot pause`), as a list, a get or a watch returns it. */
export function decodePauseLease(lease: unknown): PauseState {
  const obj = asRecord(lease);
  const spec = asRecord(obj.spec);
  const annotations = asRecord(asRecord(obj.metadata).annotations);
  const by = spec.holderIdentity;
  if (typeof by !== "string" || by === "") return NOT_PAUSED;
  const reason = annotations[SLOT_ANNOTATIONS.pauseReason];
  const t = spec.acquireTime;
  const since = t instanceof Date ? t : typeof t === "string" ? new Date(t) : undefined;
  return {
    paused: true,
    by,
    reason: typeof reason === "string" && reason !== "" ? reason : "(no reason given)",
    source: "lease",
    ...(since && Number.isFinite(since.getTime()) ? { since } : {}),
  };
}

/** kured's manual lock value (`{"nodeID":"manual"}`, or kured's multi-owner form): who set it, if anyone. */
export function kuredAnnotationPause(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  try {
    const parsed = asRecord(JSON.parse(value));
    if (typeof parsed.nodeID === "string" && parsed.nodeID !== "") return parsed.nodeID;
    const locks = Array.isArray(parsed.locks) ? parsed.locks : [];
    const ids = locks.map((l) => asRecord(l).nodeID).filter((n): n is string =>
      typeof n === "string" && n !== ""
    );
    return ids.length ? ids.join(",") : undefined;
  } catch {
    // An annotation we cannot read is still someone's deliberate stop sign: honour it.
    return "unreadable kured lock annotation";
  }
}

/** The pause kured's lock annotation on the DaemonSet means (undefined DaemonSet: none). */
export function decodeDaemonSetPause(
  daemonSet: unknown,
  where: { namespace: string; dsName: string; lockAnnotation: string },
): PauseState {
  const annotations = asRecord(asRecord(asRecord(daemonSet).metadata).annotations);
  const value = annotations[where.lockAnnotation];
  const by = kuredAnnotationPause(typeof value === "string" ? value : undefined);
  if (by === undefined) return NOT_PAUSED;
  return {
    paused: true,
    by,
    reason: `kured lock annotation ${where.lockAnnotation} on DaemonSet ${where.namespace}/${where.dsName}`,
    source: "kured-annotation",
  };
}

/** Both forms together: `kreboot pause` wins, since it carries a reason. */
export function effectivePause(lease: PauseState, daemonSet: PauseState): PauseState {
  return lease.paused ? lease : daemonSet;
}

/** Blocks new acquisitions cluster-wide; nodes that hold a slot finish. */
export async function pause(
  store: LeaseStore,
  where: { namespace: string; dsName: string },
  by: string,
  reason: string,
  now: Date,
): Promise<void> {
  const name = pauseLeaseName(where.dsName);
  const t = microTimeString(now);
  const annotations = { [SLOT_ANNOTATIONS.pauseReason]: reason };
  const spec = { holderIdentity: by, acquireTime: t, renewTime: t };
  try {
    await store.createLease({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name, namespace: where.namespace, labels: { [LOCK_LABEL]: where.dsName }, annotations },
      spec,
    });
  } catch (e) {
    if (!(e instanceof LeaseConflict)) throw e;
    // Paused already: the newest pause's author and reason win (no resourceVersion: last writer wins).
    await store.patchLease(name, { metadata: { annotations }, spec });
  }
}

/** Lifts a pause set by `kreboot pause` (kured's annotation is removed the kured way, by hand). */
export async function resume(store: LeaseStore, dsName: string): Promise<void> {
  await store.deleteLease(pauseLeaseName(dsName));
}
