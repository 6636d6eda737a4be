/**
 * The kubelet's and the controllers' jobs, played by the harness: pods bound to nodes and marked Running+Ready,
 * owner objects for them, a "kubelet" that finishes Terminating pods, and PDB status as the disruption
 * controller would write it. Evictions of Pending pods bypass PDBs, which is why pods default to Running.
 */
import type * as k8s from "@kubernetes/client-node";
import { isConflict, isNotFound } from "../../lib/kube/mod.ts";
import { MERGE_PATCH, type TestKube as Kube } from "./full_kube.ts";
import { rfc3339 } from "./nodes.ts";

/** Creates the namespace and its `default` ServiceAccount (no controller-manager creates it here). */
export async function ensureNamespace(kube: Kube, namespace: string): Promise<void> {
  try {
    await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
  } catch (e) {
    if (!isConflict(e)) throw e;
  }
  await ensureServiceAccount(kube, namespace, "default");
}

export async function ensureServiceAccount(kube: Kube, namespace: string, name: string): Promise<void> {
  try {
    await kube.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  } catch (e) {
    if (!isConflict(e)) throw e;
  }
}

export type PodOwner = "ReplicaSet" | "DaemonSet" | "StatefulSet" | "none";
export type PodPhase = "Running" | "Succeeded" | "Failed" | "Pending";

export interface PodOptions {
  name: string;
  /** `spec.nodeName`; there is no scheduler. */
  node: string;
  /** A real owner object (`harness-rs`, `harness-ds`, `harness-sts`) is created and set as controller. */
  owner?: PodOwner;
  /** Marks the pod as a static pod's mirror (annotation `kubernetes.io/config.mirror`). */
  mirror?: boolean;
  /** Adds an emptyDir volume (kubectl drain refuses such pods without --delete-emptydir-data). */
  emptyDir?: boolean;
  /** Default Running (and Ready); Pending leaves the status as created. */
  phase?: PodPhase;
  labels?: Record<string, string>;
  terminationGracePeriodSeconds?: number;
}

const OWNER_NAMES: Record<Exclude<PodOwner, "none">, string> = {
  ReplicaSet: "harness-rs",
  DaemonSet: "harness-ds",
  StatefulSet: "harness-sts",
};
const OWNER_LABEL = "kreboot.test/owner";

const CONTAINER = { name: "app", image: "registry.invalid/pause:3.10" };

/** Creates (once) the owner object of a kind in a namespace; no controller runs, so it never makes pods. */
async function ensureOwner(kube: Kube, namespace: string, kind: Exclude<PodOwner, "none">) {
  const name = OWNER_NAMES[kind];
  const labels = { [OWNER_LABEL]: name };
  const template = { metadata: { labels }, spec: { containers: [CONTAINER] } };
  const selector = { matchLabels: labels };
  const metadata = { name, labels };
  try {
    switch (kind) {
      case "ReplicaSet":
        return await kube.apps.createNamespacedReplicaSet({
          namespace,
          body: { metadata, spec: { replicas: 0, selector, template } },
        });
      case "DaemonSet":
        return await kube.apps.createNamespacedDaemonSet({
          namespace,
          body: { metadata, spec: { selector, template } },
        });
      case "StatefulSet":
        return await kube.apps.createNamespacedStatefulSet({
          namespace,
          body: { metadata, spec: { replicas: 0, selector, template, serviceName: name } },
        });
    }
  } catch (e) {
    if (!isConflict(e)) throw e;
    switch (kind) {
      case "ReplicaSet":
        return await kube.apps.readNamespacedReplicaSet({ namespace, name });
      case "DaemonSet":
        return await kube.apps.readNamespacedDaemonSet({ namespace, name });
      case "StatefulSet":
        return await kube.apps.readNamespacedStatefulSet({ namespace, name });
    }
  }
}

/** Creates a pod bound to `opts.node` and, unless `phase` says otherwise, marks it Running and Ready. */
export async function createPod(kube: Kube, namespace: string, opts: PodOptions): Promise<k8s.V1Pod> {
  const labels: Record<string, string> = { ...opts.labels };
  const metadata: k8s.V1ObjectMeta = { name: opts.name, namespace, labels };
  const owner = opts.owner ?? "none";
  if (!opts.mirror) await ensureServiceAccount(kube, namespace, "default");
  if (owner !== "none") {
    const obj = await ensureOwner(kube, namespace, owner);
    labels[OWNER_LABEL] = OWNER_NAMES[owner];
    metadata.ownerReferences = [{
      apiVersion: "apps/v1",
      kind: owner,
      name: OWNER_NAMES[owner],
      uid: obj.metadata?.uid ?? "",
      controller: true,
      blockOwnerDeletion: true,
    }];
  }
  if (opts.mirror) metadata.annotations = { "kubernetes.io/config.mirror": "simulated" };
  const spec: k8s.V1PodSpec = {
    nodeName: opts.node,
    containers: [{
      ...CONTAINER,
      ...(opts.emptyDir ? { volumeMounts: [{ name: "scratch", mountPath: "/scratch" }] } : {}),
    }],
    ...(opts.emptyDir ? { volumes: [{ name: "scratch", emptyDir: {} }] } : {}),
    ...(opts.terminationGracePeriodSeconds !== undefined
      ? { terminationGracePeriodSeconds: opts.terminationGracePeriodSeconds }
      : {}),
    // A mirror pod may not use a ServiceAccount (ServiceAccount admission rejects it).
    ...(opts.mirror ? { automountServiceAccountToken: false } : {}),
  };
  const pod = await kube.core.createNamespacedPod({ namespace, body: { metadata, spec } });
  const phase = opts.phase ?? "Running";
  if (phase === "Pending") return pod;
  return await setPodPhase(kube, namespace, opts.name, phase);
}

/** Writes `pods/status` as the kubelet would for the phase (Running implies Ready). */
export async function setPodPhase(
  kube: Kube,
  namespace: string,
  name: string,
  phase: Exclude<PodPhase, "Pending">,
): Promise<k8s.V1Pod> {
  const now = rfc3339();
  const running = phase === "Running";
  const cond = (type: string, status: boolean) => ({
    type,
    status: status ? "True" : "False",
    lastTransitionTime: now,
    ...(status ? {} : { reason: running ? "ContainersNotReady" : "PodCompleted" }),
  });
  const state = running ? { running: { startedAt: now } } : {
    terminated: {
      exitCode: phase === "Succeeded" ? 0 : 1,
      reason: phase === "Succeeded" ? "Completed" : "Error",
      startedAt: now,
      finishedAt: now,
    },
  };
  return await kube.core.patchNamespacedPodStatus({
    namespace,
    name,
    body: {
      status: {
        phase,
        conditions: [
          cond("PodScheduled", true),
          cond("Initialized", true),
          cond("ContainersReady", running),
          cond("Ready", running),
        ],
        containerStatuses: [{
          name: CONTAINER.name,
          image: CONTAINER.image,
          imageID: "",
          containerID: `simulated://${crypto.randomUUID()}`,
          ready: running,
          started: running,
          restartCount: 0,
          state,
        }],
        hostIP: "127.0.0.1",
        podIP: "10.244.0.1",
        startTime: now,
      },
    },
  }, MERGE_PATCH);
}

export interface KubeletOptions {
  /** How long a pod stays Terminating before the "kubelet" removes it; default 0. */
  delayMs?: number;
  /** Only pods on these nodes; default all. */
  nodes?: string[];
  /** Poll interval; default 100 ms. */
  intervalMs?: number;
}

export interface Kubelet extends AsyncDisposable {
  /** Pods (namespace/name) the kubelet has removed so far. */
  readonly removed: readonly string[];
  stop(): Promise<void>;
}

/**
 * A fake kubelet: polls for Terminating pods and removes them with a grace-0 DELETE once `delayMs` has passed
 * since it first saw them. Without it, evicted or deleted pods stay Terminating forever.
 */
export function startKubelet(kube: Kube, opts: KubeletOptions = {}): Kubelet {
  const firstSeen = new Map<string, number>();
  const removed: string[] = [];
  const ac = new AbortController();
  const interval = opts.intervalMs ?? 100;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      ac.signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  const loop = (async () => {
    // One line per outage, not one per poll.
    let failing = false;
    while (!ac.signal.aborted) {
      try {
        const pods = await kube.core.listPodForAllNamespaces({});
        if (failing) console.error("harness kubelet: the apiserver answers again");
        failing = false;
        const now = Date.now();
        for (const pod of pods.items) {
          const { namespace, name, uid, deletionTimestamp } = pod.metadata ?? {};
          if (!deletionTimestamp || !namespace || !name || !uid) continue;
          if (opts.nodes && !opts.nodes.includes(pod.spec?.nodeName ?? "")) continue;
          const seen = firstSeen.get(uid) ?? now;
          firstSeen.set(uid, seen);
          if (now - seen < (opts.delayMs ?? 0)) continue;
          try {
            // With a body the apiserver ignores the query parameters, so the grace period goes in the body.
            await kube.core.deleteNamespacedPod({
              namespace,
              name,
              body: { gracePeriodSeconds: 0, preconditions: { uid } },
            });
            removed.push(`${namespace}/${name}`);
          } catch (e) {
            if (!isNotFound(e) && !isConflict(e)) throw e;
          }
          firstSeen.delete(uid);
        }
      } catch (e) {
        // The apiserver may be restarting (chaos tests); keep polling.
        if (!ac.signal.aborted && !failing) {
          console.error(`harness kubelet: ${e instanceof Error ? e.message : String(e)} (retrying quietly)`);
        }
        failing = true;
      }
      await sleep(interval);
    }
  })();
  const stop = async () => {
    ac.abort();
    await loop;
  };
  return { removed, stop, [Symbol.asyncDispose]: stop };
}

/** Parses a label selector object into the string form the list APIs take. */
export function selectorString(sel: k8s.V1LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(",");
    switch (e.operator) {
      case "In":
        parts.push(`${e.key} in (${values})`);
        break;
      case "NotIn":
        parts.push(`${e.key} notin (${values})`);
        break;
      case "Exists":
        parts.push(e.key);
        break;
      case "DoesNotExist":
        parts.push(`!${e.key}`);
        break;
      default:
        throw new Error(`unsupported label selector operator ${e.operator}`);
    }
  }
  return parts.join(",");
}

/**
 * Writes a PDB's status as the disruption controller would: observedGeneration = generation (otherwise every
 * eviction gets 429 "still being processed"), expectedPods/currentHealthy from the matching pods,
 * desiredHealthy = currentHealthy - disruptionsAllowed.
 */
export async function setPdbStatus(
  kube: Kube,
  namespace: string,
  name: string,
  disruptionsAllowed: number,
): Promise<k8s.V1PodDisruptionBudget> {
  const pdb = await kube.policy.readNamespacedPodDisruptionBudget({ namespace, name });
  const pods = await kube.core.listNamespacedPod({
    namespace,
    labelSelector: selectorString(pdb.spec?.selector),
  });
  const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
  const healthy = live.filter((p) =>
    p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
  );
  return await kube.policy.patchNamespacedPodDisruptionBudgetStatus({
    namespace,
    name,
    body: {
      status: {
        observedGeneration: pdb.metadata?.generation ?? 1,
        expectedPods: live.length,
        currentHealthy: healthy.length,
        desiredHealthy: Math.max(0, healthy.length - disruptionsAllowed),
        disruptionsAllowed,
        conditions: [{
          type: "DisruptionAllowed",
          status: disruptionsAllowed > 0 ? "True" : "False",
          reason: disruptionsAllowed > 0 ? "SufficientPods" : "InsufficientPods",
          message: "",
          observedGeneration: pdb.metadata?.generation ?? 1,
          lastTransitionTime: rfc3339(),
        }],
      },
    },
  }, MERGE_PATCH);
}

/** Creates a PDB over pods with the given labels (integer minAvailable or maxUnavailable). */
export async function createPdb(
  kube: Kube,
  namespace: string,
  name: string,
  opts: { matchLabels: Record<string, string>; minAvailable?: number; maxUnavailable?: number },
): Promise<k8s.V1PodDisruptionBudget> {
  return await kube.policy.createNamespacedPodDisruptionBudget({
    namespace,
    body: {
      metadata: { name },
      spec: {
        selector: { matchLabels: opts.matchLabels },
        ...(opts.minAvailable !== undefined ? { minAvailable: opts.minAvailable } : {}),
        ...(opts.maxUnavailable !== undefined ? { maxUnavailable: opts.maxUnavailable } : {}),
      },
    },
  });
}
