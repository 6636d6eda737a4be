/**
 * The whole reboot cycle with real daemon processes (deno run main.ts) on simulated nodes, each with the
 * generated ServiceAccount and RBAC, on a cluster with the real controllers: the DaemonSet of `kreboot
 * manifests` gets its pods from the DaemonSet controller, drained pods come back through their Deployment and
 * the scheduler, and kwok runs them.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { decodeSlot, LOCK_LABEL } from "../../lib/lock/slots.ts";
import {
  type Daemon,
  isReady,
  type PodTemplateOptions,
  startCluster,
  type TestCluster,
} from "../harness/mod.ts";
import { eventually, type Install, installKreboot, schedulable, slotsFree } from "./support.ts";

const NS = "kube-system";

/**
 * Watches Nodes, slot Leases and DaemonSet pods; records the most nodes cordoned at once, the most slot
 * holders, and per node when it was last uncordoned and when its DaemonSet pods were last all Ready.
 */
async function monitor(cluster: TestCluster, dsName: string) {
  const cordoned = new Set<string>();
  const holders = new Map<string, string>();
  const state = { maxCordoned: 0, maxHolders: 0 };
  const uncordonedAt = new Map<string, number>();
  const notReadyDsPods = new Map<string, Set<string>>();
  const dsPodsReadyAt = new Map<string, number>();
  const nodes = await cluster.kube.watch.watch("/api/v1/nodes", {}, (type, obj) => {
    const name = obj?.metadata?.name as string;
    const was = cordoned.has(name);
    if (type !== "DELETED" && obj?.spec?.unschedulable) cordoned.add(name);
    else cordoned.delete(name);
    if (was && !cordoned.has(name)) uncordonedAt.set(name, Date.now());
    state.maxCordoned = Math.max(state.maxCordoned, cordoned.size);
  }, () => {});
  const pods = await cluster.kube.watch.watch("/api/v1/pods", {}, (type, obj) => {
    const pod = obj as k8s.V1Pod;
    const node = pod.spec?.nodeName;
    if (!node || !pod.metadata?.ownerReferences?.some((o) => o.kind === "DaemonSet")) return;
    const down = notReadyDsPods.get(node) ?? new Set<string>();
    notReadyDsPods.set(node, down);
    const had = down.size;
    if (type !== "DELETED" && !isReady(pod)) down.add(pod.metadata.uid ?? "");
    else down.delete(pod.metadata.uid ?? "");
    if (had > 0 && down.size === 0) dsPodsReadyAt.set(node, Date.now());
  }, () => {});
  const leases = await cluster.kube.watch.watch(
    `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`,
    { labelSelector: `${LOCK_LABEL}=${dsName}` },
    (type, obj) => {
      const rec = decodeSlot(obj);
      if (type === "DELETED") holders.delete(rec.name);
      else holders.set(rec.name, rec.holder);
      state.maxHolders = Math.max(state.maxHolders, [...holders.values()].filter(Boolean).length);
    },
    () => {},
  );
  return {
    state,
    cordoned,
    holders,
    /** When `node` was last uncordoned, and when its DaemonSet pods were last all Ready again. */
    recovery: (node: string) => ({
      uncordoned: uncordonedAt.get(node),
      dsPodsReady: dsPodsReadyAt.get(node),
    }),
    stop() {
      nodes.abort();
      leases.abort();
      pods.abort();
    },
  };
}

/**
 * Nodes of the install's own pool, a Deployment `<ds>-web` with a pod per node, and a daemon on each node.
 * `podRestartMs`: how long the pods of a rebooted node take to be Ready again after the node is.
 */
async function startNodes(
  cluster: TestCluster,
  install: Install,
  names: string[],
  opts: { pod?: PodTemplateOptions; podRestartMs?: number } = {},
): Promise<Daemon[]> {
  const pool = install.dsName;
  for (const name of names) await cluster.createNode(name, { pool });
  await cluster.createDeployment("work", `${pool}-web`, { pool, replicas: names.length, ...opts.pod });
  await cluster.waitForDeployment("work", `${pool}-web`);
  const daemons: Daemon[] = [];
  for (const name of names) {
    daemons.push(
      await cluster.startDaemon(name, {
        kubeconfig: install.kubeconfig,
        args: [...install.args, "--period=1h"],
        ...(opts.podRestartMs !== undefined ? { podRestartMs: opts.podRestartMs } : {}),
      }),
    );
  }
  return daemons;
}

Deno.test("reboot cycle e2e", async (t) => {
  await using cluster = await startCluster({ controllers: true });
  await cluster.ensureNamespace("work");

  await t.step(
    "three nodes reboot one at a time, and a late sentinel goes next without a period",
    async () => {
      const install = await installKreboot(cluster, "roll");
      const mon = await monitor(cluster, "roll");
      // The pods of a rebooted node start 3 s after it is Ready: longer than a daemon takes to start again.
      const [a, b, c] = await startNodes(cluster, install, ["roll-a", "roll-b", "roll-c"], {
        podRestartMs: 3_000,
      });
      assert.ok(a && b && c);
      const before = new Set((await cluster.livePods("work", "app=roll-web")).map((p) => p.metadata?.uid));
      // The DaemonSet from the manifests has its pod on each node, from the DaemonSet controller.
      await cluster.waitForReadyPods(NS, "app.kubernetes.io/instance=roll", 3);
      await a.setRebootRequired(true);
      await b.setRebootRequired(true);
      // c's sentinel appears once a is rebooting: with --period=1h only the file watch and the lock's watch can
      // get it through in time.
      await a.waitForReboots(1, 60_000);
      await c.setRebootRequired(true);
      await b.waitForReboots(1, 60_000);
      await c.waitForReboots(1, 60_000);
      for (const d of [a, b, c]) {
        await eventually(
          `${d.node} schedulable again`,
          30_000,
          async () => (await schedulable(cluster, d.node)) || undefined,
        );
      }
      await eventually("all slots free", 30_000, async () => (await slotsFree(cluster, "roll")) || undefined);
      mon.stop();
      assert.equal(mon.state.maxHolders, 1, "never two slot holders");
      assert.equal(mon.state.maxCordoned, 1, "never two nodes cordoned at once");
      for (const d of [a, b, c]) {
        assert.equal(d.reboots, 1, `${d.node} rebooted exactly once`);
      }
      // Each node was drained, so none of the pods that ran before is left; their Deployment replaced them.
      await cluster.waitForDeployment("work", "roll-web");
      const after = await cluster.livePods("work", "app=roll-web");
      assert.deepEqual(after.filter((p) => before.has(p.metadata?.uid)), [], "every first pod was evicted");
      // kreboot uncordoned each node only once its DaemonSet pods were Ready again after the reboot (the
      // harness starts them a moment after the node is Ready).
      for (const d of [a, b, c]) {
        const { uncordoned, dsPodsReady } = mon.recovery(d.node);
        assert.ok(
          uncordoned && dsPodsReady,
          `${d.node}: uncordoned ${uncordoned}, pods Ready ${dsPodsReady}`,
        );
        // (Two watch streams: allow their deliveries to cross by a few ms.)
        assert.ok(
          uncordoned >= dsPodsReady - 250,
          `${d.node} uncordoned ${dsPodsReady - uncordoned} ms early`,
        );
      }
      for (const d of [a, b, c]) await d.stop();
    },
  );

  await t.step(
    "a blocking pod, a closed window and a firing alert each keep a node from taking a slot",
    async () => {
      const prometheus = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
        Response.json({
          status: "success",
          data: {
            resultType: "vector",
            result: [{
              metric: { __name__: "ALERTS", alertname: "EtcdDown", alertstate: "firing" },
              value: [0, "1"],
            }],
          },
        }));
      try {
        const install = await installKreboot(cluster, "gated");
        const now = new Date();
        const closedStart = `${(now.getUTCHours() + 2) % 24}:00`;
        const closedEnd = `${(now.getUTCHours() + 3) % 24}:00`;
        await cluster.createNode("gated-pod", { pool: "gated-pod" });
        await cluster.createStatefulSet("work", "precious", { pool: "gated-pod" });
        await cluster.waitForReadyPods("work", "app=precious", 1);
        await cluster.createNode("gated-window", { pool: "gated" });
        await cluster.createNode("gated-alert", { pool: "gated" });
        const cases: [string, string[], RegExp][] = [
          ["gated-pod", ["--blocking-pod-selector=app=precious"], /work\/precious/],
          ["gated-window", [`--start-time=${closedStart}`, `--end-time=${closedEnd}`], /window/],
          ["gated-alert", [`--prometheus-url=http://127.0.0.1:${prometheus.addr.port}`], /EtcdDown/],
        ];
        for (const [node, args, why] of cases) {
          const d = await cluster.startDaemon(node, {
            kubeconfig: install.kubeconfig,
            args: [...install.args, "--period=1h", ...args],
          });
          await d.setRebootRequired(true);
          const line = await d.waitForJson((e) => e.reason === "RebootBlocked", 30_000);
          assert.match(String(line.msg), why, `${node}: ${JSON.stringify(line)}`);
          assert.ok(await slotsFree(cluster, "gated"), `${node} must not hold a slot while blocked`);
          assert.ok(await schedulable(cluster, node), `${node} must not be cordoned while blocked`);
          await d.stop();
        }
      } finally {
        await prometheus.shutdown();
      }
    },
  );

  await t.step("kill -9 while draining, then restart: it resumes and completes", async () => {
    const install = await installKreboot(cluster, "crash");
    // The pod ignores SIGTERM: it stays Terminating for 4 s, long enough to kill the daemon mid-drain.
    const [a] = await startNodes(cluster, install, ["crash-a"], { pod: { terminationSeconds: 4 } });
    assert.ok(a);
    await a.setRebootRequired(true);
    await a.waitForJson((e) => e.phase === "draining", 30_000);
    await a.crash(500);
    await a.waitForReboots(1, 60_000);
    await eventually(
      "crash-a schedulable",
      30_000,
      async () => (await schedulable(cluster, "crash-a")) || undefined,
    );
    await eventually("slot free", 30_000, async () => (await slotsFree(cluster, "crash")) || undefined);
    assert.equal(a.reboots, 1);
    await a.stop();
  });

  await t.step("dry run on a real node changes nothing", async () => {
    const install = await installKreboot(cluster, "dry");
    await cluster.createNode("dry-a", { pool: "dry" });
    await cluster.createDeployment("work", "dry-web", { pool: "dry" });
    await cluster.waitForDeployment("work", "dry-web");
    const snapshot = async () => {
      const node = await cluster.kube.core.readNode({ name: "dry-a" });
      const pods = await cluster.kube.core.listNamespacedPod({
        namespace: "work",
        fieldSelector: "spec.nodeName=dry-a",
      });
      const leases = await cluster.kube.coord.listNamespacedLease({
        namespace: NS,
        labelSelector: `${LOCK_LABEL}=dry`,
      });
      return JSON.stringify({
        node: { rv: node.metadata?.resourceVersion, spec: node.spec, labels: node.metadata?.labels },
        pods: pods.items.map((p) => [p.metadata?.name, p.metadata?.resourceVersion]),
        leases: leases.items.map((l) => [l.metadata?.name, l.metadata?.resourceVersion]),
      });
    };
    const before = await snapshot();
    const d = await cluster.startDaemon("dry-a", {
      kubeconfig: install.kubeconfig,
      args: [...install.args, "--dry-run", "--once"],
      rebootRequired: true,
    });
    const status = await d.proc.done;
    assert.equal(status.code, 10, `exit 10: it would reboot; log:\n${d.lines.map((l) => l.text).join("\n")}`);
    assert.equal(d.reboots, 0);
    assert.ok(d.lines.some((l) => /would run: touch/.test(l.text)), "prints the reboot command");
    assert.ok(
      d.lines.some((l) => /would evict/.test(l.text) && l.text.includes("work/dry-web")),
      `lists the pod it would evict:\n${d.lines.map((l) => l.text).join("\n")}`,
    );
    assert.equal(await snapshot(), before, "nothing changed in the cluster");
  });
});
