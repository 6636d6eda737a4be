/**
 * Odd objects in the cluster, with real daemons: garbage in kreboot's own slot Lease (repaired, not trusted),
 * a Lease that names a node as holder with an unreadable record, a node that reports no bootID, a pod without
 * owner references, and an unreadable kured lock annotation on the DaemonSet.
 */
import assert from "node:assert/strict";
import { MERGE_PATCH } from "../harness/full_kube.ts";
import { LOCK_LABEL, SLOT_ANNOTATIONS } from "../../lib/lock/slots.ts";
import { type Daemon, startCluster, type TestCluster } from "../harness/mod.ts";
import { SafetyMonitor } from "../harness/monitor.ts";
import { eventually, installKreboot, schedulable } from "./support.ts";

const NS = "kube-system";

async function plantLease(
  cluster: TestCluster,
  dsName: string,
  name: string,
  holder: string,
  annotations: Record<string, string>,
): Promise<void> {
  await cluster.kube.coord.createNamespacedLease({
    namespace: NS,
    body: {
      metadata: { name, labels: { [LOCK_LABEL]: dsName }, annotations },
      spec: { holderIdentity: holder, leaseTransitions: 0 },
    },
  });
}

async function lease(cluster: TestCluster, name: string) {
  return await cluster.kube.coord.readNamespacedLease({ namespace: NS, name });
}

/** Runs `check`; on failure, adds the daemon's last log lines to the error. */
async function explained<T>(d: Daemon, check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (e) {
    const tail = d.lines.slice(-25).map((l) => `  ${l.text.slice(0, 300)}`).join("\n");
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- ${d.node}, last lines ---\n${tail}`);
  }
}

Deno.test("hostile objects e2e", async (t) => {
  await using cluster = await startCluster();
  await cluster.ensureNamespace("work");

  await t.step(
    "garbage in the slot Lease is repaired; a bare pod is drained; the node reboots once",
    async () => {
      const install = await installKreboot(cluster, "odd");
      await plantLease(cluster, "odd", "odd-slot-0", "Robert'); DROP TABLE nodes;--", {
        [SLOT_ANNOTATIONS.phase]: "💥💥",
        [SLOT_ANNOTATIONS.bootId]: "x".repeat(5_000),
        [SLOT_ANNOTATIONS.wasUnschedulable]: "maybe",
        [SLOT_ANNOTATIONS.releaseAfter]: "yesterday",
      });
      await cluster.createNode("odd-a");
      await cluster.createPod("work", { name: "odd-bare", node: "odd-a", owner: "none" });
      cluster.startKubelet({ nodes: ["odd-a"] });
      const mon = await SafetyMonitor.start(cluster.kube, {
        dsName: "odd",
        namespace: NS,
        concurrency: 1,
        nodeFilter: (n) => n.startsWith("odd-"),
      });
      const a = await cluster.startDaemon("odd-a", {
        kubeconfig: install.kubeconfig,
        rebootRequired: true,
        rebootHooks: mon.rebootHooks,
        args: [...install.args, "--period=1h"],
      });
      mon.attach(a);
      await a.waitForReboots(1, 60_000);
      await eventually(
        "odd-a schedulable",
        30_000,
        async () => (await schedulable(cluster, "odd-a")) || undefined,
      );
      await eventually(
        "slot free",
        30_000,
        async () => (await lease(cluster, "odd-slot-0")).spec?.holderIdentity ? undefined : true,
      );
      assert.ok(
        a.lines.some((l) => /repairing a slot Lease/.test(l.text)),
        "the daemon said it repaired the Lease",
      );
      const l = await lease(cluster, "odd-slot-0");
      const ann = l.metadata?.annotations ?? {};
      assert.ok(
        !Object.values(ann).some((v) =>
          v === "maybe" || v === "yesterday" || v.includes("💥") || v.length > 1000
        ),
        `garbage left in the Lease: ${JSON.stringify(ann).slice(0, 300)}`,
      );
      const pods = await cluster.kube.core.listNamespacedPod({ namespace: "work" });
      assert.ok(
        !pods.items.some((p) => p.metadata?.name === "odd-bare"),
        "the bare pod was drained",
      );
      await new Promise((r) => setTimeout(r, 3_000));
      assert.equal(a.reboots, 1);
      await mon.stop();
      assert.equal(mon.violations.length, 0, mon.describe());
      await a.stop();
    },
  );

  await t.step(
    "a Lease naming a node that needs no reboot, with an unreadable record: no reboot",
    async () => {
      const install = await installKreboot(cluster, "planted");
      await cluster.createNode("planted-a");
      await plantLease(cluster, "planted", "planted-slot-0", "planted-a", {
        [SLOT_ANNOTATIONS.phase]: "???",
        [SLOT_ANNOTATIONS.wasUnschedulable]: "perhaps",
      });
      const a = await cluster.startDaemon("planted-a", {
        kubeconfig: install.kubeconfig,
        args: [...install.args, "--period=2s"],
      });
      await eventually(
        "the planted slot given back",
        60_000,
        async () => (await lease(cluster, "planted-slot-0")).spec?.holderIdentity ? undefined : true,
      );
      await new Promise((r) => setTimeout(r, 3_000));
      assert.equal(a.reboots, 0, "a node without a sentinel is never rebooted, whatever a Lease says");
      assert.ok(await schedulable(cluster, "planted-a"));
      await a.stop();
    },
  );

  await t.step("a node that reports no bootID reboots exactly once", async () => {
    const install = await installKreboot(cluster, "noboot");
    await cluster.createNode("noboot-a", { bootID: "" });
    const mon = await SafetyMonitor.start(cluster.kube, {
      dsName: "noboot",
      namespace: NS,
      concurrency: 1,
      nodeFilter: (n) => n.startsWith("noboot-"),
    });
    const a = await cluster.startDaemon("noboot-a", {
      kubeconfig: install.kubeconfig,
      rebootRequired: true,
      rebootHooks: mon.rebootHooks,
      args: [...install.args, "--period=2s"],
    });
    mon.attach(a);
    await a.waitForReboots(1, 60_000);
    await explained(
      a,
      () =>
        eventually(
          "noboot-a schedulable",
          30_000,
          async () => (await schedulable(cluster, "noboot-a")) || undefined,
        ),
    );
    await eventually(
      "slot free",
      30_000,
      async () => (await lease(cluster, "noboot-slot-0")).spec?.holderIdentity ? undefined : true,
    );
    await new Promise((r) => setTimeout(r, 5_000));
    assert.equal(a.reboots, 1, "rebooted exactly once");
    await mon.stop();
    assert.equal(mon.violations.length, 0, mon.describe());
    await a.stop();
  });

  await t.step(
    "a slot Lease deleted under its draining holder: the holder stops within seconds",
    async () => {
      const install = await installKreboot(cluster, "stolen");
      for (const n of ["stolen-a", "stolen-b"]) {
        await cluster.createNode(n);
        await cluster.createPod("work", { name: `${n}-web`, node: n, owner: "ReplicaSet" });
      }
      // a's pod takes long to terminate: a drains for a while.
      const slowKubelet = cluster.startKubelet({ nodes: ["stolen-a"], delayMs: 12_000 });
      cluster.startKubelet({ nodes: ["stolen-b"] });
      const mon = await SafetyMonitor.start(cluster.kube, {
        dsName: "stolen",
        namespace: NS,
        concurrency: 1,
        nodeFilter: (n) => n.startsWith("stolen-"),
      });
      const args = [...install.args, "--period=2s"];
      const a = await cluster.startDaemon("stolen-a", {
        kubeconfig: install.kubeconfig,
        rebootRequired: true,
        rebootHooks: mon.rebootHooks,
        args,
      });
      mon.attach(a);
      await a.waitForJson((e) => e.phase === "draining", 30_000);
      const b = await cluster.startDaemon("stolen-b", {
        kubeconfig: install.kubeconfig,
        rebootRequired: true,
        rebootHooks: mon.rebootHooks,
        args,
      });
      mon.attach(b);
      await b.waitForJson((e) => e.phase === "waiting", 30_000);
      // Someone deletes the Lease a holds (kubectl delete lease, a cleanup script...).
      const since = a.lines.length;
      const deletedAt = Date.now();
      await cluster.kube.coord.deleteNamespacedLease({ namespace: NS, name: "stolen-slot-0" });
      // b takes the freed slot at once; a finds out by its slot guard and retreats instead of draining on.
      await a.waitForJson((e) => /the slot is gone/.test(String(e.msg)), 15_000, { since });
      assert.ok(Date.now() - deletedAt < 10_000, `a noticed after ${Date.now() - deletedAt} ms`);
      await a.waitForReboots(1, 90_000);
      await b.waitForReboots(1, 90_000);
      for (const n of ["stolen-a", "stolen-b"]) {
        await eventually(
          `${n} schedulable`,
          30_000,
          async () => (await schedulable(cluster, n)) || undefined,
        );
      }
      await mon.stop();
      // Deleting a held Lease destroys the only record that a was disrupted: until a notices (≤ 3 s) both nodes are
      // disrupted. That overlap, and nothing else, is what the monitor may have seen.
      assert.ok(
        mon.violations.every((v) => v.rule === "disruption" && /stolen-a, stolen-b/.test(v.detail)),
        mon.describe(),
      );
      assert.equal(a.reboots, 1);
      assert.equal(b.reboots, 1);
      await a.stop();
      await b.stop();
      await slowKubelet.stop();
    },
  );

  await t.step("an unreadable kured lock annotation pauses reboots until it is removed", async () => {
    const install = await installKreboot(cluster, "kuredlock");
    const annotation = "weave.works/kured-node-lock";
    await cluster.kube.apps.patchNamespacedDaemonSet({
      namespace: NS,
      name: "kuredlock",
      body: { metadata: { annotations: { [annotation]: '{"nodeID": "manual", oops' } } },
    }, MERGE_PATCH);
    await cluster.createNode("kuredlock-a");
    const a = await cluster.startDaemon("kuredlock-a", {
      kubeconfig: install.kubeconfig,
      rebootRequired: true,
      args: [...install.args, "--period=2s"],
    });
    const blocked = await a.waitForJson((e) => e.reason === "RebootBlocked", 30_000);
    assert.equal(blocked.blockReason, "paused", JSON.stringify(blocked));
    assert.equal(a.reboots, 0);
    await cluster.kube.apps.patchNamespacedDaemonSet({
      namespace: NS,
      name: "kuredlock",
      body: { metadata: { annotations: { [annotation]: null } } },
    }, MERGE_PATCH);
    await a.waitForReboots(1, 60_000);
    await eventually(
      "kuredlock-a schedulable",
      30_000,
      async () => (await schedulable(cluster, "kuredlock-a")) || undefined,
    );
    await a.stop();
  });
});
