/** Shared pieces of the drain e2e test (tests/e2e/drain_test.ts): its RBAC, logger, options and waits. */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import type { DrainOptions } from "../../lib/drain/mod.ts";
import type { TestKube as Kube } from "../harness/full_kube.ts";
import { Logger } from "../../lib/log.ts";
import type { TestCluster } from "../harness/mod.ts";

export const SA_NS = "kube-system";
export const SA = "drain-e2e";

/** Exactly what a drain needs, and nothing more. */
export const DRAIN_RBAC = [
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: SA },
    rules: [
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "get", "watch", "delete"] },
      { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
      { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["list"] },
    ],
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: SA },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: SA },
    subjects: [{ kind: "ServiceAccount", name: SA, namespace: SA_NS }],
  },
];

export interface Collected {
  log: Logger;
  lines: Record<string, unknown>[];
}

export function collectingLogger(node: string): Collected {
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ format: "json", node, sink: (l) => lines.push(JSON.parse(l)) });
  return { log, lines };
}

export function drainOpts(log: Logger, over: Partial<DrainOptions> = {}): DrainOptions {
  return {
    log,
    gracePeriodSeconds: -1,
    timeoutMs: 0,
    skipWaitForDeleteTimeoutSeconds: 0,
    podSelector: "",
    pollIntervalMs: 200,
    ...over,
  };
}

export async function podNames(kube: Kube, node: string): Promise<string[]> {
  const list = await kube.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` });
  return list.items.map((p) => p.metadata?.name ?? "").sort();
}

export async function readNode(kube: Kube, node: string): Promise<k8s.V1Node> {
  return await kube.core.readNode({ name: node });
}

export async function until(what: string, timeoutMs: number, cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`${what}: not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Bare pods `names` on `node` labelled `app=<app>` and a PDB over them with an integer minAvailable (the
 * disruption controller needs no owner for that), once the controller says it allows `allowed` disruptions.
 */
export async function pdbPods(
  c: TestCluster,
  ns: string,
  node: string,
  pdb: string,
  app: string,
  pods: string[],
  allowed: number,
): Promise<void> {
  for (const name of pods) await c.createBarePod(ns, { name, node, labels: { app } });
  await c.createPdb(ns, pdb, { matchLabels: { app }, minAvailable: pods.length - allowed });
  await c.waitForPdb(ns, pdb, allowed);
}

/** Pod names (namespace/name) that went through Terminating before they were removed, from a watch. */
export async function watchTerminations(c: TestCluster, ns: string) {
  const terminating = new Set<string>();
  const ac = await c.kube.watch.watch(`/api/v1/namespaces/${ns}/pods`, {}, (type, obj) => {
    if (type === "MODIFIED" && obj?.metadata?.deletionTimestamp) {
      terminating.add(`${ns}/${obj.metadata.name}`);
    }
  }, () => {});
  return { terminating, stop: () => ac.abort() };
}

export const names = (pods: k8s.V1Pod[]) => pods.map((p) => p.metadata?.name ?? "").sort();
