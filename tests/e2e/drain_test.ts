/**
 * The drain against a real kube-apiserver (Eviction subresource, PDB bookkeeping, dry-run), run as a
 * ServiceAccount holding only the RBAC a drain needs. The harness plays kubelet (removes terminating pods) and
 * disruption controller (writes PDB status); each case uses its own node and namespace on one control plane.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import {
  cordon,
  drain,
  type DrainOptions,
  type EvictionResult,
  preflight,
  restoreAfterReboot,
  retreat,
  setNodeLabels,
  setPreferNoScheduleTaint,
} from "../../lib/drain/mod.ts";
import { loadKubeConfig, makeKube } from "../../lib/kube/mod.ts";
import { MERGE_PATCH, type TestKube as Kube } from "../harness/full_kube.ts";
import { Logger } from "../../lib/log.ts";
import { startCluster, type TestCluster } from "../harness/mod.ts";

const SA_NS = "kube-system";
const SA = "drain-e2e";

/** Exactly what a drain needs, and nothing more. */
const DRAIN_RBAC = [
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: SA },
    rules: [
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "get", "watch", "delete"] },
      { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
      { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["list"] },
    ],
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: SA },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: SA },
    subjects: [{ kind: "ServiceAccount", name: SA, namespace: SA_NS }],
  },
];

interface Collected {
  log: Logger;
  lines: Record<string, unknown>[];
}

function collectingLogger(node: string): Collected {
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ format: "json", node, sink: (l) => lines.push(JSON.parse(l)) });
  return { log, lines };
}

function drainOpts(log: Logger, over: Partial<DrainOptions> = {}): DrainOptions {
  return {
    log,
    gracePeriodSeconds: -1,
    timeoutMs: 0,
    skipWaitForDeleteTimeoutSeconds: 0,
    podSelector: "",
    pollIntervalMs: 200,
    ...over,
  };
}

async function podNames(kube: Kube, node: string): Promise<string[]> {
  const list = await kube.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` });
  return list.items.map((p) => p.metadata?.name ?? "").sort();
}

async function readNode(kube: Kube, node: string): Promise<k8s.V1Node> {
  return await kube.core.readNode({ name: node });
}

async function until(what: string, timeoutMs: number, cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`${what}: not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A namespace with a PDB over `app=<app>` whose status says `allowed` disruptions, and its pods. */
async function pdbPods(
  c: TestCluster,
  ns: string,
  node: string,
  pdb: string,
  app: string,
  names: string[],
  allowed: number,
): Promise<void> {
  for (const name of names) await c.createPod(ns, { name, node, owner: "ReplicaSet", labels: { app } });
  await c.createPdb(ns, pdb, { matchLabels: { app }, minAvailable: 1 });
  await c.setPdbStatus(ns, pdb, allowed);
}

Deno.test({
  name: "drain e2e: kubectl semantics, PDBs, 429 backoff, pre-flight, retreat, admin cordon, dry-run",
  sanitizeResources: true,
  sanitizeOps: true,
  fn: async (t) => {
    await using c = await startCluster();
    await c.applyObjects(DRAIN_RBAC);
    const kc = loadKubeConfig(await c.serviceAccountKubeconfig(SA_NS, SA));
    using kube = makeKube(kc, false);
    const admin = c.kube;

    await t.step(
      "a mixed node: exactly the right pods go, PDB-limited ones one after the other, 429 backoff ≥ 5 s",
      async () => {
        const node = "n-mix";
        const ns = "mix";
        await c.createNode(node);
        await c.createNode("n-spare");
        await c.ensureNamespace(ns);
        await c.createPod(ns, { name: "rs", node, owner: "ReplicaSet" });
        await c.createPod(ns, { name: "ds", node, owner: "DaemonSet" });
        await c.createPod(ns, { name: "mirror", node, mirror: true });
        await c.createPod(ns, { name: "bare", node });
        await c.createPod(ns, { name: "scratch", node, owner: "ReplicaSet", emptyDir: true });
        await c.createPod(ns, { name: "done", node, owner: "ReplicaSet", phase: "Succeeded" });
        await pdbPods(c, ns, node, "web", "web", ["web-0", "web-1"], 1);
        await using kubelet = c.startKubelet({ nodes: [node], intervalMs: 100 });

        const { log, lines } = collectingLogger(node);
        assert.deepEqual(
          await preflight(kube, node, { podSelector: "", skipWaitForDeleteTimeoutSeconds: 0 }),
          {
            clear: true,
          },
        );
        assert.deepEqual(await cordon(kube, node), { wasUnschedulable: false });
        assert.equal((await readNode(admin, node)).spec?.unschedulable, true);

        const events: { result: EvictionResult; at: number }[] = [];
        const started = Date.now();
        const drained = drain(
          kube,
          node,
          drainOpts(log, {
            onEviction: (result) => events.push({ result, at: Date.now() - started }),
            progressIntervalMs: 1_000,
          }),
        );

        // Play the ReplicaSet controller and the disruption controller: once one web pod is gone, start its
        // replacement elsewhere, and after the drain has been refused at least once, give the budget back.
        let survivorUntouched = false;
        await until("one web pod evicted and gone", 20_000, async () => {
          const web = (await podNames(admin, node)).filter((n) => n.startsWith("web-"));
          if (web.length !== 1) return false;
          const other = await admin.core.readNamespacedPod({ namespace: ns, name: web[0] as string });
          survivorUntouched = other.metadata?.deletionTimestamp === undefined;
          return true;
        });
        assert.ok(survivorUntouched, "the second web pod must not be evicted while the budget is used up");
        await c.createPod(ns, {
          name: "web-new",
          node: "n-spare",
          owner: "ReplicaSet",
          labels: { app: "web" },
        });
        await until(
          "the second web eviction refused with 429",
          20_000,
          () => Promise.resolve(events.some((e) => e.result === "retry-429")),
        );
        await c.setPdbStatus(ns, "web", 1);

        const result = await drained;
        assert.equal(result.ok, true, JSON.stringify(result));
        assert.equal(result.ok && result.evicted, 5); // rs, bare, scratch, web-0, web-1
        assert.equal(result.ok && result.deleted, 1); // done
        assert.deepEqual(await podNames(admin, node), ["ds", "mirror"]);
        // The finished pod is deleted at once by the apiserver; the others went through Terminating.
        assert.deepEqual([...kubelet.removed].sort(), [
          "mix/bare",
          "mix/rs",
          "mix/scratch",
          "mix/web-0",
          "mix/web-1",
        ]);

        // Every 429 was retried no sooner than 5 s after the previous attempt, and the last eviction came after.
        const retries = events.filter((e) => e.result === "retry-429").map((e) => e.at);
        const lastEvicted = Math.max(...events.filter((e) => e.result === "evicted").map((e) => e.at));
        assert.ok(retries.length >= 1);
        for (let i = 1; i < retries.length; i++) {
          assert.ok(
            (retries[i] as number) - (retries[i - 1] as number) >= 4_900,
            `429 retries too close: ${retries}`,
          );
        }
        assert.ok(
          lastEvicted - (retries.at(-1) as number) >= 4_900,
          `retried too soon: ${JSON.stringify(events)}`,
        );
        assert.equal(events.filter((e) => e.result === "evicted").length, 5);
        assert.equal(events.filter((e) => e.result === "deleted").length, 1);
        assert.equal(events.filter((e) => e.result === "failed").length, 0);

        // The log said which pods were left alone and which PDB held up the waiting pod.
        const skipped = lines.filter((l) => l.msg === "not draining pod").map((l) => l.pod).sort();
        assert.deepEqual(skipped, ["mix/ds", "mix/mirror"]);
        const progress = lines.filter((l) => l.msg === "drain in progress");
        assert.ok(
          progress.some((l) => JSON.stringify(l.pods).includes("disruption budget web")),
          `progress lines should name the PDB: ${JSON.stringify(progress)}`,
        );

        await restoreAfterReboot(kube, node, {
          taint: "",
          postRebootLabels: { "kreboot.test/post": "done" },
        });
        const after = await readNode(admin, node);
        assert.notEqual(after.spec?.unschedulable, true);
        assert.equal(after.metadata?.labels?.["kreboot.test/post"], "done");
      },
    );

    await t.step("--drain-pod-selector narrows the drain", async () => {
      const node = "n-sel";
      const ns = "sel";
      await c.createNode(node);
      await c.ensureNamespace(ns);
      await c.createPod(ns, { name: "picked", node, owner: "ReplicaSet", labels: { drain: "yes" } });
      await c.createPod(ns, { name: "other", node, owner: "ReplicaSet" });
      await using _kubelet = c.startKubelet({ nodes: [node], intervalMs: 100 });
      const { log } = collectingLogger(node);
      const result = await drain(kube, node, drainOpts(log, { podSelector: "drain=yes" }));
      assert.deepEqual(result.ok && [result.evicted, result.deleted], [1, 0]);
      assert.deepEqual(await podNames(admin, node), ["other"]);
    });

    await t.step("pre-flight blocks on a PDB allowing 0, naming it, and nothing is cordoned", async () => {
      const node = "n-zero";
      const ns = "zero";
      await c.createNode(node);
      await c.ensureNamespace(ns);
      await pdbPods(c, ns, node, "db-budget", "db", ["db-0"], 0);
      const before = await readNode(admin, node);
      const gate = await preflight(kube, node, { podSelector: "", skipWaitForDeleteTimeoutSeconds: 0 });
      assert.equal(gate.clear, false);
      assert.equal(!gate.clear && gate.reason, "pdb");
      assert.match(
        !gate.clear ? gate.message : "",
        /pod zero\/db-0 .*PodDisruptionBudget zero\/db-budget.*allows 0/,
      );
      const after = await readNode(admin, node);
      assert.equal(after.metadata?.resourceVersion, before.metadata?.resourceVersion);
      assert.notEqual(after.spec?.unschedulable, true);
      // Outside the drain selector, the same PDB does not block.
      assert.deepEqual(
        await preflight(kube, node, { podSelector: "app=other", skipWaitForDeleteTimeoutSeconds: 0 }),
        {
          clear: true,
        },
      );
    });

    await t.step(
      "a pod under two PDBs: pre-flight blocks naming both, a drain fails fast naming them",
      async () => {
        const node = "n-multi";
        const ns = "multi";
        await c.createNode(node);
        await c.ensureNamespace(ns);
        await c.createPod(ns, { name: "both", node, owner: "ReplicaSet", labels: { app: "x", tier: "y" } });
        await c.createPdb(ns, "by-app", { matchLabels: { app: "x" }, maxUnavailable: 1 });
        await c.createPdb(ns, "by-tier", { matchLabels: { tier: "y" }, maxUnavailable: 1 });
        await c.setPdbStatus(ns, "by-app", 1);
        await c.setPdbStatus(ns, "by-tier", 1);
        const gate = await preflight(kube, node, { podSelector: "", skipWaitForDeleteTimeoutSeconds: 0 });
        assert.equal(!gate.clear && gate.reason, "pdb");
        assert.match(!gate.clear ? gate.message : "", /pod multi\/both .*multi\/by-app, multi\/by-tier/);
        assert.notEqual((await readNode(admin, node)).spec?.unschedulable, true);

        const { log } = collectingLogger(node);
        const events: EvictionResult[] = [];
        const t0 = Date.now();
        const result = await drain(kube, node, drainOpts(log, { onEviction: (r) => events.push(r) }));
        assert.ok(
          Date.now() - t0 < 4_000,
          "a pod under two PDBs must fail the drain at once, not be retried",
        );
        assert.equal(result.ok, false);
        assert.equal(!result.ok && result.timedOut, false);
        assert.match(
          !result.ok ? result.reason : "",
          /multi\/both.*more than one PodDisruptionBudget.*multi\/by-app, multi\/by-tier/,
        );
        assert.deepEqual(!result.ok && result.remaining, ["multi/both"]);
        assert.deepEqual(events, ["failed"]);
        assert.deepEqual(await podNames(admin, node), ["both"]);
      },
    );

    await t.step(
      "after a drain timeout, retreat uncordons and removes taint and pre-reboot labels",
      async () => {
        const node = "n-timeout";
        const ns = "tmo";
        await c.createNode(node);
        await c.ensureNamespace(ns);
        await pdbPods(c, ns, node, "stuck", "stuck", ["stuck-0"], 0);
        // Someone else's taint must survive ours coming and going.
        await admin.core.patchNode({
          name: node,
          body: { spec: { taints: [{ key: "example.com/other", value: "x", effect: "NoSchedule" }] } },
        }, MERGE_PATCH);
        const taint = "kreboot.test/reboot";
        const preRebootLabels = { "kreboot.test/pre": "rebooting" };

        await setNodeLabels(kube, node, preRebootLabels);
        assert.deepEqual(await setPreferNoScheduleTaint(kube, node, taint, true), { changed: true });
        assert.deepEqual(await setPreferNoScheduleTaint(kube, node, taint, true), { changed: false });
        const { wasUnschedulable } = await cordon(kube, node);
        assert.equal(wasUnschedulable, false);
        const mid = await readNode(admin, node);
        assert.equal(mid.spec?.unschedulable, true);
        assert.deepEqual(mid.spec?.taints?.map((x) => `${x.key}:${x.effect}`), [
          "example.com/other:NoSchedule",
          `${taint}:PreferNoSchedule`,
        ]);
        assert.equal(mid.metadata?.labels?.["kreboot.test/pre"], "rebooting");

        const { log } = collectingLogger(node);
        const t0 = Date.now();
        const result = await drain(kube, node, drainOpts(log, { timeoutMs: 1_500 }));
        assert.ok(Date.now() - t0 < 4_000, "the timeout must stop the drain promptly, even mid-backoff");
        assert.equal(result.ok, false);
        assert.equal(!result.ok && result.timedOut, true);
        assert.deepEqual(!result.ok && result.remaining, ["tmo/stuck-0"]);
        assert.match(!result.ok ? result.reason : "", /timed out.*tmo\/stuck-0.*disruption budget stuck/);

        await retreat(kube, node, { taint, preRebootLabels });
        const after = await readNode(admin, node);
        assert.notEqual(after.spec?.unschedulable, true);
        assert.deepEqual(after.spec?.taints?.map((x) => `${x.key}:${x.effect}`), [
          "example.com/other:NoSchedule",
        ]);
        assert.equal(after.metadata?.labels?.["kreboot.test/pre"], undefined);
        assert.deepEqual(await podNames(admin, node), ["stuck-0"]);
      },
    );

    await t.step(
      "a node an administrator cordoned stays cordoned through cordon, failed drain, retreat and restore",
      async () => {
        const node = "n-admin";
        const ns = "adm";
        await c.createNode(node, { unschedulable: true });
        await c.ensureNamespace(ns);
        await pdbPods(c, ns, node, "held", "held", ["held-0"], 0);
        const { wasUnschedulable } = await cordon(kube, node);
        assert.equal(wasUnschedulable, true);
        const { log, lines } = collectingLogger(node);
        const result = await drain(kube, node, drainOpts(log, { timeoutMs: 1_000 }));
        assert.equal(!result.ok && result.timedOut, true);
        await retreat(kube, node, { taint: "", preRebootLabels: {} }, log);
        assert.equal((await readNode(admin, node)).spec?.unschedulable, true);
        assert.ok(lines.some((l) => String(l.msg).startsWith("kreboot did not cordon this node")));
        await restoreAfterReboot(kube, node, { taint: "", postRebootLabels: {} });
        assert.equal((await readNode(admin, node)).spec?.unschedulable, true);
      },
    );

    await t.step("an abort (shutdown) stops a blocked drain at once", async () => {
      const node = "n-abort";
      const ns = "abort";
      await c.createNode(node);
      await c.ensureNamespace(ns);
      await pdbPods(c, ns, node, "hold", "hold", ["hold-0"], 0);
      const { log } = collectingLogger(node);
      const ac = new AbortController();
      const events: EvictionResult[] = [];
      const p = drain(kube, node, drainOpts(log, { signal: ac.signal, onEviction: (r) => events.push(r) }));
      await until("first 429", 10_000, () => Promise.resolve(events.includes("retry-429")));
      const t0 = Date.now();
      ac.abort();
      const result = await p;
      assert.ok(Date.now() - t0 < 1_000, "abort must not wait out the 5 s backoff");
      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.timedOut, false);
      assert.match(!result.ok ? result.reason : "", /interrupted/);
    });

    await t.step("dry-run leaves the node and the pods untouched and logs what would happen", async () => {
      const node = "n-dry";
      const ns = "dry";
      await c.createNode(node);
      await c.ensureNamespace(ns);
      await c.createPod(ns, { name: "rs", node, owner: "ReplicaSet" });
      await c.createPod(ns, { name: "bare", node });
      await c.createPod(ns, { name: "ds", node, owner: "DaemonSet" });
      await c.createPod(ns, { name: "done", node, owner: "ReplicaSet", phase: "Failed" });
      await pdbPods(c, ns, node, "blocker", "blocker", ["blocked-0"], 0);
      const snapshot = async () => ({
        node: await readNode(admin, node),
        pods: (await admin.core.listNamespacedPod({ namespace: ns })).items.map((p) => ({
          name: p.metadata?.name,
          uid: p.metadata?.uid,
          rv: p.metadata?.resourceVersion,
          deleting: p.metadata?.deletionTimestamp,
        })),
        pdb: (await admin.policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: "blocker" }))
          .metadata
          ?.resourceVersion,
      });
      const before = await snapshot();

      using dry = makeKube(kc, true);
      const { log, lines } = collectingLogger(node);
      await setNodeLabels(dry, node, { "kreboot.test/pre": "x" });
      await setPreferNoScheduleTaint(dry, node, "kreboot.test/reboot", true);
      assert.deepEqual(await cordon(dry, node), { wasUnschedulable: false });
      const result = await drain(dry, node, drainOpts(log));
      assert.deepEqual(result.ok && [result.evicted, result.deleted], [2, 1]);
      await retreat(dry, node, {
        taint: "kreboot.test/reboot",
        preRebootLabels: { a: "b" },
      });

      const after = await snapshot();
      assert.deepEqual(after, before);
      const said = (msg: string) => lines.filter((l) => l.msg === msg).map((l) => l.pod).sort();
      assert.deepEqual(said("dry run: would evict pod"), ["dry/bare", "dry/rs"]);
      assert.deepEqual(said("dry run: would delete finished pod"), ["dry/done"]);
      assert.deepEqual(said("dry run: eviction would block for now"), ["dry/blocked-0"]);
      const block = lines.find((l) => l.msg === "dry run: eviction would block for now");
      assert.match(String(block?.why), /disruption budget blocker/);
    });
  },
});
