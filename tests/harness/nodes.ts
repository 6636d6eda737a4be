/**
 * Simulated nodes: Node objects whose status the harness writes the way a kubelet would (Ready condition,
 * `nodeInfo.bootID`). No kubelet and no node-lifecycle controller run, so nothing else changes them.
 */
import type * as k8s from "@kubernetes/client-node";
import { MERGE_PATCH, STRATEGIC_MERGE_PATCH, type TestKube as Kube } from "./full_kube.ts";

export interface NodeOptions {
  /** Defaults to a random UUID, like a kernel's boot_id. */
  bootID?: string;
  labels?: Record<string, string>;
  unschedulable?: boolean;
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
 * it, so the harness removes it.
 */
export async function createNode(kube: Kube, name: string, opts: NodeOptions = {}): Promise<k8s.V1Node> {
  await kube.core.createNode({
    body: {
      metadata: {
        name,
        labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", ...opts.labels },
      },
      spec: { unschedulable: opts.unschedulable ?? false },
    },
  });
  await kube.core.patchNode({ name, body: { spec: { taints: null } } }, MERGE_PATCH);
  return await kube.core.patchNodeStatus({
    name,
    body: {
      status: {
        conditions: [readyCondition(true)],
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
  const node = await kube.core.readNode({ name });
  return node.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
}

export async function deleteNode(kube: Kube, name: string): Promise<void> {
  await kube.core.deleteNode({ name });
}
