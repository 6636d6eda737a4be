/**
 * The post-reboot health gate's I/O (lib/safety/recovery.ts) against a fake API: what the drain will evict is
 * recorded on the slot before the first eviction (merged with an earlier run's, written only when it
 * changed), and after the reboot the recorded workloads are read back and judged; what cannot be read is
 * waited for, a deleted workload is not.
 */
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { Logger } from "../../../lib/log.ts";
import { decodeEvicted, encodeEvicted } from "../../../lib/safety/evicted.ts";
import { HealthCheck, recordEvicted } from "../../../lib/safety/recovery.ts";

const owned = (
  ns: string,
  name: string,
  kind: string,
  owner: string,
  labels: Record<string, string> = {},
) => ({
  metadata: {
    namespace: ns,
    name,
    labels,
    ownerReferences: [{ apiVersion: "apps/v1", kind, name: owner, uid: "u", controller: true }],
  },
});

const PDBS: k8s.V1PodDisruptionBudget[] = [
  {
    metadata: { namespace: "shop", name: "web", generation: 1 },
    spec: { selector: { matchLabels: { app: "web" } } },
    status: {
      observedGeneration: 1,
      currentHealthy: 1,
      desiredHealthy: 2,
      disruptionsAllowed: 0,
      expectedPods: 2,
    },
  },
];

function apiError(code: number) {
  return new k8s.ApiException(
    code,
    "failed",
    JSON.stringify({
      kind: "Status",
      code,
      reason: "Forbidden",
      message: 'statefulsets.apps "db" is forbidden',
    }),
    {},
  );
}

Deno.test("recordEvicted: the workloads and PDBs of the pods to evict go on the slot, merged, once", async () => {
  const kube = {
    policy: {
      listPodDisruptionBudgetForAllNamespaces: () => Promise.resolve({ items: PDBS, metadata: {} }),
    },
  };
  const writes: string[] = [];
  const slot = {
    held: {
      phase: "cordoning",
      evicted: encodeEvicted({
        workloads: [{ kind: "StatefulSet", namespace: "data", name: "db" }],
        pdbs: [],
        dropped: 0,
      }),
    } as { phase?: string; evicted?: string },
    update(f: { phase: string; evicted: string }) {
      writes.push(f.evicted);
      slot.held = { phase: f.phase, evicted: f.evicted };
      return Promise.resolve();
    },
  };
  const pods = [
    owned("shop", "web-1", "ReplicaSet", "web-7d9", { app: "web" }),
    owned("shop", "job-1", "Job", "j"),
  ];
  await recordEvicted(kube as never, slot, pods);
  assert.equal(writes.length, 1);
  assert.deepEqual(decodeEvicted(writes[0]).record, {
    workloads: [
      { kind: "ReplicaSet", namespace: "shop", name: "web-7d9" },
      { kind: "StatefulSet", namespace: "data", name: "db" },
    ],
    pdbs: [{ namespace: "shop", name: "web" }],
    dropped: 0,
  }, "the earlier run's StatefulSet is kept, the Job has no replicas to wait for");
  assert.equal(slot.held.phase, "draining", "the phase goes in the same write");
  await recordEvicted(kube as never, slot, pods);
  assert.equal(writes.length, 1, "nothing new: no write");
  slot.held = { ...slot.held, phase: "cordoning" };
  await recordEvicted(kube as never, slot, pods);
  assert.equal(writes.length, 2, "the same record, but the phase is not on the Lease yet: one write");

  const failing = { ...slot, update: () => Promise.reject(new Error("slot kured-slot-0 is no longer held")) };
  await assert.rejects(
    recordEvicted(kube as never, failing, [owned("x", "y", "ReplicaSet", "z")]),
    /^Error: cannot record what the drain evicts on the slot Lease .* so nothing was evicted: slot kured-slot-0 is no longer held$/,
  );
});

Deno.test("HealthCheck: waits for the recorded workloads; a deleted one is whole, an unreadable one is not", async () => {
  const rs: k8s.V1ReplicaSet = {
    metadata: { namespace: "shop", name: "web-7d9" },
    spec: { replicas: 2, selector: {} },
    status: { replicas: 2, readyReplicas: 1 },
  };
  const pdbs = structuredClone(PDBS);
  let stsAnswer = 404;
  const kube = {
    core: {
      readNode: () =>
        Promise.resolve({
          metadata: { name: "n1" },
          status: { conditions: [{ type: "Ready", status: "True", lastTransitionTime: new Date(0) }] },
        }),
      listPodForAllNamespaces: () => Promise.resolve({ items: [], metadata: {} }),
    },
    apps: {
      readNamespacedReplicaSet: () => Promise.resolve(structuredClone(rs)),
      readNamespacedStatefulSet: () => Promise.reject(apiError(stsAnswer)),
    },
    policy: {
      listPodDisruptionBudgetForAllNamespaces: () => Promise.resolve({ items: pdbs, metadata: {} }),
    },
  };
  const record = encodeEvicted({
    workloads: [
      { kind: "ReplicaSet", namespace: "shop", name: "web-7d9" },
      { kind: "StatefulSet", namespace: "data", name: "db" },
    ],
    pdbs: [{ namespace: "shop", name: "web" }],
    dropped: 0,
  });
  const check = (waitForWorkloads: boolean) =>
    new HealthCheck(kube as never, {
      node: "n1",
      readyForMs: 0,
      recoveryTimeoutMs: 600_000,
      waitForWorkloads,
      evicted: () => record,
      log: new Logger({ format: "json", node: "n1", sink: () => {} }),
      now: () => 1_000,
    });
  assert.deepEqual(await check(false).judge(0), { state: "healthy" }, "without --wait-for-workloads");
  assert.deepEqual(await check(true).judge(0), {
    state: "waiting",
    waitingFor: [
      "ReplicaSet shop/web-7d9 to have 2 ready (has 1)",
      "PodDisruptionBudget shop/web to have 2 healthy pods (has 1)",
    ],
  });
  rs.status = { replicas: 2, readyReplicas: 2 };
  pdbs[0]!.status = { ...pdbs[0]!.status!, currentHealthy: 2 };
  assert.deepEqual(
    await check(true).judge(0),
    { state: "healthy" },
    "the StatefulSet was deleted: nothing to wait for",
  );
  stsAnswer = 403;
  const v = await check(true).judge(0);
  assert.equal(v.state, "waiting");
  assert.match(
    v.state === "waiting" ? v.waitingFor.join() : "",
    /^StatefulSet data\/db \(HTTP 403 Forbidden: statefulsets.apps "db" is forbidden\) to be readable$/,
  );
});

Deno.test("HealthCheck: while the node is not Ready long enough, its pods and workloads are not read", async () => {
  const reads: string[] = [];
  let readySince = 0;
  const kube = {
    core: {
      readNode: () =>
        Promise.resolve({
          metadata: { name: "n1" },
          status: {
            conditions: [{ type: "Ready", status: "True", lastTransitionTime: new Date(readySince) }],
          },
        }),
      listPodForAllNamespaces: () => {
        reads.push("pods");
        return Promise.resolve({ items: [], metadata: {} });
      },
    },
    apps: {},
    policy: {},
  };
  let now = 10_000;
  const check = new HealthCheck(kube as never, {
    node: "n1",
    readyForMs: 5_000,
    recoveryTimeoutMs: 600_000,
    waitForWorkloads: false,
    evicted: () => undefined,
    log: new Logger({ format: "json", node: "n1", sink: () => {} }),
    now: () => now,
  });
  readySince = 9_000;
  const v = await check.judge(8_000);
  assert.equal(v.state, "waiting");
  assert.equal(v.state === "waiting" && v.retryAtMs, 14_000, "back when the Ready streak is complete");
  assert.deepEqual(reads, [], "no list of pods yet");
  now = 14_000;
  assert.deepEqual(await check.judge(8_000), { state: "healthy" });
  assert.deepEqual(reads, ["pods"], "the DaemonSet pods are read once the streak is complete");
});
