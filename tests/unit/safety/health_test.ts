import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import type { EvictedRecord } from "../../../lib/safety/evicted.ts";
import { type HealthInputs, judgeHealth, unreadyDaemonPods } from "../../../lib/safety/health.ts";

const T0 = Date.parse("2026-11-20T10:00:00Z");
const MIN = 60_000;

function node(ready: boolean, since: number): k8s.V1Node {
  return {
    metadata: { name: "n1" },
    status: {
      conditions: [{ type: "Ready", status: ready ? "True" : "False", lastTransitionTime: new Date(since) }],
    },
  };
}

function dsPod(name: string, ready: boolean, deleting = false): k8s.V1Pod {
  return {
    metadata: {
      namespace: "kube-system",
      name,
      ownerReferences: [{
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        name: "cni",
        uid: "u",
        controller: true,
      }],
      ...(deleting ? { deletionTimestamp: new Date(T0) } : {}),
    },
    status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  };
}

const base = (more: Partial<HealthInputs> = {}): HealthInputs => ({
  nowMs: T0 + 5 * MIN,
  rebootConfirmedAtMs: T0,
  readyForMs: 0,
  recoveryTimeoutMs: 10 * MIN,
  node: node(true, T0 + MIN),
  podsOnNode: [dsPod("cni-a", true)],
  ...more,
});

Deno.test("health: Ready with Ready DaemonSet pods is healthy at once with --post-reboot-ready-for=0", () => {
  assert.deepEqual(judgeHealth(base()), { state: "healthy" });
});

Deno.test("health: the Ready streak must last --post-reboot-ready-for; the verdict says when to look again", () => {
  const v = judgeHealth(base({ readyForMs: 10 * MIN, recoveryTimeoutMs: 30 * MIN }));
  assert.deepEqual(v, {
    state: "waiting",
    waitingFor: ["the node to be Ready without a break for 10m0s (Ready for 4m0s)"],
    retryAtMs: T0 + 11 * MIN,
  });
  assert.deepEqual(
    judgeHealth(base({ readyForMs: 10 * MIN, recoveryTimeoutMs: 30 * MIN, nowMs: T0 + 11 * MIN })),
    { state: "healthy" },
  );
});

Deno.test("health: a streak that would end after --recovery-timeout is looked at again at the timeout", () => {
  const v = judgeHealth(base({ readyForMs: 10 * MIN, recoveryTimeoutMs: 8 * MIN }));
  assert.equal(v.state === "waiting" && v.retryAtMs, T0 + 8 * MIN);
  const late = judgeHealth(base({ readyForMs: 10 * MIN, recoveryTimeoutMs: 8 * MIN, nowMs: T0 + 8 * MIN }));
  assert.equal(late.state, "timed-out");
});

Deno.test("health: a Ready condition older than the reboot counts from the reboot only", () => {
  // The kubelet came back so fast that its Ready condition never changed: lastTransitionTime is yesterday.
  const v = judgeHealth(
    base({ node: node(true, T0 - 24 * 60 * MIN), readyForMs: 10 * MIN, recoveryTimeoutMs: 30 * MIN }),
  );
  assert.equal(v.state, "waiting");
  assert.equal(v.state === "waiting" && v.retryAtMs, T0 + 10 * MIN);
});

Deno.test("health: not Ready, or an unready DaemonSet pod, waits and polls", () => {
  assert.deepEqual(judgeHealth(base({ node: node(false, T0 + MIN) })), {
    state: "waiting",
    waitingFor: ["the node to be Ready"],
  });
  assert.deepEqual(
    judgeHealth(base({ podsOnNode: [dsPod("cni-a", false), dsPod("old", false, true), dsPod("csi", true)] })),
    { state: "waiting", waitingFor: ["DaemonSet pods to be Ready: kube-system/cni-a"] },
  );
});

Deno.test("health: past --recovery-timeout the verdict is a failure that says what never came right", () => {
  const v = judgeHealth(base({ node: node(false, T0), nowMs: T0 + 10 * MIN }));
  assert.deepEqual(v, {
    state: "timed-out",
    nodeReady: false,
    why:
      "not healthy within --recovery-timeout (10m0s) after the reboot: still waiting for the node to be Ready",
  });
  // A Ready node whose DaemonSet pods, or something unreadable, never came right: nodeReady says it apart.
  const pods = judgeHealth(
    base({
      nowMs: T0 + 10 * MIN,
      podsOnNode: [dsPod("cni-a", false)],
      unreadable: ["ReplicaSet shop/web: HTTP 403"],
    }),
  );
  assert.deepEqual(pods, {
    state: "timed-out",
    nodeReady: true,
    why:
      "not healthy within --recovery-timeout (10m0s) after the reboot: still waiting for DaemonSet pods to be " +
      "Ready: kube-system/cni-a; ReplicaSet shop/web: HTTP 403 to be readable",
  });
  // Healthy wins over a late look: the timeout only applies while something is missing.
  assert.deepEqual(judgeHealth(base({ nowMs: T0 + 60 * MIN })), { state: "healthy" });
});

const RECORD: EvictedRecord = {
  workloads: [
    { kind: "ReplicaSet", namespace: "shop", name: "web-7d9f" },
    { kind: "StatefulSet", namespace: "data", name: "db" },
    { kind: "ReplicaSet", namespace: "shop", name: "gone-123" },
  ],
  pdbs: [{ namespace: "shop", name: "web" }, { namespace: "data", name: "db" }],
  dropped: 0,
};

function rs(
  ns: string,
  name: string,
  replicas: number | undefined,
  ready: number | undefined,
): k8s.V1ReplicaSet {
  return {
    metadata: { namespace: ns, name },
    ...(replicas === undefined ? {} : { spec: { replicas, selector: {} } }),
    status: { replicas: replicas ?? 1, ...(ready === undefined ? {} : { readyReplicas: ready }) },
  };
}

function sts(ns: string, name: string, replicas: number, ready: number): k8s.V1StatefulSet {
  return {
    metadata: { namespace: ns, name },
    spec: { replicas, selector: {}, serviceName: name, template: {} },
    status: { replicas, readyReplicas: ready },
  };
}

function pdbObj(
  ns: string,
  name: string,
  healthy: number,
  desired: number,
  stale = false,
): k8s.V1PodDisruptionBudget {
  return {
    metadata: { namespace: ns, name, generation: stale ? 2 : 1 },
    status: {
      observedGeneration: 1,
      currentHealthy: healthy,
      desiredHealthy: desired,
      disruptionsAllowed: 0,
      expectedPods: 3,
    },
  };
}

Deno.test("health --wait-for-workloads: every recorded workload back to spec and every PDB met", () => {
  const whole = {
    replicaSets: [rs("shop", "web-7d9f", 3, 3)],
    statefulSets: [sts("data", "db", 3, 3)],
    pdbs: [pdbObj("shop", "web", 3, 2), pdbObj("data", "db", 3, 3)],
  };
  assert.deepEqual(judgeHealth(base({ workloads: { record: RECORD, objects: whole } })), {
    state: "healthy",
  });
  const broken = {
    replicaSets: [rs("shop", "web-7d9f", 3, 1)],
    statefulSets: [sts("data", "db", 3, 2)],
    pdbs: [pdbObj("shop", "web", 1, 2), pdbObj("data", "db", 3, 3, true)],
  };
  assert.deepEqual(judgeHealth(base({ workloads: { record: RECORD, objects: broken } })), {
    state: "waiting",
    waitingFor: [
      "ReplicaSet shop/web-7d9f to have 3 ready (has 1)",
      "StatefulSet data/db to have 3 ready (has 2)",
      "PodDisruptionBudget shop/web to have 2 healthy pods (has 1)",
      "PodDisruptionBudget data/db to catch up with its latest spec",
    ],
  });
});

Deno.test("health --wait-for-workloads: defaults (no spec.replicas = 1, no readyReplicas = 0) and scaled-down sets", () => {
  const objects = (set: k8s.V1ReplicaSet) => ({ replicaSets: [set], statefulSets: [], pdbs: [] });
  const record: EvictedRecord = { workloads: [RECORD.workloads[0]!], pdbs: [], dropped: 0 };
  const v = judgeHealth(
    base({ workloads: { record, objects: objects(rs("shop", "web-7d9f", undefined, undefined)) } }),
  );
  assert.deepEqual(v, { state: "waiting", waitingFor: ["ReplicaSet shop/web-7d9f to have 1 ready (has 0)"] });
  // A rollout scaled the old ReplicaSet to 0: nothing to wait for.
  assert.deepEqual(
    judgeHealth(base({ workloads: { record, objects: objects(rs("shop", "web-7d9f", 0, undefined)) } })),
    { state: "healthy" },
  );
});

Deno.test("unreadyDaemonPods ignores pods of other owners and pods being deleted", () => {
  const other: k8s.V1Pod = { metadata: { namespace: "shop", name: "web" }, status: {} };
  assert.deepEqual(unreadyDaemonPods([other, dsPod("gone", false, true), dsPod("up", true)]), []);
  assert.deepEqual(unreadyDaemonPods([dsPod("down", false)]), ["kube-system/down"]);
});
