/**
 * The post-reboot health gate (issue 16, item 1) with real daemon processes on the cluster with the real
 * controllers (tests/harness/controllers.ts): what "the workloads recovered" means is up to the ReplicaSet
 * controller, the scheduler and kwok's pods, never to the test.
 *
 * - Evicted pods of a Deployment that no other node fits stay Pending: the node keeps its slot until
 *   --recovery-timeout, and the next node does not start before.
 * - With --wait-for-workloads a rolling reboot of 5 nodes never starts a node while the Deployment is below its
 *   ready count. Its pods are slow to start (kreboot.test/start-delay), so without the gate the next node would
 *   start while the replacements of the last one's pods are still starting. "Never" is checked in the API
 *   server's own order of writes: each slot acquisition against the ReplicaSet's status just before it.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { LOCK_LABEL } from "../../lib/lock/slots.ts";
import { type Daemon, startCluster, type TestCluster } from "../harness/mod.ts";
import { SafetyMonitor } from "../harness/monitor.ts";
import { eventually, installKreboot, schedulable, slotsFree } from "./support.ts";

const WORK = "work";

/** The time of a daemon's JSON log line, in ms. */
async function lineTime(d: Daemon, match: (e: Record<string, unknown>) => boolean, timeoutMs: number) {
  const e = await d.waitForJson(match, timeoutMs);
  return Date.parse(String(e.time));
}

/** Every version of the objects under `path` from now on, each with its resourceVersion as a number. */
async function history<T extends k8s.KubernetesObject>(
  cluster: TestCluster,
  path: string,
  labelSelector: string,
  list: () => Promise<{ items: T[]; metadata?: k8s.V1ListMeta }>,
) {
  const seen: { rv: number; obj: T }[] = [];
  const rvOf = (o: T) => Number(o.metadata?.resourceVersion ?? "0");
  const first = await list();
  for (const obj of first.items) seen.push({ rv: rvOf(obj), obj });
  let broken: unknown;
  const ctl = await cluster.kube.watch.watch(
    path,
    { labelSelector, resourceVersion: first.metadata?.resourceVersion ?? "0" },
    (type, obj) => {
      if (type === "ADDED" || type === "MODIFIED") seen.push({ rv: rvOf(obj as T), obj: obj as T });
    },
    (err) => (broken = err ?? "ended"),
  );
  return {
    seen,
    stop: () => {
      const b = broken;
      ctl.abort();
      return b;
    },
  };
}

Deno.test("post-reboot health gate e2e", async (t) => {
  await using cluster = await startCluster({ controllers: true });
  await cluster.ensureNamespace(WORK);

  await t.step(
    "evicted pods that no other node fits keep the slot until --recovery-timeout; the next node waits",
    async () => {
      const install = await installKreboot(cluster, "hg");
      // Only hg-a fits the Deployment's pods: evicted, they stay Pending while hg-a is cordoned.
      await cluster.createNode("hg-a", { pool: "hg-web" });
      await cluster.createNode("hg-b", { pool: "hg" });
      await cluster.createDeployment(WORK, "web", { pool: "hg-web", replicas: 1 });
      await cluster.waitForDeployment(WORK, "web");
      const args = [...install.args, "--period=1h", "--wait-for-workloads", "--recovery-timeout=15s"];
      const a = await cluster.startDaemon("hg-a", {
        kubeconfig: install.kubeconfig,
        args,
        rebootRequired: true,
      });
      await a.waitForJson((e) => e.reason === "SlotAcquired", 60_000);
      const b = await cluster.startDaemon("hg-b", {
        kubeconfig: install.kubeconfig,
        args,
        rebootRequired: true,
      });
      const confirmed = await lineTime(a, (e) => e.reason === "RebootConfirmed", 90_000);
      // What the drain evicted is on the slot Lease, for the daemon that started after the reboot.
      const lease = (await cluster.kube.coord.listNamespacedLease({
        namespace: install.namespace,
        labelSelector: `${LOCK_LABEL}=hg`,
      })).items.find((l) => l.spec?.holderIdentity === "hg-a");
      assert.match(lease?.metadata?.annotations?.["kreboot.dev/evicted"] ?? "", /ReplicaSet\/work\/web-/);
      const pending = await cluster.kube.core.listNamespacedPod({
        namespace: WORK,
        labelSelector: "app=web",
      });
      assert.ok(
        pending.items.every((p) => p.status?.phase === "Pending"),
        "the ReplicaSet's replacement has nowhere to run",
      );
      const timedOut = await a.waitForJson((e) => e.reason === "RecoveryIncomplete", 60_000);
      assert.match(String(timedOut.msg), /ReplicaSet work\/web-\w+ to have 1 ready \(has 0\)/);
      const bGotIt = await lineTime(b, (e) => e.reason === "SlotAcquired", 60_000);
      assert.ok(
        bGotIt - confirmed >= 14_000,
        `hg-b took the slot ${
          bGotIt - confirmed
        } ms after hg-a's reboot: not before --recovery-timeout (15 s)`,
      );
      // Uncordoned at the timeout, hg-a takes the pod back.
      await cluster.waitForDeployment(WORK, "web", 60_000);
      await b.waitForReboots(1, 90_000);
      for (const n of ["hg-a", "hg-b"]) {
        await eventually(
          `${n} schedulable again`,
          30_000,
          async () => (await schedulable(cluster, n)) || undefined,
        );
      }
      await a.stop();
      await b.stop();
    },
  );

  await t.step(
    "--wait-for-workloads: a rolling reboot of 5 nodes never starts a node while the Deployment is short",
    async () => {
      const install = await installKreboot(cluster, "ww");
      const nodes = ["ww-1", "ww-2", "ww-3", "ww-4", "ww-5"];
      for (const n of nodes) await cluster.createNode(n, { pool: "ww" });
      await cluster.createDeployment(WORK, "api", { pool: "ww", replicas: 5, startSeconds: 10 });
      await cluster.waitForDeployment(WORK, "api", 60_000);
      const replicaSets = await history<k8s.V1ReplicaSet>(
        cluster,
        `/apis/apps/v1/namespaces/${WORK}/replicasets`,
        "app=api",
        () => cluster.kube.apps.listNamespacedReplicaSet({ namespace: WORK, labelSelector: "app=api" }),
      );
      const leases = await history<k8s.V1Lease>(
        cluster,
        `/apis/coordination.k8s.io/v1/namespaces/${install.namespace}/leases`,
        `${LOCK_LABEL}=ww`,
        () =>
          cluster.kube.coord.listNamespacedLease({
            namespace: install.namespace,
            labelSelector: `${LOCK_LABEL}=ww`,
          }),
      );
      const monitor = await SafetyMonitor.start(cluster.kube, {
        dsName: install.dsName,
        namespace: install.namespace,
        concurrency: 1,
        nodeFilter: (n) => nodes.includes(n),
      });
      const daemons: Daemon[] = [];
      for (const n of nodes) {
        const d = await cluster.startDaemon(n, {
          kubeconfig: install.kubeconfig,
          args: [...install.args, "--period=1h", "--wait-for-workloads"],
          rebootRequired: true,
          rebootHooks: monitor.rebootHooks,
        });
        monitor.attach(d);
        daemons.push(d);
      }
      for (const d of daemons) await d.waitForReboots(1, 240_000);
      await eventually("slots free", 60_000, async () => (await slotsFree(cluster, "ww")) || undefined);
      await cluster.waitForDeployment(WORK, "api", 60_000);
      for (const d of daemons) await d.stop();
      await monitor.stop();
      const rsBroken = replicaSets.stop();
      const leaseBroken = leases.stop();
      assert.equal(rsBroken, undefined, "the ReplicaSet watch ran throughout");
      assert.equal(leaseBroken, undefined, "the Lease watch ran throughout");
      assert.deepEqual(monitor.violations, [], monitor.describe());

      // Each acquisition (a slot Lease write that names a new holder) against the ReplicaSet just before it.
      const holders = new Map<string, string>();
      const starts: { node: string; ready: number; wanted: number }[] = [];
      for (const { rv, obj } of leases.seen.sort((x, y) => x.rv - y.rv)) {
        const name = obj.metadata?.name ?? "";
        const holder = obj.spec?.holderIdentity ?? "";
        if (nodes.includes(holder) && holders.get(name) !== holder) {
          const rs = replicaSets.seen.filter((s) => s.rv < rv).sort((x, y) => x.rv - y.rv).at(-1)?.obj;
          starts.push({
            node: holder,
            ready: rs?.status?.readyReplicas ?? 0,
            wanted: rs?.spec?.replicas ?? -1,
          });
        }
        holders.set(name, holder);
      }
      assert.deepEqual(starts.map((s) => s.node).sort(), nodes, "each node took a slot once");
      const short = starts.filter((s) => s.ready < s.wanted);
      assert.deepEqual(short, [], "no node started while the Deployment was below its ready count");
      const ready = replicaSets.seen.map((s) => s.obj.status?.readyReplicas ?? 0);
      assert.ok(Math.min(...ready) < 5, `the reboots did take pods away for a while (ready: ${ready})`);
      for (const d of daemons) assert.equal(d.reboots, 1, `${d.node} rebooted once`);
    },
  );

  cluster.cp.assertControllersRunning();
});
