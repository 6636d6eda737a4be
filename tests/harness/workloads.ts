/**
 * Workloads on the cluster with controllers (tests/harness/controllers.ts): Deployments, StatefulSets and
 * DaemonSets whose pods the real controllers create, the scheduler places and kwok runs, bare pods
 * bound to a node, and waits for what those controllers report (ready replicas, PDB status).
 *
 * Pods are kept to a "pool" of nodes with a nodeSelector (`kreboot.test/pool`), so that each test case on a
 * shared control plane places its pods only on its own nodes. How a pod's container behaves is asked of kwok
 * with annotations (tests/harness/kwok_stages.yaml): `terminationSeconds` makes it ignore SIGTERM, so that it
 * stays Terminating for its whole grace period; `exitCode` makes it exit once running; `startSeconds` makes it
 * slow to start.
 */
import type * as k8s from "@kubernetes/client-node";
import type { TestKube as Kube } from "./full_kube.ts";
import { ensureServiceAccount } from "./pods.ts";
import { until } from "./readiness.ts";

export const POOL_LABEL = "kreboot.test/pool";
const IGNORES_SIGTERM = "kreboot.test/ignores-sigterm";
const EXIT_CODE = "kreboot.test/exit-code";
const START_DELAY = "kreboot.test/start-delay";
const IMAGE = "registry.invalid/pause:3.10";

export interface PodTemplateOptions {
  /** Only nodes created with this pool (`createNode(name, { pool })`); default: any node. */
  pool?: string;
  /** Pod labels, also the workload's selector; default `{ app: <name> }`. */
  labels?: Record<string, string>;
  /** The container ignores SIGTERM: a deleted pod stays Terminating this many seconds (its grace period). */
  terminationSeconds?: number;
  /** An emptyDir volume (kubectl drain refuses such pods without --delete-emptydir-data). */
  emptyDir?: boolean;
  /** The container exits with this code once running: the pod ends Succeeded (0) or Failed (bare pods). */
  exitCode?: number;
  /** The container takes this long to start: the pod becomes Ready this many seconds after it is bound. */
  startSeconds?: number;
}

export interface WorkloadOptions extends PodTemplateOptions {
  /** Deployment and StatefulSet; default 1. */
  replicas?: number;
}

function podSpec(opts: PodTemplateOptions, restartPolicy?: string): k8s.V1PodSpec {
  return {
    containers: [{
      name: "app",
      image: IMAGE,
      ...(opts.emptyDir ? { volumeMounts: [{ name: "scratch", mountPath: "/scratch" }] } : {}),
    }],
    ...(opts.emptyDir ? { volumes: [{ name: "scratch", emptyDir: {} }] } : {}),
    ...(opts.pool ? { nodeSelector: { [POOL_LABEL]: opts.pool } } : {}),
    // The default 30 s grace would only matter with terminationSeconds; with it, the grace period is the point.
    terminationGracePeriodSeconds: opts.terminationSeconds ?? 30,
    ...(restartPolicy ? { restartPolicy } : {}),
  };
}

function podAnnotations(opts: PodTemplateOptions): Record<string, string> {
  return {
    ...(opts.terminationSeconds !== undefined ? { [IGNORES_SIGTERM]: "true" } : {}),
    ...(opts.exitCode !== undefined ? { [EXIT_CODE]: String(opts.exitCode) } : {}),
    ...(opts.startSeconds !== undefined ? { [START_DELAY]: `${opts.startSeconds}s` } : {}),
  };
}

function template(name: string, opts: PodTemplateOptions, restartPolicy?: string) {
  const labels = opts.labels ?? { app: name };
  return {
    labels,
    template: {
      metadata: { labels, annotations: podAnnotations(opts) },
      spec: podSpec(opts, restartPolicy),
    },
  };
}

export async function createDeployment(
  kube: Kube,
  namespace: string,
  name: string,
  opts: WorkloadOptions = {},
): Promise<k8s.V1Deployment> {
  await ensureServiceAccount(kube, namespace, "default");
  const { labels, template: t } = template(name, opts);
  return await kube.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name, labels },
      spec: { replicas: opts.replicas ?? 1, selector: { matchLabels: labels }, template: t },
    },
  });
}

export async function createStatefulSet(
  kube: Kube,
  namespace: string,
  name: string,
  opts: WorkloadOptions = {},
): Promise<k8s.V1StatefulSet> {
  await ensureServiceAccount(kube, namespace, "default");
  const { labels, template: t } = template(name, opts);
  return await kube.apps.createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name, labels },
      spec: {
        replicas: opts.replicas ?? 1,
        serviceName: name,
        selector: { matchLabels: labels },
        template: t,
      },
    },
  });
}

export async function createDaemonSet(
  kube: Kube,
  namespace: string,
  name: string,
  opts: PodTemplateOptions = {},
): Promise<k8s.V1DaemonSet> {
  await ensureServiceAccount(kube, namespace, "default");
  const { labels, template: t } = template(name, opts);
  return await kube.apps.createNamespacedDaemonSet({
    namespace,
    body: { metadata: { name, labels }, spec: { selector: { matchLabels: labels }, template: t } },
  });
}

export interface BarePodOptions extends PodTemplateOptions {
  name: string;
  /** `spec.nodeName`: bound without the scheduler, like a pod created straight on a node. */
  node: string;
  /** Marks the pod as a static pod's mirror (annotation `kubernetes.io/config.mirror`). */
  mirror?: boolean;
}

/**
 * Creates a pod with no controller, bound to `opts.node`, and waits until kwok has it Running and Ready (or,
 * with `exitCode`, Succeeded or Failed). A mirror pod stands in for the one a kubelet creates for a static pod.
 */
export async function createBarePod(kube: Kube, namespace: string, opts: BarePodOptions): Promise<k8s.V1Pod> {
  if (!opts.mirror) await ensureServiceAccount(kube, namespace, "default");
  const annotations = {
    ...podAnnotations(opts),
    ...(opts.mirror ? { "kubernetes.io/config.mirror": "simulated" } : {}),
  };
  await kube.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: opts.name, namespace, labels: opts.labels ?? {}, annotations },
      spec: {
        ...podSpec(opts, opts.exitCode !== undefined ? "Never" : undefined),
        nodeName: opts.node,
        // A mirror pod may not use a ServiceAccount (ServiceAccount admission rejects it).
        ...(opts.mirror ? { automountServiceAccountToken: false } : {}),
      },
    },
  });
  const want = opts.exitCode === undefined ? "Running" : opts.exitCode === 0 ? "Succeeded" : "Failed";
  return await until(`pod ${namespace}/${opts.name} ${want}`, 30_000, async () => {
    const pod = await kube.core.readNamespacedPod({ namespace, name: opts.name });
    if (pod.status?.phase !== want) return undefined;
    return want !== "Running" || isReady(pod) ? pod : undefined;
  });
}

export function isReady(pod: k8s.V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** The pods matching a label selector (string form), not counting those being deleted. */
export async function livePods(kube: Kube, namespace: string, labelSelector: string): Promise<k8s.V1Pod[]> {
  const list = await kube.core.listNamespacedPod({ namespace, labelSelector });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

/** Waits until `count` pods match, none being deleted, all Ready; returns them. */
export async function waitForReadyPods(
  kube: Kube,
  namespace: string,
  labelSelector: string,
  count: number,
  timeoutMs = 60_000,
): Promise<k8s.V1Pod[]> {
  return await until(`${count} Ready pods ${labelSelector} in ${namespace}`, timeoutMs, async () => {
    const all = (await kube.core.listNamespacedPod({ namespace, labelSelector })).items;
    return all.length === count && all.every((p) => !p.metadata?.deletionTimestamp && isReady(p))
      ? all
      : undefined;
  });
}

/** Waits until the Deployment's controller has seen its spec and all replicas are updated and Ready. */
export async function waitForDeployment(
  kube: Kube,
  namespace: string,
  name: string,
  timeoutMs = 60_000,
): Promise<k8s.V1Deployment> {
  return await until(`Deployment ${namespace}/${name} ready`, timeoutMs, async () => {
    const d = await kube.apps.readNamespacedDeployment({ namespace, name });
    const want = d.spec?.replicas ?? 1;
    const s = d.status;
    const done = (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
      s?.updatedReplicas === want && s?.readyReplicas === want && s?.replicas === want;
    return done ? d : undefined;
  });
}

/**
 * Waits until the disruption controller has processed the PDB's current spec (observedGeneration) and it
 * allows `disruptionsAllowed` disruptions.
 */
export async function waitForPdb(
  kube: Kube,
  namespace: string,
  name: string,
  disruptionsAllowed: number,
  timeoutMs = 30_000,
): Promise<k8s.V1PodDisruptionBudget> {
  return await until(`PDB ${namespace}/${name} allowing ${disruptionsAllowed}`, timeoutMs, async () => {
    const pdb = await kube.policy.readNamespacedPodDisruptionBudget({ namespace, name });
    const seen = (pdb.status?.observedGeneration ?? 0) >= (pdb.metadata?.generation ?? 1);
    return seen && pdb.status?.disruptionsAllowed === disruptionsAllowed ? pdb : undefined;
  });
}
