import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { type Pod, selectPodsToDrain, type SkipReason } from "../../../lib/drain/pods.ts";

const NOW = new Date("2026-03-01T12:00:00Z");

interface Spec {
  name: string;
  owner?: { kind: string; apiVersion?: string; controller?: boolean };
  mirror?: boolean;
  emptyDir?: boolean;
  phase?: string;
  /** Seconds before NOW the pod got its deletion timestamp. */
  terminatingFor?: number;
}

function pod(s: Spec): Pod {
  const metadata: k8s.V1ObjectMeta = { namespace: "ns", name: s.name, uid: `uid-${s.name}` };
  if (s.owner) {
    metadata.ownerReferences = [{
      apiVersion: s.owner.apiVersion ?? "apps/v1",
      kind: s.owner.kind,
      name: "owner",
      uid: "owner-uid",
      controller: s.owner.controller ?? true,
    }];
  }
  if (s.mirror) metadata.annotations = { "kubernetes.io/config.mirror": "abc" };
  if (s.terminatingFor !== undefined) {
    metadata.deletionTimestamp = new Date(NOW.getTime() - s.terminatingFor * 1000);
  }
  return {
    metadata,
    spec: {
      nodeName: "n1",
      containers: [{ name: "c" }],
      ...(s.emptyDir ? { volumes: [{ name: "v", emptyDir: {} }] } : {}),
    },
    status: { phase: s.phase ?? "Running" },
  };
}

type Outcome = "evict" | "delete" | SkipReason;

const TABLE: { spec: Spec; skipWait?: number; want: Outcome }[] = [
  { spec: { name: "rs", owner: { kind: "ReplicaSet" } }, want: "evict" },
  { spec: { name: "sts", owner: { kind: "StatefulSet" } }, want: "evict" },
  { spec: { name: "job", owner: { kind: "Job", apiVersion: "batch/v1" } }, want: "evict" },
  {
    spec: { name: "crd-owned", owner: { kind: "Rollout", apiVersion: "argoproj.io/v1alpha1" } },
    want: "evict",
  },
  { spec: { name: "bare" }, want: "evict" },
  { spec: { name: "non-controller-owner", owner: { kind: "ReplicaSet", controller: false } }, want: "evict" },
  { spec: { name: "emptydir", owner: { kind: "ReplicaSet" }, emptyDir: true }, want: "evict" },
  { spec: { name: "bare-emptydir", emptyDir: true }, want: "evict" },
  { spec: { name: "pending", owner: { kind: "ReplicaSet" }, phase: "Pending" }, want: "evict" },
  { spec: { name: "unknown-phase", phase: "Unknown" }, want: "evict" },
  { spec: { name: "ds", owner: { kind: "DaemonSet" } }, want: "daemonset" },
  { spec: { name: "ds-emptydir", owner: { kind: "DaemonSet" }, emptyDir: true }, want: "daemonset" },
  // Only apps/v1 DaemonSets count as such for kubectl; another API group's "DaemonSet" is just a controller.
  {
    spec: { name: "ds-other-group", owner: { kind: "DaemonSet", apiVersion: "example.com/v1" } },
    want: "evict",
  },
  { spec: { name: "ds-succeeded", owner: { kind: "DaemonSet" }, phase: "Succeeded" }, want: "delete" },
  { spec: { name: "mirror", mirror: true }, want: "mirror" },
  { spec: { name: "mirror-succeeded", mirror: true, phase: "Succeeded" }, want: "mirror" },
  {
    spec: { name: "succeeded", owner: { kind: "Job", apiVersion: "batch/v1" }, phase: "Succeeded" },
    want: "delete",
  },
  { spec: { name: "failed", phase: "Failed" }, want: "delete" },
  { spec: { name: "failed-emptydir", phase: "Failed", emptyDir: true }, want: "delete" },
  // Terminating pods: skipped only when older than a positive --skip-wait-for-delete-timeout.
  { spec: { name: "term-old-nolimit", owner: { kind: "ReplicaSet" }, terminatingFor: 3600 }, want: "evict" },
  {
    spec: { name: "term-old", owner: { kind: "ReplicaSet" }, terminatingFor: 61 },
    skipWait: 60,
    want: "terminating",
  },
  {
    spec: { name: "term-edge", owner: { kind: "ReplicaSet" }, terminatingFor: 60 },
    skipWait: 60,
    want: "evict",
  },
  {
    spec: { name: "term-young", owner: { kind: "ReplicaSet" }, terminatingFor: 5 },
    skipWait: 60,
    want: "evict",
  },
  {
    spec: { name: "term-old-ds", owner: { kind: "DaemonSet" }, terminatingFor: 120 },
    skipWait: 60,
    want: "terminating",
  },
  { spec: { name: "term-old-mirror", mirror: true, terminatingFor: 120 }, skipWait: 60, want: "terminating" },
  {
    spec: { name: "term-old-done", phase: "Succeeded", terminatingFor: 120 },
    skipWait: 60,
    want: "terminating",
  },
];

function outcome(sel: ReturnType<typeof selectPodsToDrain>, name: string): Outcome[] {
  const is = (p: Pod) => p.metadata?.name === name;
  return [
    ...sel.evict.filter(is).map((): Outcome => "evict"),
    ...sel.delete.filter(is).map((): Outcome => "delete"),
    ...sel.skip.filter((s) => is(s.pod)).map((s): Outcome => s.reason),
  ];
}

for (const row of TABLE) {
  Deno.test(`selectPodsToDrain: ${row.spec.name} (skip-wait ${row.skipWait ?? 0}s) -> ${row.want}`, () => {
    const sel = selectPodsToDrain(
      [pod(row.spec)],
      { skipWaitForDeleteTimeoutSeconds: row.skipWait ?? 0 },
      NOW,
    );
    assert.deepEqual(outcome(sel, row.spec.name), [row.want]);
  });
}

Deno.test("selectPodsToDrain: a mixed node keeps order and puts every pod in exactly one list", () => {
  const pods = TABLE.filter((r) => r.skipWait === undefined).map((r) => pod(r.spec));
  const sel = selectPodsToDrain(pods, { skipWaitForDeleteTimeoutSeconds: 0 }, NOW);
  assert.equal(sel.evict.length + sel.delete.length + sel.skip.length, pods.length);
  assert.deepEqual(sel.delete.map((p) => p.metadata?.name), [
    "ds-succeeded",
    "succeeded",
    "failed",
    "failed-emptydir",
  ]);
  assert.deepEqual(sel.skip.map((s) => [s.pod.metadata?.name, s.reason]), [
    ["ds", "daemonset"],
    ["ds-emptydir", "daemonset"],
    ["mirror", "mirror"],
    ["mirror-succeeded", "mirror"],
  ]);
  assert.deepEqual(sel.evict.map((p) => p.metadata?.name), [
    "rs",
    "sts",
    "job",
    "crd-owned",
    "bare",
    "non-controller-owner",
    "emptydir",
    "bare-emptydir",
    "pending",
    "unknown-phase",
    "ds-other-group",
    "term-old-nolimit",
  ]);
});

Deno.test("selectPodsToDrain: deletion timestamps given as strings (raw JSON) are understood", () => {
  const p = pod({ name: "raw", owner: { kind: "ReplicaSet" } });
  (p.metadata as Record<string, unknown>).deletionTimestamp = "2026-03-01T11:00:00Z";
  const sel = selectPodsToDrain([p], { skipWaitForDeleteTimeoutSeconds: 60 }, NOW);
  assert.deepEqual(sel.skip.map((s) => s.reason), ["terminating"]);
});

Deno.test("selectPodsToDrain: an empty node selects nothing", () => {
  assert.deepEqual(selectPodsToDrain([], { skipWaitForDeleteTimeoutSeconds: 0 }, NOW), {
    evict: [],
    delete: [],
    skip: [],
  });
});
