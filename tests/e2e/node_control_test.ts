/**
 * The daemon and the operators' per-node control on the real apiserver: a node held with `kreboot hold` never
 * takes a slot until `kreboot unhold` (status, its condition and its metrics say held, by whom and why), also
 * when the hold comes while it waits for a slot; a node asked to reboot with `kreboot request-reboot` reboots
 * without a sentinel, through the usual gates, and the request is gone afterwards. The operator runs the real
 * CLI with credentials of their own; the daemons run with the generated ServiceAccount and RBAC.
 */
import assert from "node:assert/strict";
import type { StatusReport } from "../../lib/cli/status.ts";
import { REQUEST_ANNOTATION } from "../../lib/node_control/mod.ts";
import { findCondition } from "../../lib/report/condition.ts";
import { startCluster, type TestCluster } from "../harness/mod.ts";
import { eventually, type Install, installKreboot, runKreboot, schedulable, slotsFree } from "./support.ts";

const OPERATOR = "system:serviceaccount:ops:alice";

/** An operator whose own credentials may read and patch nodes (what hold/unhold/request-reboot need). */
async function operator(cluster: TestCluster): Promise<string> {
  await cluster.applyObjects([
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "e2e-node-operator" },
      rules: [{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "e2e-node-operator" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "e2e-node-operator" },
      subjects: [{ kind: "ServiceAccount", name: "alice", namespace: "ops" }],
    },
  ]);
  return await cluster.serviceAccountKubeconfig("ops", "alice");
}

async function kreboot(kubeconfig: string, args: string[]): Promise<string> {
  const r = await runKreboot(kubeconfig, args);
  assert.equal(r.code, 0, `kreboot ${args.join(" ")}:\n${r.stderr}`);
  return r.stdout;
}

async function statusJson(cluster: TestCluster, install: Install): Promise<StatusReport> {
  const r = await runKreboot(cluster.cp.adminKubeconfig, ["status", "-o", "json", ...install.args]);
  assert.equal(r.code, 0, `status -o json failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as StatusReport;
}

/** The value of one series on the daemon's /metrics, or undefined when it is absent. */
async function metric(port: number, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("holds and reboot requests on the daemon e2e", async (t) => {
  await using cluster = await startCluster();
  await cluster.ensureNamespace("work");
  const alice = await operator(cluster);
  const install = await installKreboot(cluster, "ctl");
  const base = [...install.args, "--period=1h"];

  await t.step(
    "a node held while it waits for a slot never takes one until unheld; status, condition and metrics say who and why",
    async () => {
      // ctl-busy drains a pod no kubelet finishes yet: it holds the only slot while ctl-held waits.
      await cluster.createNode("ctl-busy");
      await cluster.createPod("work", { name: "busy-web", node: "ctl-busy", owner: "ReplicaSet" });
      await cluster.createNode("ctl-held");
      await cluster.createPod("work", { name: "held-web", node: "ctl-held", owner: "ReplicaSet" });
      const heldKubelet = cluster.startKubelet({ nodes: ["ctl-held"] });
      const busy = await cluster.startDaemon("ctl-busy", { kubeconfig: install.kubeconfig, args: base });
      await busy.setRebootRequired(true);
      await busy.waitForJson((e) => e.phase === "draining", 60_000);
      const held = await cluster.startDaemon("ctl-held", { kubeconfig: install.kubeconfig, args: base });
      await held.setRebootRequired(true);
      await held.waitForJson((e) => e.reason === "RebootBlocked" && e.blockReason === "lock", 60_000);

      const out = await kreboot(alice, ["hold", "ctl-held", "--reason", "NIC firmware debugging"]);
      assert.match(out, /held by system:serviceaccount:ops:alice/);
      // The watch of its Node wakes the waiting daemon: blocked by the hold, not by the lock any more.
      const blocked = await held.waitForJson((e) => e.blockReason === "held", 20_000);
      assert.match(
        String(blocked.msg),
        new RegExp(`^held by ${OPERATOR} since \\S+: NIC firmware debugging; \`kreboot unhold ctl-held\``),
      );
      const s = await eventually("status says ctl-held is held", 30_000, async () => {
        const r = await statusJson(cluster, install);
        return r.nodes.find((n) => n.node === "ctl-held")?.blockedBy === "held" ? r : undefined;
      });
      assert.match(s.nodes.find((n) => n.node === "ctl-held")?.message ?? "", /NIC firmware debugging/);
      assert.deepEqual(
        s.holds.map((h) => [h.node, h.by, h.reason]),
        [["ctl-held", OPERATOR, "NIC firmware debugging"]],
      );
      const text = await runKreboot(cluster.cp.adminKubeconfig, ["status", ...install.args]);
      assert.match(text.stdout, new RegExp(`ctl-held\\s+${OPERATOR}\\s+\\S+\\s+NIC firmware debugging`));
      const cond = findCondition(await cluster.kube.core.readNode({ name: "ctl-held" }));
      assert.equal(cond?.reason, "BlockedByHold");
      assert.match(cond?.message ?? "", new RegExp(`held by ${OPERATOR}.*NIC firmware debugging`));
      const port = held.metricsPort;
      assert.equal(
        await metric(port, `kreboot_held{node="ctl-held",by="${OPERATOR}",reason="NIC firmware debugging"}`),
        1,
      );
      assert.equal(await metric(port, 'kreboot_reboot_blocked{node="ctl-held",reason="held"}'), 1);

      // The slot frees: ctl-busy finishes and gives it back. The held node stays where it is.
      const busyKubelet = cluster.startKubelet({ nodes: ["ctl-busy"] });
      await busy.waitForReboots(1, 60_000);
      await eventually("the slot free", 60_000, async () => (await slotsFree(cluster, "ctl")) || undefined);
      await new Promise((r) => setTimeout(r, 5_000));
      assert.equal(held.reboots, 0, "a held node never reboots");
      assert.ok(await slotsFree(cluster, "ctl"), "a held node never takes a slot");
      assert.ok(await schedulable(cluster, "ctl-held"), "nor is it cordoned");
      assert.ok(!held.lines.some((l) => /slot acquired/.test(l.text)), "it never even took the slot");

      // Unheld: it goes on within moments, without waiting for its period.
      await kreboot(alice, ["unhold", "ctl-held"]);
      await held.waitForReboots(1, 60_000);
      await eventually(
        "ctl-held schedulable",
        30_000,
        async () => (await schedulable(cluster, "ctl-held")) || undefined,
      );
      await eventually(
        "the slot free again",
        30_000,
        async () => (await slotsFree(cluster, "ctl")) || undefined,
      );
      assert.equal(
        await metric(held.metricsPort, 'kreboot_held{node="ctl-held",by="",reason=""}'),
        0,
        "not held any more",
      );
      for (const d of [busy, held]) await d.stop();
      await heldKubelet.stop();
      await busyKubelet.stop();
    },
  );

  await t.step("a requested node reboots without a sentinel; the request is gone afterwards", async () => {
    await cluster.createNode("ctl-req");
    await cluster.createPod("work", { name: "req-web", node: "ctl-req", owner: "ReplicaSet" });
    const kubelet = cluster.startKubelet({ nodes: ["ctl-req"] });
    const d = await cluster.startDaemon("ctl-req", { kubeconfig: install.kubeconfig, args: base });
    await d.waitForLine(/kreboot starting/, 60_000);
    await new Promise((r) => setTimeout(r, 6_000)); // past the first sentinel check: idle, nothing to do
    assert.ok(!d.lines.some((l) => /RebootRequired/.test(l.text)), "no sentinel, no reboot of its own");

    const out = await kreboot(alice, ["request-reboot", "ctl-req", "--reason", "kernel parameter change"]);
    assert.match(out, /requested by system:serviceaccount:ops:alice/);
    // Idle with --period=1h: only the watch of its Node can make it act this soon.
    const required = await d.waitForJson((e) => e.reason === "RebootRequired", 20_000);
    assert.equal(required.msg, `reboot requested by ${OPERATOR}: kernel parameter change`);
    await d.waitForReboots(1, 60_000);
    await eventually("the request removed after the reboot", 30_000, async () => {
      const node = await cluster.kube.core.readNode({ name: "ctl-req" });
      return node.metadata?.annotations?.[REQUEST_ANNOTATION] === undefined ? node : undefined;
    });
    await d.waitForLine(/cleared the reboot request this reboot satisfied/, 10_000);
    await eventually(
      "ctl-req schedulable",
      30_000,
      async () => (await schedulable(cluster, "ctl-req")) || undefined,
    );
    await eventually("the slot free", 30_000, async () => (await slotsFree(cluster, "ctl")) || undefined);
    const r = await statusJson(cluster, install);
    assert.deepEqual(r.requests, [], "status shows no request any more");
    await new Promise((res) => setTimeout(res, 3_000));
    assert.equal(d.reboots, 1, "one reboot, never a second for the same request");
    await d.stop();
    await kubelet.stop();
  });
});
