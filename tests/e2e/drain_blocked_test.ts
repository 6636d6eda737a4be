/**
 * Drain blockers with reasons, with a real daemon on the cluster with the real controllers (issue 16, item 4):
 * an eviction a ValidatingAdmissionPolicy denies is retried, not fatal, and the policy's message is in the node
 * condition (so in `kreboot status`), a DrainBlocked Event and `kreboot_drain_blocked_pods{reason}`; with
 * --drain-disable-eviction-after a pod its PDB keeps (as the disruption controller says) is deleted instead,
 * with an Event and a notification. The pods are a StatefulSet's, placed by the scheduler and run by kwok.
 */
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { MERGE_PATCH } from "../harness/full_kube.ts";
import { startCluster } from "../harness/mod.ts";
import {
  eventually,
  evictionDenyingPolicy,
  installKreboot,
  metricSample,
  notificationSink,
  runKreboot,
  schedulable,
} from "./support.ts";

const MESSAGE = "the drain cleaner moves this pod itself";

type Cluster = Awaited<ReturnType<typeof startCluster>>;

/**
 * A ValidatingAdmissionPolicy (and binding, both named `name`) that denies every eviction in `namespace` with
 * `message`, as a drain cleaner's webhook does; resolves once the apiserver enforces it.
 */
async function denyEvictions(cluster: Cluster, namespace: string, name: string, message: string) {
  await cluster.applyObjects(evictionDenyingPolicy(name, namespace, message));
  // The apiserver loads a new policy within a few seconds.
  const pods = await cluster.kube.core.listNamespacedPod({ namespace });
  const pod = pods.items[0]?.metadata?.name ?? "";
  await eventually(`policy ${name} denies evictions`, 30_000, async () => {
    try {
      await cluster.kube.core.createNamespacedPodEviction({
        namespace,
        name: pod,
        body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { namespace, name: pod } },
        dryRun: "All",
      });
      return undefined;
    } catch (e) {
      return String(e).includes(message) || undefined;
    }
  }, 500);
}

async function nodeEvents(cluster: Cluster, node: string) {
  const list = await cluster.kube.events.listNamespacedEvent({ namespace: "default" });
  return list.items.filter((e) => e.regarding?.name === node);
}

Deno.test("drain blockers e2e", async (t) => {
  await using cluster = await startCluster({ controllers: true });

  await t.step(
    "a policy denying evictions is retried, and its message is in kreboot status until it lets go",
    async () => {
      const install = await installKreboot(cluster, "dbv");
      await cluster.ensureNamespace("dbv");
      await cluster.createNode("dbv-a", { pool: "dbv" });
      await cluster.createStatefulSet("dbv", "broker", { pool: "dbv", labels: { app: "kafka" } });
      await cluster.waitForReadyPods("dbv", "app=kafka", 1);
      await denyEvictions(cluster, "dbv", "dbv-no-evictions", MESSAGE);
      const d = await cluster.startDaemon("dbv-a", {
        kubeconfig: install.kubeconfig,
        args: [...install.args, "--period=1h"],
        rebootRequired: true,
      });
      const blocked = await d.waitForJson((e) => e.reason === "DrainBlocked", 60_000);
      assert.match(
        String(blocked.msg),
        new RegExp(
          `^drain blocked by 1 pod: pod dbv/broker-0: eviction denied by ValidatingAdmissionPolicy "dbv-no-evictions" \\(HTTP \\d+\\): ${MESSAGE}$`,
        ),
      );
      await eventually("kreboot status names the denial", 30_000, async () => {
        const r = await runKreboot(cluster.cp.adminKubeconfig, ["status", "-o", "json", ...install.args]);
        const node = (JSON.parse(r.stdout).nodes as { node: string; reason?: string; message?: string }[])
          .find((n) => n.node === "dbv-a");
        return node?.reason === "DrainBlocked" && node.message?.includes(MESSAGE) || undefined;
      }, 1_000);
      assert.equal(await metricSample(d, 'kreboot_drain_blocked_pods{node="dbv-a",reason="admission"}'), 1);
      const events = await eventually("the DrainBlocked Event", 30_000, async () => {
        const ev = (await nodeEvents(cluster, "dbv-a")).filter((e) => e.reason === "DrainBlocked");
        return ev.length > 0 ? ev : undefined;
      });
      assert.equal(events[0]?.type, "Warning");
      assert.equal(d.reboots, 0, "a denied eviction does not fail the drain, nor let it reboot");
      // The drain cleaner moved the pod: it lets evictions through again, and the drain asks once more.
      await k8s.KubernetesObjectApi.makeApiClient(cluster.kube.kc).delete({
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicyBinding",
        metadata: { name: "dbv-no-evictions" },
      });
      await d.waitForReboots(1, 120_000);
      await eventually(
        "dbv-a schedulable",
        30_000,
        async () => (await schedulable(cluster, "dbv-a")) || undefined,
      );
      await d.stop();
    },
  );

  await t.step(
    "--drain-disable-eviction-after deletes a pod its PDB keeps, with an Event and a notification",
    async () => {
      await using hook = notificationSink();
      {
        const install = await installKreboot(cluster, "dbd");
        await cluster.ensureNamespace("dbd");
        await cluster.createNode("dbd-a", { pool: "dbd" });
        await cluster.createStatefulSet("dbd", "db", { pool: "dbd" });
        await cluster.waitForReadyPods("dbd", "app=db", 1);
        // The PDB allows one disruption at first, so the pre-flight lets the node take a slot; a policy holds the
        // first evictions back until the PDB is tightened (the disruption controller then allows none).
        await cluster.createPdb("dbd", "db", { matchLabels: { app: "db" }, minAvailable: 0 });
        await cluster.waitForPdb("dbd", "db", 1);
        await denyEvictions(cluster, "dbd", "dbd-hold", "not yet");
        const d = await cluster.startDaemon("dbd-a", {
          kubeconfig: install.kubeconfig,
          args: [
            ...install.args,
            "--period=1h",
            "--drain-disable-eviction-after=20s",
            `--notify-url=${hook.url}`,
          ],
          rebootRequired: true,
        });
        await d.waitForJson((e) => e.reason === "DrainBlocked" && /not yet/.test(String(e.msg)), 60_000);
        await cluster.kube.policy.patchNamespacedPodDisruptionBudget({
          namespace: "dbd",
          name: "db",
          body: { spec: { minAvailable: 1 } },
        }, MERGE_PATCH);
        await cluster.waitForPdb("dbd", "db", 0);
        await k8s.KubernetesObjectApi.makeApiClient(cluster.kube.kc).delete({
          apiVersion: "admissionregistration.k8s.io/v1",
          kind: "ValidatingAdmissionPolicyBinding",
          metadata: { name: "dbd-hold" },
        });
        await d.waitForJson(
          (e) =>
            e.reason === "DrainBlocked" &&
            /PodDisruptionBudget dbd\/db allows 0 disruptions/.test(String(e.msg)),
          60_000,
        );
        const bypassed = await d.waitForJson((e) => e.reason === "EvictionBypassed", 60_000);
        assert.match(
          String(bypassed.msg),
          /^deleted pod dbd\/db-0 instead of evicting it, bypassing its PodDisruptionBudget .*PodDisruptionBudget dbd\/db allows 0/,
        );
        await d.waitForReboots(1, 90_000);
        const ev = await eventually("the EvictionBypassed Event", 30_000, async () => {
          const found = (await nodeEvents(cluster, "dbd-a")).filter((e) => e.reason === "EvictionBypassed");
          return found.length > 0 ? found : undefined;
        });
        assert.equal(ev.length, 1);
        assert.equal(ev[0]?.type, "Warning");
        await eventually(
          "the notification",
          15_000,
          () => hook.messages.find((m) => /deleted pod dbd\/db-0 instead of evicting it/.test(m)),
        );
        await d.stop();
      }
    },
  );
});
