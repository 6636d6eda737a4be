/**
 * The harness's own Kubernetes client: `@kubernetes/client-node`'s full generated API. The harness creates
 * Nodes, Pods, PDBs, ServiceAccounts and tokens and patches statuses, none of which the daemon does, so it does
 * not use the daemon's lean port (lib/kube/mod.ts). Same property names as the port (core, coord, apps, policy,
 * events, watch), so harness code reads the same; the patch types here are client-node's request options.
 * Errors are client-node's `ApiException`; lib/kube's `apiStatus`, `isNotFound` etc. read them too.
 */
import * as k8s from "@kubernetes/client-node";

export interface TestKube {
  readonly kc: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  readonly coord: k8s.CoordinationV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly policy: k8s.PolicyV1Api;
  readonly events: k8s.EventsV1Api;
  readonly watch: k8s.Watch;
}

export function makeTestKube(kc: k8s.KubeConfig): TestKube {
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    coord: kc.makeApiClient(k8s.CoordinationV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    policy: kc.makeApiClient(k8s.PolicyV1Api),
    events: kc.makeApiClient(k8s.EventsV1Api),
    watch: new k8s.Watch(kc),
  };
}

/** A client for the kubeconfig file at `path`. */
export function loadTestKube(path: string): TestKube {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return makeTestKube(kc);
}

/** Request options for a JSON merge patch (client-node defaults to JSON Patch otherwise). */
export const MERGE_PATCH = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
export const JSON_PATCH = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch);
export const STRATEGIC_MERGE_PATCH = k8s.setHeaderOptions(
  "Content-Type",
  k8s.PatchStrategy.StrategicMergePatch,
);
