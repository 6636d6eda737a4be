/**
 * The whole reboot cycle with real daemon processes (deno run main.ts) on simulated nodes, each with the
 * generated ServiceAccount and RBAC, against the real kube-apiserver.
 */
import assert from "node:assert/strict";
import { decodeSlot, LOCK_LABEL } from "../../lib/lock/slots.ts";
import { type Daemon, startCluster, type TestCluster } from "../harness/mod.ts";
import { eventually, type Install, installKreboot, schedulable, slotsFree } from "./support.ts";

const NS = "kube-system";

/** Watches Nodes and slot Leases; records the most nodes cordoned at once and the most slot holders. */
async function monitor(cluster: TestCluster, dsName: string) {
  const cordoned = new Set<string>();
  const holders = new Map<string, string>();
  const state = { maxCordoned: 0, maxHolders: 0 };
  const nodes = await cluster.kube.watch.watch("/api/v1/nodes", {}, (type, obj) => {
    const name = obj?.metadata?.name as string;
    if (type !== "DELETED" && obj?.spec?.unschedulable) cordoned.add(name);
    else cordoned.delete(name);
    state.maxCordoned = Math.max(state.maxCordoned, cordoned.size);
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
    stop() {
      nodes.abort();
      leases.abort();
    },
  };
}

async function startNodes(
  cluster: TestCluster,
  install: Install,
  names: string[],
  extraArgs: string[] = [],
): Promise<Daemon[]> {
  const daemons: Daemon[] = [];
  for (const name of names) {
    await cluster.createNode(name);
    await cluster.createPod("work", {
      name: `${name}-web`,
      node: name,
      owner: "ReplicaSet",
      labels: { app: "web" },
    });
    daemons.push(
      await cluster.startDaemon(name, {
        kubeconfig: install.kubeconfig,
        args: [...install.args, "--period=1h", ...extraArgs],
      }),
    );
  }
  return daemons;
}

Deno.test("reboot cycle e2e", async (t) => {
  await using cluster = await startCluster();
  await cluster.ensureNamespace("work");

  await t.step(
    "three nodes reboot one at a time, and a late sentinel goes next without a period",
    async () => {
      const install = await installKreboot(cluster, "roll");
      cluster.startKubelet({ nodes: ["roll-a", "roll-b", "roll-c"] });
      const mon = await monitor(cluster, "roll");
      const [a, b, c] = await startNodes(cluster, install, ["roll-a", "roll-b", "roll-c"]);
      assert.ok(a && b && c);
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
      // The drained pod was evicted (the fake kubelet finished it).
      const pods = await cluster.kube.core.listNamespacedPod({ namespace: "work" });
      assert.ok(!pods.items.some((p) => p.metadata?.name === "roll-a-web"), "roll-a's pod was drained");
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
        await cluster.createNode("gated-pod");
        await cluster.createPod("work", {
          name: "precious",
          node: "gated-pod",
          owner: "StatefulSet",
          labels: { app: "precious" },
        });
        await cluster.createNode("gated-window");
        await cluster.createNode("gated-alert");
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
    const slow = cluster.startKubelet({ delayMs: 4_000, nodes: ["crash-a"] });
    const [a] = await startNodes(cluster, install, ["crash-a"]);
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
    await slow.stop();
  });

  await t.step("dry run on a real node changes nothing", async () => {
    const install = await installKreboot(cluster, "dry");
    await cluster.createNode("dry-a");
    await cluster.createPod("work", { name: "dry-web", node: "dry-a", owner: "ReplicaSet" });
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
