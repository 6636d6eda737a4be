/**
 * kreboot against workloads that only a cluster with the real controllers has (tests/harness/controllers.ts):
 * a Deployment whose PodDisruptionBudget the disruption controller keeps, pods the ReplicaSet brings back on
 * other nodes through the scheduler, and a rolling reboot that must leave the Deployment whole. The safety
 * monitor (tests/harness/monitor.ts) referees both.
 */
import assert from "node:assert/strict";
import type { StatusReport } from "../../lib/cli/status.ts";
import { MERGE_PATCH } from "../harness/full_kube.ts";
import { isReady, startCluster, type TestCluster } from "../harness/mod.ts";
import { SafetyMonitor } from "../harness/monitor.ts";
import { eventually, type Install, installKreboot, runKreboot, schedulable, slotsFree } from "./support.ts";

const WORK = "work";

async function statusOf(cluster: TestCluster, install: Install, node: string) {
  const r = await runKreboot(cluster.cp.adminKubeconfig, ["status", "-o", "json", ...install.args]);
  assert.equal(r.code, 0, `status -o json failed:\n${r.stderr}`);
  return (JSON.parse(r.stdout) as StatusReport).nodes.find((n) => n.node === node);
}

Deno.test("workloads e2e", async (t) => {
  await using cluster = await startCluster({ controllers: true });
  await cluster.ensureNamespace(WORK);

  await t.step(
    "a PDB minAvailable 2 over 2 replicas keeps the node uncordoned and status says pdb; relaxed, the drain " +
      "moves the pods and one runs elsewhere before the reboot",
    async () => {
      const install = await installKreboot(cluster, "guard");
      // Both replicas on guard-a: guard-b takes pods only once they run.
      await cluster.createNode("guard-a", { pool: "guard" });
      await cluster.createNode("guard-b", { pool: "guard", unschedulable: true });
      await cluster.createDeployment(WORK, "shop", { pool: "guard", replicas: 2 });
      await cluster.waitForDeployment(WORK, "shop");
      await cluster.kube.core.patchNode(
        { name: "guard-b", body: { spec: { unschedulable: false } } },
        MERGE_PATCH,
      );
      await cluster.createPdb(WORK, "shop", { matchLabels: { app: "shop" }, minAvailable: 2 });
      await cluster.waitForPdb(WORK, "shop", 0);

      const monitor = await SafetyMonitor.start(cluster.kube, {
        dsName: install.dsName,
        namespace: install.namespace,
        concurrency: 1,
        nodeFilter: (n) => n.startsWith("guard-"),
      });
      const atReboot: { node: string | undefined; ready: boolean }[] = [];
      const d = await cluster.startDaemon("guard-a", {
        kubeconfig: install.kubeconfig,
        args: [...install.args, "--period=2s"],
        rebootRequired: true,
        rebootHooks: {
          before: async (d) => {
            for (const p of await cluster.livePods(WORK, "app=shop")) {
              atReboot.push({ node: p.spec?.nodeName, ready: isReady(p) });
            }
            await monitor.rebootHooks.before?.(d);
          },
          after: (d) => monitor.rebootHooks.after?.(d),
        },
      });
      monitor.attach(d);

      // Pre-flight: blocked by the PDB, never cordoned, no slot.
      const blocked = await d.waitForJson((e) => e.blockReason === "pdb", 30_000);
      assert.match(String(blocked.msg), /PodDisruptionBudget work\/shop/, JSON.stringify(blocked));
      const status = await eventually("status of guard-a says pdb", 30_000, async () => {
        const n = await statusOf(cluster, install, "guard-a");
        return n?.blockedBy === "pdb" ? n : undefined;
      });
      assert.equal(status.unschedulable, false);
      assert.equal(status.slot, undefined);
      assert.ok(await schedulable(cluster, "guard-a"), "pre-flight keeps the node uncordoned");
      assert.ok(await slotsFree(cluster, "guard"), "and holds no slot");

      // Relaxed to minAvailable 1: one pod may go at a time; the second only once the first runs on guard-b.
      await cluster.kube.policy.patchNamespacedPodDisruptionBudget({
        namespace: WORK,
        name: "shop",
        body: { spec: { minAvailable: 1 } },
      }, MERGE_PATCH);
      await d.waitForReboots(1, 90_000);
      assert.ok(atReboot.length >= 1, "shop pods existed at the reboot");
      assert.ok(
        atReboot.every((p) => p.node === "guard-b"),
        `no shop pod left on guard-a: ${JSON.stringify(atReboot)}`,
      );
      assert.ok(
        atReboot.some((p) => p.ready),
        `an evicted pod ran on guard-b first: ${JSON.stringify(atReboot)}`,
      );

      await eventually(
        "guard-a back in service",
        60_000,
        async () => (await schedulable(cluster, "guard-a")) || undefined,
      );
      await eventually("slot free", 30_000, async () => (await slotsFree(cluster, "guard")) || undefined);
      await cluster.waitForDeployment(WORK, "shop");
      await d.stop();
      await monitor.stop();
      assert.deepEqual(monitor.violations, [], monitor.describe());
      assert.equal(d.reboots, 1);
    },
  );

  await t.step(
    "a rolling reboot of 5 nodes leaves a Deployment of 10 whole: all Running, 10 ready",
    async () => {
      const install = await installKreboot(cluster, "rolling");
      const nodes = ["roll-1", "roll-2", "roll-3", "roll-4", "roll-5"];
      for (const n of nodes) await cluster.createNode(n, { pool: "rolling" });
      await cluster.createDeployment(WORK, "api", { pool: "rolling", replicas: 10 });
      await cluster.waitForDeployment(WORK, "api");
      const first = new Set((await cluster.livePods(WORK, "app=api")).map((p) => p.spec?.nodeName));
      assert.ok(first.size >= 3, `the scheduler spread the pods: ${[...first]}`);

      const monitor = await SafetyMonitor.start(cluster.kube, {
        dsName: install.dsName,
        namespace: install.namespace,
        concurrency: 1,
        nodeFilter: (n) => nodes.includes(n),
      });
      const daemons = [];
      for (const n of nodes) {
        const d = await cluster.startDaemon(n, {
          kubeconfig: install.kubeconfig,
          args: [...install.args, "--period=1h"],
          rebootRequired: true,
          rebootHooks: monitor.rebootHooks,
        });
        monitor.attach(d);
        daemons.push(d);
      }
      for (const d of daemons) await d.waitForReboots(1, 240_000);
      for (const n of nodes) {
        await eventually(
          `${n} back in service`,
          60_000,
          async () => (await schedulable(cluster, n)) || undefined,
        );
      }
      await eventually("slots free", 30_000, async () => (await slotsFree(cluster, "rolling")) || undefined);
      const api = await cluster.waitForDeployment(WORK, "api");
      assert.equal(api.status?.readyReplicas, 10);
      const pods = await cluster.kube.core.listNamespacedPod({ namespace: WORK, labelSelector: "app=api" });
      assert.equal(pods.items.length, 10, "no pod left over or missing");
      for (const p of pods.items) {
        assert.equal(p.status?.phase, "Running", `${p.metadata?.name} is ${p.status?.phase}`);
        assert.ok(isReady(p), `${p.metadata?.name} is Ready`);
        assert.ok(nodes.includes(p.spec?.nodeName ?? ""), `${p.metadata?.name} runs on ${p.spec?.nodeName}`);
      }
      for (const d of daemons) {
        await d.stop();
      }
      await monitor.stop();
      assert.deepEqual(monitor.violations, [], monitor.describe());
      assert.ok(monitor.maxDisrupted <= 1, `at most one node disrupted at a time (${monitor.maxDisrupted})`);
      for (const d of daemons) assert.equal(d.reboots, 1, `${d.node} rebooted once`);
    },
  );

  cluster.cp.assertControllersRunning();
});
