/**
 * Simulated nodes: Node objects whose status a kubelet would write (Ready condition, `nodeInfo.bootID`). On the
 * bare control plane the harness writes it; on the cluster with controllers kwok does (the node carries kwok's
 * annotation) and the harness only writes what a reboot changes. No node-lifecycle controller runs in either.
 */
import type * as k8s from "@kubernetes/client-node";
import { isNotFound } from "../../lib/kube/mod.ts";
import { MERGE_PATCH, STRATEGIC_MERGE_PATCH, type TestKube as Kube } from "./full_kube.ts";
import { sleep } from "../../lib/sleep.ts";
import { KWOK_NODE_ANNOTATION, KWOK_NODE_VALUE } from "./controllers.ts";
import { until } from "./readiness.ts";

export interface NodeOptions {
  /** Defaults to a random UUID, like a kernel's boot_id. */
  bootID?: string;
  labels?: Record<string, string>;
  unschedulable?: boolean;
  /** Hand the node to kwok (annotation `kwok.x-k8s.io/node=fake`), which makes it Ready; default false. */
  kwok?: boolean;
}

/** RFC 3339 with whole seconds, as metav1.Time serializes. */
export function rfc3339(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d+Z$/, "Z");
}

function readyCondition(ready: boolean): Record<string, string> {
  const now = rfc3339();
  return {
    type: "Ready",
    status: ready ? "True" : "False",
    reason: ready ? "KubeletReady" : "KubeletNotReady",
    message: ready ? "kubelet is posting ready status (simulated)" : "node is rebooting (simulated)",
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  };
}

/**
 * Creates a Ready node with a bootID. The TaintNodesByCondition admission plugin puts
 * `node.kubernetes.io/not-ready:NoSchedule` on every new Node and only the node-lifecycle controller would lift
 * it, so the harness removes it. With `kwok`, kwok writes the Ready condition: this waits for it.
 */
export async function createNode(kube: Kube, name: string, opts: NodeOptions = {}): Promise<k8s.V1Node> {
  await kube.core.createNode({
    body: {
      metadata: {
        name,
        labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", ...opts.labels },
        ...(opts.kwok ? { annotations: { [KWOK_NODE_ANNOTATION]: KWOK_NODE_VALUE } } : {}),
      },
      spec: { unschedulable: opts.unschedulable ?? false },
    },
  });
  await kube.core.patchNode({ name, body: { spec: { taints: null } } }, MERGE_PATCH);
  const node = await kube.core.patchNodeStatus({
    name,
    body: {
      status: {
        ...(opts.kwok ? {} : { conditions: [readyCondition(true)] }),
        addresses: [{ type: "InternalIP", address: "127.0.0.1" }, { type: "Hostname", address: name }],
        capacity: { cpu: "2", memory: "8Gi", pods: "110" },
        allocatable: { cpu: "2", memory: "8Gi", pods: "110" },
        nodeInfo: {
          bootID: opts.bootID ?? crypto.randomUUID(),
          machineID: name,
          systemUUID: name,
          kernelVersion: "6.1.0-simulated",
          osImage: "kreboot e2e harness",
          containerRuntimeVersion: "simulated://1.0",
          kubeletVersion: "v1.37.2",
          kubeProxyVersion: "",
          operatingSystem: "linux",
          architecture: "amd64",
        },
      },
    },
  }, STRATEGIC_MERGE_PATCH);
  return opts.kwok ? await waitForReady(kube, name, true) : node;
}

/** Polls until the node's Ready condition is `ready`; fails after `timeoutMs`. */
export function waitForReady(
  kube: Kube,
  name: string,
  ready: boolean,
  timeoutMs = 30_000,
): Promise<k8s.V1Node> {
  return until(`node ${name} ${ready ? "Ready" : "NotReady"}`, timeoutMs, async () => {
    const node = await kube.core.readNode({ name });
    return readyOf(node) === ready ? node : undefined;
  }, 50);
}

function readyOf(node: k8s.V1Node): boolean {
  return node.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
}

/** Sets the Ready condition (strategic merge keys conditions by type, so others stay). */
export async function setNodeReady(kube: Kube, name: string, ready: boolean): Promise<void> {
  await kube.core.patchNodeStatus(
    { name, body: { status: { conditions: [readyCondition(ready)] } } },
    STRATEGIC_MERGE_PATCH,
  );
}

/** Sets `status.nodeInfo.bootID`; returns the new value (a random UUID unless given). */
export async function setBootID(
  kube: Kube,
  name: string,
  bootID: string = crypto.randomUUID(),
): Promise<string> {
  await kube.core.patchNodeStatus(
    { name, body: { status: { nodeInfo: { bootID } } } },
    STRATEGIC_MERGE_PATCH,
  );
  return bootID;
}

export async function getBootID(kube: Kube, name: string): Promise<string> {
  const node = await kube.core.readNode({ name });
  return node.status?.nodeInfo?.bootID ?? "";
}

export async function isNodeReady(kube: Kube, name: string): Promise<boolean> {
  return readyOf(await kube.core.readNode({ name }));
}

export async function deleteNode(kube: Kube, name: string): Promise<void> {
  await kube.core.deleteNode({ name });
}

/**
 * The pod annotation that holds a pod's containers down after a simulated reboot (kwok's pod-running stage in
 * tests/harness/kwok_stages.yaml skips pods that carry it).
 */
export const RESTARTING_ANNOTATION = "kreboot.test/restarting";

/** What a node's status does while the harness simulates its reboot: the kubelet's part. */
export interface RebootSimulation {
  /** The host went down: the node is NotReady and has `bootID`. Safe to call again after a failure. */
  down(name: string, bootID: string): Promise<void>;
  /**
   * The host is up: resolves once the node is Ready. Its pods' containers start `podRestartMs` later (in the
   * background: the daemon is started again meanwhile, as its own pod would be).
   */
  up(
    name: string,
    opts: { podRestartMs: number; retry: <T>(call: () => Promise<T>) => Promise<T> },
  ): Promise<void>;
}

/** On the bare control plane the harness writes the node's status itself; pods stay as they are. */
export function harnessReboots(kube: Kube): RebootSimulation {
  return {
    async down(name, bootID) {
      await setNodeReady(kube, name, false);
      await setBootID(kube, name, bootID);
    },
    async up(name) {
      await setNodeReady(kube, name, true);
    },
  };
}

/**
 * On the cluster with kwok. kwok sets a Ready=False node back to True within milliseconds and never changes a
 * bootID, so for the NotReady window the node is taken from kwok: its annotation goes (kwok drops the node's
 * events from then on), the harness writes NotReady and the new bootID, and puts the annotation back to hand
 * it over again, whereupon kwok's node-ready stage makes it Ready. The pods on the node go NotReady with it
 * (their containers died with the host) and start again `podRestartMs` after the node is Ready, so that
 * kreboot's recovery check (DaemonSet pods Ready on the node) has something to wait for.
 */
export function kwokReboots(
  kube: Kube,
  signal: AbortSignal,
): RebootSimulation & { settled(): Promise<void> } {
  const pending = new Set<Promise<void>>();
  const podsOn = async (name: string) =>
    (await kube.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` })).items
      .filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase === "Running");
  // A pod may be deleted between the list and the patch: then there is nothing to hold down or start.
  const gone = (e: unknown) => {
    if (!isNotFound(e)) throw e;
  };
  const annotatePod = (p: k8s.V1Pod, value: string | null) =>
    kube.core.patchNamespacedPod({
      namespace: p.metadata?.namespace ?? "",
      name: p.metadata?.name ?? "",
      body: { metadata: { annotations: { [RESTARTING_ANNOTATION]: value } } },
    }, MERGE_PATCH).then(() => {}, gone);
  const annotateNode = (name: string, value: string | null) =>
    kube.core.patchNode(
      { name, body: { metadata: { annotations: { [KWOK_NODE_ANNOTATION]: value } } } },
      MERGE_PATCH,
    );
  return {
    async down(name, bootID) {
      await annotateNode(name, null);
      // An event kwok took before the annotation went may still flip Ready back: insist until False holds.
      for (let i = 0;; i++) {
        await setNodeReady(kube, name, false);
        await new Promise((r) => setTimeout(r, 100));
        if (!(await isNodeReady(kube, name))) break;
        if (i === 20) throw new Error(`node ${name}: kwok keeps setting Ready=True after it was unmanaged`);
      }
      await setBootID(kube, name, bootID);
      for (const pod of await podsOn(name)) {
        // Annotation first, so that kwok (which still sees this node's pods) leaves the NotReady status alone.
        await annotatePod(pod, "true");
        await kube.core.patchNamespacedPodStatus({
          namespace: pod.metadata?.namespace ?? "",
          name: pod.metadata?.name ?? "",
          body: {
            status: {
              conditions: [
                { type: "ContainersReady", status: "False", reason: "NodeRebooted" },
                { type: "Ready", status: "False", reason: "NodeRebooted" },
              ],
            },
          },
        }, STRATEGIC_MERGE_PATCH).then(() => {}, gone);
      }
    },
    async up(name, { podRestartMs, retry }) {
      await annotateNode(name, KWOK_NODE_VALUE);
      await waitForReady(kube, name, true);
      const restart = (async () => {
        await sleep(podRestartMs, signal);
        if (signal.aborted) return;
        const pods = await retry(() => podsOn(name));
        for (const pod of pods) {
          if (pod.metadata?.annotations?.[RESTARTING_ANNOTATION]) await retry(() => annotatePod(pod, null));
        }
      })().catch((e) => {
        if (!signal.aborted) console.error(`harness: restarting the pods of ${name} failed: ${String(e)}`);
      });
      pending.add(restart);
      void restart.finally(() => pending.delete(restart));
    },
    async settled() {
      await Promise.all(pending);
    },
  };
}
