/**
 * Smoke tests of the cluster with controllers (tests/harness/controllers.ts): what the other e2e tests rely on
 * from kube-controller-manager, kube-scheduler and kwok, and the harness's simulated reboot on a kwok node.
 */
import assert from "node:assert/strict";
import { isNodeReady, kwokReboots, RESTARTING_ANNOTATION, setNodeReady } from "../harness/nodes.ts";
import { isReady, startCluster } from "../harness/mod.ts";
import { eventually } from "./support.ts";

const NS = "smoke";

Deno.test("cluster with controllers smoke", async (t) => {
  const t0 = Date.now();
  await using cluster = await startCluster({ controllers: true });
  const controllers = cluster.cp.controllers;
  assert.ok(controllers);
  console.log(
    `kube-apiserver ready in ${cluster.cp.startupMs} ms; controller-manager, scheduler and kwok ready ` +
      `${controllers.startupMs} ms later; ${Date.now() - t0} ms in all`,
  );
  const { kube } = cluster;
  await cluster.ensureNamespace(NS);

  await t.step("kwok makes a node Ready and keeps the harness's bootID", async () => {
    const node = await cluster.createNode("k-a", { pool: "smoke", bootID: "boot-a" });
    assert.equal(node.status?.nodeInfo?.bootID, "boot-a");
    assert.equal(node.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
    assert.deepEqual(node.spec?.taints ?? [], [], "no not-ready taint left to keep pods away");
    await cluster.createNode("k-b", { pool: "smoke" });
  });

  await t.step("a Deployment's pods are scheduled onto the pool's nodes and run", async () => {
    await cluster.createDeployment(NS, "web", { pool: "smoke", replicas: 3 });
    await cluster.waitForDeployment(NS, "web");
    const pods = await cluster.waitForReadyPods(NS, "app=web", 3);
    for (const p of pods) {
      assert.ok(["k-a", "k-b"].includes(p.spec?.nodeName ?? ""), `placed on ${p.spec?.nodeName}`);
      assert.equal(p.status?.phase, "Running");
      assert.ok(p.status?.podIP, "kwok gave it a pod IP");
    }
  });

  await t.step("the disruption controller computes PDB status; an evicted pod is replaced", async () => {
    await kube.policy.createNamespacedPodDisruptionBudget({
      namespace: NS,
      body: {
        metadata: { name: "web" },
        spec: { selector: { matchLabels: { app: "web" } }, minAvailable: 2 },
      },
    });
    await cluster.waitForPdb(NS, "web", 1);
    const [victim] = await cluster.livePods(NS, "app=web");
    assert.ok(victim?.metadata?.name);
    await kube.core.createNamespacedPodEviction({
      namespace: NS,
      name: victim.metadata.name,
      body: { metadata: { name: victim.metadata.name, namespace: NS } },
    });
    await eventually("the evicted pod gone", 10_000, async () => {
      const left = await cluster.livePods(NS, "app=web");
      return left.every((p) => p.metadata?.uid !== victim.metadata?.uid) || undefined;
    });
    await cluster.waitForReadyPods(NS, "app=web", 3);
    await cluster.waitForPdb(NS, "web", 1);
  });

  await t.step("a DaemonSet gets one Ready pod per node of its pool", async () => {
    await cluster.createDaemonSet(NS, "agent", { pool: "smoke" });
    const pods = await cluster.waitForReadyPods(NS, "app=agent", 2);
    assert.deepEqual(pods.map((p) => p.spec?.nodeName).sort(), ["k-a", "k-b"]);
  });

  await t.step("pods exit with a code, or ignore SIGTERM for their grace period", async () => {
    const ok = await cluster.createBarePod(NS, { name: "done", node: "k-a", exitCode: 0 });
    assert.equal(ok.status?.phase, "Succeeded");
    const bad = await cluster.createBarePod(NS, { name: "crashed", node: "k-a", exitCode: 1 });
    assert.equal(bad.status?.phase, "Failed");

    await cluster.createBarePod(NS, { name: "slow", node: "k-a", terminationSeconds: 3 });
    await cluster.createBarePod(NS, { name: "quick", node: "k-a" });
    const deleted = Date.now();
    await kube.core.deleteNamespacedPod({ namespace: NS, name: "slow" });
    await kube.core.deleteNamespacedPod({ namespace: NS, name: "quick" });
    const gone = (name: string) =>
      eventually(`${name} removed`, 15_000, async () => {
        const pods = await kube.core.listNamespacedPod({
          namespace: NS,
          fieldSelector: `metadata.name=${name}`,
        });
        return pods.items.length === 0 ? Date.now() - deleted : undefined;
      }, 50);
    const [slow, quick] = await Promise.all([gone("slow"), gone("quick")]);
    assert.ok(quick < 2_000, `a pod that stops on SIGTERM goes at once (${quick} ms)`);
    // deletionTimestamp has whole seconds: the grace period ends up to a second early.
    assert.ok(slow >= 1_900 && slow < 8_000, `a pod ignoring SIGTERM stays for its 3 s grace (${slow} ms)`);
  });

  await t.step("kwok sets a managed node's Ready=False back to True at once", async () => {
    await setNodeReady(kube, "k-b", false);
    await eventually("k-b Ready again", 2_000, async () => (await isNodeReady(kube, "k-b")) || undefined, 20);
  });

  await t.step(
    "a simulated reboot: NotReady that holds, new bootID, pods restart after the node",
    async () => {
      const ac = new AbortController();
      const reboots = kwokReboots(kube, ac.signal);
      const podsOnA = async () =>
        (await kube.core.listNamespacedPod({ namespace: NS, fieldSelector: "spec.nodeName=k-a" })).items
          .filter((p) => p.status?.phase === "Running");
      assert.ok((await podsOnA()).length >= 2, "the DaemonSet's pod and a web pod run on k-a");

      await reboots.down("k-a", "boot-a2");
      await new Promise((r) => setTimeout(r, 1_000));
      const down = await kube.core.readNode({ name: "k-a" });
      assert.equal(
        down.status?.conditions?.find((c) => c.type === "Ready")?.status,
        "False",
        "kwok let it be",
      );
      assert.equal(down.status?.nodeInfo?.bootID, "boot-a2");
      for (const p of await podsOnA()) {
        assert.equal(isReady(p), false, `${p.metadata?.name} is down with its node`);
        assert.equal(p.metadata?.annotations?.[RESTARTING_ANNOTATION], "true");
      }

      const up = Date.now();
      await reboots.up("k-a", { podRestartMs: 1_500, retry: (call) => call() });
      const node = await kube.core.readNode({ name: "k-a" });
      assert.equal(node.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
      assert.equal(node.status?.nodeInfo?.bootID, "boot-a2", "kwok keeps the new bootID");
      assert.ok((await podsOnA()).some((p) => !isReady(p)), "pods are not Ready the moment the node is");
      await eventually("pods on k-a Ready again", 15_000, async () => {
        const pods = await podsOnA();
        return pods.every(isReady) ? true : undefined;
      }, 50);
      assert.ok(Date.now() - up >= 1_400, "pods came back after podRestartMs");
      await reboots.settled();
      ac.abort();
    },
  );

  await t.step("a component that exits is started again, as its kubelet would", async () => {
    const scheduler = controllers.scheduler;
    const before = scheduler.proc.pid;
    scheduler.proc.killGroupSync("SIGKILL");
    await eventually("a new kube-scheduler", 10_000, () => scheduler.proc.pid !== before || undefined);
    assert.equal(scheduler.exits.length, 1);
    await cluster.createDeployment(NS, "after", { pool: "smoke", replicas: 2 });
    await cluster.waitForDeployment(NS, "after");
    assert.deepEqual(controllers.restarts().length, 1);
  });

  cluster.cp.assertControllersRunning();
});
