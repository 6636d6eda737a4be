/**
 * The safety monitor catches what it promises to catch: a referee that never blows the whistle proves nothing.
 * Each rule is broken on purpose by hand (no daemon), against the real apiserver.
 */
import assert from "node:assert/strict";
import { MERGE_PATCH } from "../harness/full_kube.ts";
import { CORDONED_BY_KREBOOT } from "../../lib/drain/node.ts";
import { LOCK_LABEL } from "../../lib/lock/slots.ts";
import { type Daemon, startCluster } from "../harness/mod.ts";
import { SafetyMonitor } from "../harness/monitor.ts";
import { eventually } from "./support.ts";

const NS = "kube-system";

/** Just enough of a Daemon for the monitor: a node, its log lines, a live process, a sentinel path. */
function fakeDaemon(node: string, phase: string, sentinel = "/nonexistent/sentinel"): Daemon {
  return {
    node,
    sentinel,
    lines: [{ stream: "stdout", boot: 0, text: JSON.stringify({ phase }) }],
    proc: { exited: undefined },
  } as unknown as Daemon;
}

Deno.test("safety monitor: each rule fires when broken", async () => {
  await using cluster = await startCluster();
  await cluster.ensureNamespace(NS);
  await cluster.ensureNamespace("work");
  for (const n of ["m-a", "m-b", "m-c"]) await cluster.createNode(n);
  await cluster.createNode("m-admin", { unschedulable: true });
  await cluster.createPod("work", { name: "m-a-web", node: "m-a", owner: "ReplicaSet" });
  const mon = await SafetyMonitor.start(cluster.kube, {
    dsName: "mon",
    namespace: NS,
    concurrency: 2,
    cordonGraceMs: 1_000,
    orphanGraceMs: 1_000,
    nodeFilter: (n) => n.startsWith("m-"),
  });
  const cordon = (node: string) =>
    cluster.kube.core.patchNode({
      name: node,
      body: { metadata: { annotations: { [CORDONED_BY_KREBOOT]: "true" } }, spec: { unschedulable: true } },
    }, MERGE_PATCH);
  const rules = () => new Set(mon.violations.map((v) => v.rule));
  try {
    // 1 + 2: three nodes cordoned by kreboot with concurrency 2, none holding a slot.
    for (const n of ["m-a", "m-b", "m-c"]) await cordon(n);
    await eventually("disruption", 10_000, () => Promise.resolve(rules().has("disruption") || undefined));
    await eventually(
      "cordon-without-slot",
      10_000,
      () => Promise.resolve(rules().has("cordon-without-slot") || undefined),
    );
    // 3: the administrator's cordon lifted.
    await cluster.kube.core.patchNode(
      { name: "m-admin", body: { spec: { unschedulable: false } } },
      MERGE_PATCH,
    );
    await eventually(
      "admin-uncordoned",
      10_000,
      () => Promise.resolve(rules().has("admin-uncordoned") || undefined),
    );
    // 4: a slot held by a node that does not exist while another waits.
    mon.attach(fakeDaemon("m-b", "waiting"));
    await cluster.kube.coord.createNamespacedLease({
      namespace: NS,
      body: {
        metadata: { name: "mon-slot-0", labels: { [LOCK_LABEL]: "mon" } },
        spec: { holderIdentity: "m-gone" },
      },
    });
    await eventually(
      "orphaned-slot",
      10_000,
      () => Promise.resolve(rules().has("orphaned-slot") || undefined),
    );
    // 5 + 6: a reboot of a schedulable node with a pod on it and no sentinel.
    await cluster.kube.core.patchNode({ name: "m-c", body: { spec: { unschedulable: false } } }, MERGE_PATCH);
    await cluster.createPod("work", { name: "m-c-web", node: "m-c", owner: "ReplicaSet" });
    await mon.rebootHooks.before?.(fakeDaemon("m-c", "rebooting"));
    assert.ok(rules().has("reboot-without-drain"), mon.describe());
    assert.ok(rules().has("reboot-without-sentinel"), mon.describe());
    assert.ok(
      mon.violations.some((v) => v.rule === "reboot-without-drain" && /work\/m-c-web/.test(v.detail)),
      "names the pod left behind",
    );
  } finally {
    await mon.stop();
  }
  assert.equal(rules().size, 6, mon.describe());

  // group-disruption: with a group label, two nodes of one zone down at once breaks a per-group limit of 1,
  // while two of different zones do not; a group's slot Lease counts as a slot.
  for (const [n, zone] of [["g-a1", "a"], ["g-a2", "a"], ["g-b1", "b"]] as const) {
    await cluster.createNode(n, { labels: { zone } });
  }
  const grouped = await SafetyMonitor.start(cluster.kube, {
    dsName: "gmon",
    namespace: NS,
    concurrency: 3,
    groupLabel: "zone",
    groupConcurrency: 1,
    cordonGraceMs: 1_000,
    nodeFilter: (n) => n.startsWith("g-"),
  });
  try {
    await cluster.kube.coord.createNamespacedLease({
      namespace: NS,
      body: {
        metadata: {
          name: "gmon-g-a-0000000000-slot-0",
          labels: { [LOCK_LABEL]: "gmon", "kreboot.dev/group": "a-0000000000" },
        },
        spec: { holderIdentity: "g-a1" },
      },
    });
    await cordon("g-a1");
    await cordon("g-b1");
    await new Promise((r) => setTimeout(r, 1_000));
    assert.deepEqual(grouped.violations.filter((v) => v.rule === "group-disruption"), [], grouped.describe());
    await cordon("g-a2");
    await eventually(
      "group-disruption",
      10_000,
      () => Promise.resolve(grouped.violations.some((v) => v.rule === "group-disruption") || undefined),
    );
    assert.equal(grouped.maxDisruptedPerGroup.get("a"), 2);
    assert.equal(grouped.maxDisruptedPerGroup.get("b"), 1);
  } finally {
    await grouped.stop();
  }
  assert.ok(
    !grouped.violations.some((v) => v.rule === "cordon-without-slot" && v.node === "g-a1"),
    grouped.describe(),
  );
});
