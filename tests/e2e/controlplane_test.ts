/**
 * Smoke tests of the e2e harness against the real kube-apiserver: the semantics later e2e tests rely on (RBAC,
 * Eviction + PDB, Lease conflicts) and the harness's own simulations (nodes, kubelet, reboots, restarts).
 */
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { apiStatus, isNotFound, loadKubeConfig, makeKube, microTime } from "../../lib/kube/mod.ts";
import { MERGE_PATCH } from "../harness/full_kube.ts";
import { controlPlaneVersions, STANDIN_DAEMON, startCluster, type TestCluster } from "../harness/mod.ts";

const NODE_READER = {
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "ClusterRole",
  metadata: { name: "e2e-node-reader" },
  rules: [{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "list"] }],
};

function bindNodeReader(namespace: string, sa: string) {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: `e2e-node-reader-${namespace}-${sa}` },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: NODE_READER.metadata.name },
    subjects: [{ kind: "ServiceAccount", name: sa, namespace }],
  };
}

async function expectStatus(promise: Promise<unknown>, status: number, what: string): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    assert.equal(apiStatus(e), status, `${what}: expected HTTP ${status}, got ${String(e)}`);
    return e;
  }
  assert.fail(`${what}: expected HTTP ${status}, but the call succeeded`);
}

async function until(what: string, timeoutMs: number, cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`${what}: not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test("harness: missing binaries fail loudly with the way out", async () => {
  const empty = await Deno.makeTempDir();
  const before = Deno.env.get("KREBOOT_CONTROLPLANE_DIR");
  Deno.env.set("KREBOOT_CONTROLPLANE_DIR", empty);
  try {
    await assert.rejects(startCluster(), (e: Error) => {
      assert.match(e.message, /binaries missing/);
      assert.match(e.message, /deno task controlplane/);
      assert.match(e.message, /deno task test:unit/);
      return true;
    });
  } finally {
    if (before === undefined) Deno.env.delete("KREBOOT_CONTROLPLANE_DIR");
    else Deno.env.set("KREBOOT_CONTROLPLANE_DIR", before);
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("control plane smoke", async (t) => {
  await using cluster: TestCluster = await startCluster({ audit: true });
  const { kube } = cluster;
  console.log(
    `kube-apiserver ${cluster.cp.version} ready in ${cluster.cp.startupMs} ms at ${cluster.cp.url}`,
  );

  await t.step("apiserver reports the version that was built", async () => {
    const v = await kube.kc.makeApiClient(k8s.VersionApi).getCode();
    assert.equal(v.gitVersion, controlPlaneVersions().k8s);
    assert.match(v.gitVersion, /^v1\.\d+\.\d+$/);
    const kubectl = await cluster.cp.kubectl("version", "-o", "json");
    assert.equal(kubectl.code, 0, kubectl.stderr);
    const parsed = JSON.parse(kubectl.stdout) as { serverVersion: { gitVersion: string } };
    assert.equal(parsed.serverVersion.gitVersion, v.gitVersion);
  });

  await t.step("a ServiceAccount without permissions gets 403 on nodes, and the grant works", async () => {
    const path = await cluster.serviceAccountKubeconfig("rbac-e2e", "nobody");
    const sa = makeKube(loadKubeConfig(path), false);
    await expectStatus(sa.core.listNode(), 403, "list nodes without RBAC");

    await cluster.applyObjects([NODE_READER, bindNodeReader("rbac-e2e", "nobody")]);
    // RBAC is evaluated on each request against the authorizer's cache; give it a moment.
    await until("granted SA lists nodes", 5_000, () => sa.core.listNode().then(() => true, () => false));

    const events = await cluster.cp.auditEvents("system:serviceaccount:rbac-e2e:nobody");
    const forbidden = events.find((e) =>
      e.verb === "list" && e.objectRef?.resource === "nodes" && e.responseStatus?.code === 403
    );
    assert.ok(forbidden, "the audit log records the forbidden list at level Metadata");
  });

  await t.step("eviction honours the PDB: 429 with 0 disruptions allowed, success with 1", async () => {
    const ns = "evict-e2e";
    await cluster.ensureNamespace(ns);
    await cluster.createNode("evict-node");
    await cluster.createPod(ns, {
      name: "web-1",
      node: "evict-node",
      owner: "ReplicaSet",
      labels: { app: "web" },
    });
    await cluster.createPod(ns, {
      name: "web-2",
      node: "evict-node",
      owner: "ReplicaSet",
      labels: { app: "web" },
    });
    await cluster.createPdb(ns, "web", { matchLabels: { app: "web" }, minAvailable: 1 });
    const evict = (name: string) =>
      kube.core.createNamespacedPodEviction({
        name,
        namespace: ns,
        body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace: ns } },
      });

    const status = await cluster.setPdbStatus(ns, "web", 0);
    assert.equal(status.status?.currentHealthy, 2);
    assert.equal(status.status?.desiredHealthy, 2);
    await expectStatus(evict("web-1"), 429, "eviction with disruptionsAllowed=0");

    await cluster.setPdbStatus(ns, "web", 1);
    await evict("web-1");
    const evicted = await kube.core.readNamespacedPod({ name: "web-1", namespace: ns });
    assert.ok(evicted.metadata?.deletionTimestamp, "evicted pod is Terminating");
    assert.ok(evicted.status?.conditions?.some((c) => c.type === "DisruptionTarget" && c.status === "True"));
    const pdb = await kube.policy.readNamespacedPodDisruptionBudget({ name: "web", namespace: ns });
    assert.equal(pdb.status?.disruptionsAllowed, 0, "the apiserver decremented the budget");
    await expectStatus(evict("web-2"), 429, "second eviction after the budget was used up");

    // Without a kubelet the pod stays Terminating; the harness kubelet finishes it.
    await using kubelet = cluster.startKubelet({ delayMs: 200 });
    await until(
      "web-1 removed",
      10_000,
      () =>
        kube.core.readNamespacedPod({ name: "web-1", namespace: ns }).then(() => false, (e) => isNotFound(e)),
    );
    assert.deepEqual(kubelet.removed, [`${ns}/web-1`]);

    // Pending pods bypass the PDB (why createPod marks pods Running by default).
    await cluster.createPod(ns, {
      name: "web-pending",
      node: "evict-node",
      labels: { app: "web" },
      phase: "Pending",
    });
    await evict("web-pending");
  });

  await t.step("a Lease update with a stale resourceVersion gets 409", async () => {
    const ns = "kube-node-lease";
    const created = await kube.coord.createNamespacedLease({
      namespace: ns,
      body: {
        metadata: { name: "e2e-lease" },
        spec: { holderIdentity: "a", leaseDurationSeconds: 30, acquireTime: microTime(new Date()) },
      },
    });
    const staleRV = created.metadata?.resourceVersion;
    assert.ok(staleRV);
    const patch = (holder: string, rv: string) =>
      kube.coord.patchNamespacedLease({
        name: "e2e-lease",
        namespace: ns,
        body: { metadata: { resourceVersion: rv }, spec: { holderIdentity: holder } },
      }, MERGE_PATCH);
    const updated = await patch("b", staleRV);
    assert.notEqual(updated.metadata?.resourceVersion, staleRV);
    await expectStatus(patch("c", staleRV), 409, "lease patch with a stale resourceVersion");
    const now = await kube.coord.readNamespacedLease({ name: "e2e-lease", namespace: ns });
    assert.equal(now.spec?.holderIdentity, "b");
  });

  await t.step("a simulated reboot changes the bootID and restarts the daemon process", async () => {
    await cluster.createNode("reboot-node", { bootID: "boot-0" });
    await cluster.applyObjects([NODE_READER, bindNodeReader("kube-system", "kreboot")]);
    const kubeconfig = await cluster.serviceAccountKubeconfig("kube-system", "kreboot");
    const d = await cluster.startDaemon("reboot-node", {
      kubeconfig,
      command: [Deno.execPath(), "run", "-A", STANDIN_DAEMON],
    });
    const first = await d.waitForJson((e) => e["msg"] === "started", 30_000);
    assert.equal(first["bootID"], "boot-0");
    const firstPid = d.proc.pid;

    await d.setRebootRequired(true);
    await d.waitForReboots(1, 30_000);
    const second = await d.waitForLine((l) => l.includes('"msg":"started"') && !l.includes("boot-0"), 30_000);
    assert.equal(second.boot, 1);

    const bootID = await cluster.getBootID("reboot-node");
    assert.notEqual(bootID, "boot-0");
    assert.deepEqual(d.bootIDs, [bootID]);
    assert.equal(
      (JSON.parse(second.text) as { bootID: string }).bootID,
      bootID,
      "restarted daemon sees new bootID",
    );
    assert.ok(await cluster.isNodeReady("reboot-node"));
    assert.notEqual(d.proc.pid, firstPid);
    assert.equal(alive(firstPid), false, "the pre-reboot daemon process is gone");
    await assert.rejects(Deno.stat(d.sentinel), Deno.errors.NotFound);
    assert.equal(d.reboots, 1);

    const status = await d.stop();
    assert.equal(status.code, 0, "stand-in exits cleanly on SIGTERM");
    assert.ok(d.lines.some((l) => l.text.includes('"msg":"shutting down"')));
  });

  await t.step("a simulated reboot rides out an apiserver outage", async () => {
    await cluster.createNode("chaos-node", { bootID: "chaos-0" });
    const kubeconfig = await cluster.serviceAccountKubeconfig("kube-system", "kreboot");
    const d = await cluster.startDaemon("chaos-node", {
      kubeconfig,
      command: [Deno.execPath(), "run", "-A", STANDIN_DAEMON],
    });
    await d.waitForJson((e) => e["msg"] === "started", 30_000);
    const restart = cluster.restartApiserver({ downMs: 1_500 });
    await until(
      "apiserver stopped",
      30_000,
      () => Promise.resolve(cluster.cp.processes.apiserver === undefined),
    );
    // The stand-in needs no API to run the reboot command; the harness's node updates hit the outage.
    await d.setRebootRequired(true);
    await restart;
    await d.waitForReboots(1, 30_000);
    const bootID = await cluster.getBootID("chaos-node");
    assert.notEqual(bootID, "chaos-0");
    const restarted = await d.waitForJson((e) => e["msg"] === "started" && e["bootID"] === bootID, 30_000);
    assert.equal(restarted["bootID"], bootID);
    assert.ok(await cluster.isNodeReady("chaos-node"));
    await d.stop();
  });

  await t.step("restartApiserver keeps state, certificate and credentials", async () => {
    const before = (await kube.core.listNode()).items.length;
    await cluster.restartApiserver();
    console.log(`kube-apiserver restarted in ${cluster.cp.startupMs} ms`);
    assert.equal((await kube.core.listNode()).items.length, before);
  });

  await t.step("20 simulated nodes: all Ready; memory is reported", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `load-${String(i).padStart(2, "0")}`);
    for (const name of names) await cluster.createNode(name, { labels: { "e2e/load": "true" } });
    const list = await kube.core.listNode({ labelSelector: "e2e/load=true" });
    assert.equal(list.items.length, 20);
    for (const n of list.items) {
      assert.equal(n.status?.conditions?.find((c) => c.type === "Ready")?.status, "True", n.metadata?.name);
      assert.ok(n.status?.nodeInfo?.bootID);
      assert.equal(n.spec?.taints, undefined, "no not-ready taint left");
    }
    const mem = cluster.cp.memory();
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    console.log(
      `memory with ${list.items.length + 2} nodes: etcd rss ${mib(mem.etcd.rss)} (peak ${
        mib(mem.etcd.peak)
      }), ` +
        `kube-apiserver rss ${mib(mem.apiserver.rss)} (peak ${mib(mem.apiserver.peak)})`,
    );
    assert.ok(mem.etcd.rss > 0 && mem.apiserver.rss > 0);
  });
});

Deno.test("harness leaves no processes behind", async () => {
  let pids: number[];
  {
    await using cluster = await startCluster();
    await cluster.createNode("leak-node");
    const d = await cluster.startDaemon("leak-node", {
      kubeconfig: cluster.cp.adminKubeconfig,
      command: [Deno.execPath(), "run", "-A", STANDIN_DAEMON],
    });
    await d.waitForLine(/"msg":"started"/, 30_000);
    const { etcd, apiserver } = cluster.cp.processes;
    assert.ok(etcd && apiserver);
    pids = [etcd.pid, apiserver.pid, d.proc.pid];
    assert.ok(pids.every(alive));

    // A daemon that dies on its own fails pending waits at once, with its log, instead of timing out.
    const waiting = d.waitForLine(/never printed/, 20_000);
    const t0 = Date.now();
    d.kill("SIGKILL");
    await assert.rejects(waiting, /exited with code 137 \(signal SIGKILL\)[\s\S]*tail of/);
    assert.ok(Date.now() - t0 < 5_000);
    await assert.rejects(d.waitForLine(/never printed/, 20_000), /already exited/);
  }
  assert.deepEqual(pids.filter(alive), [], "etcd, kube-apiserver and the daemon are gone after disposal");
});
