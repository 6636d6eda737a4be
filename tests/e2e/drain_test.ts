/**
 * The drain against a real cluster (Eviction subresource, PDB bookkeeping, dry-run), run as a ServiceAccount
 * holding only the RBAC a drain needs. The real controllers run: the disruption controller writes PDB status,
 * ReplicaSets replace evicted pods, the scheduler places them and kwok plays the kubelet (runs pods, removes
 * terminating ones). Each case uses its own nodes ("pool") and namespace on one control plane.
 */
import assert from "node:assert/strict";
import {
  cordon,
  drain,
  type EvictionResult,
  preflight,
  restoreAfterReboot,
  retreat,
  setNodeLabels,
  setPreferNoScheduleTaint,
} from "../../lib/drain/mod.ts";
import { loadKubeConfig, makeKube } from "../../lib/kube/mod.ts";
import { MERGE_PATCH } from "../harness/full_kube.ts";
import { startCluster } from "../harness/mod.ts";
import {
  collectingLogger,
  DRAIN_RBAC,
  drainOpts,
  names,
  pdbPods,
  podNames,
  readNode,
  SA,
  SA_NS,
  until,
  watchTerminations,
} from "./drain_support.ts";

Deno.test({
  name: "drain e2e: kubectl semantics, PDBs, 429 backoff, pre-flight, retreat, admin cordon, dry-run",
  sanitizeResources: true,
  sanitizeOps: true,
  fn: async (t) => {
    await using c = await startCluster({ controllers: true });
    await c.applyObjects(DRAIN_RBAC);
    const kc = loadKubeConfig(await c.serviceAccountKubeconfig(SA_NS, SA));
    using kube = makeKube(kc, false);
    const admin = c.kube;

    await t.step(
      "a mixed node: exactly the right pods go, PDB-limited ones one after the other, 429 backoff ≥ 5 s",
      async () => {
        const node = "n-mix";
        const ns = "mix";
        await c.createNode(node, { pool: "mix" });
        // The spare node takes no pods until the drain was refused once (see below).
        await c.createNode("n-spare", { pool: "mix", unschedulable: true });
        await c.ensureNamespace(ns);
        await c.createDeployment(ns, "rs", { pool: "mix" });
        await c.createDeployment(ns, "scratch", { pool: "mix", emptyDir: true });
        await c.createDeployment(ns, "web", { pool: "mix", replicas: 2 });
        await c.createDaemonSet(ns, "ds", { pool: "mix" });
        await c.createBarePod(ns, { name: "mirror", node, mirror: true });
        await c.createBarePod(ns, { name: "bare", node });
        await c.createBarePod(ns, { name: "done", node, exitCode: 0 });
        await c.createPdb(ns, "web", { matchLabels: { app: "web" }, minAvailable: 1 });
        for (const d of ["rs", "scratch", "web"]) await c.waitForDeployment(ns, d);
        await c.waitForReadyPods(ns, "app=ds", 2);
        await c.waitForPdb(ns, "web", 1);
        const before = await admin.core.listNamespacedPod({
          namespace: ns,
          fieldSelector: `spec.nodeName=${node}`,
        });
        const onNode = (app: string) =>
          names(before.items.filter((p) => p.metadata?.labels?.app === app)).map((n) => `${ns}/${n}`);
        const webPods = onNode("web");
        assert.equal(webPods.length, 2, "both web pods start on the node to drain");
        const watched = await watchTerminations(c, ns);

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

        // The first web eviction uses the PDB's one disruption: the second is refused (429) and must leave its
        // pod alone. Its replacement cannot run anywhere yet: with a spare node, it could be Ready within the
        // apiserver's own retry of a conflicting PDB update (500 ms), and the second eviction would pass at once.
        let survivorUntouched = false;
        await until("one web pod evicted and gone", 20_000, async () => {
          const web = (await podNames(admin, node)).filter((n) => n.startsWith("web-"));
          if (web.length !== 1) return false;
          const other = await admin.core.readNamespacedPod({ namespace: ns, name: web[0] as string });
          survivorUntouched = other.metadata?.deletionTimestamp === undefined;
          return true;
        });
        assert.ok(survivorUntouched, "the second web pod must not be evicted while the budget is used up");
        await until(
          "the second web eviction refused with 429",
          20_000,
          () => Promise.resolve(events.some((e) => e.result === "retry-429")),
        );
        // Now the ReplicaSet's replacement runs on the spare node, and the disruption controller gives the
        // budget back.
        await admin.core.patchNode(
          { name: "n-spare", body: { spec: { unschedulable: false } } },
          MERGE_PATCH,
        );

        const result = await drained;
        watched.stop();
        assert.equal(result.ok, true, JSON.stringify(result));
        assert.equal(result.ok && result.evicted, 5); // rs, bare, scratch, both web pods
        assert.equal(result.ok && result.deleted, 1); // done
        assert.deepEqual(
          (await podNames(admin, node)).map((n) => n.replace(/-[a-z0-9]{5}$/, "-*")),
          ["ds-*", "mirror"],
        );
        // The evicted pods went through Terminating (kwok removed them); nothing else on the node did.
        assert.deepEqual(
          [...watched.terminating].filter((n) => n !== `${ns}/done`).sort(),
          [...onNode("rs"), `${ns}/bare`, ...onNode("scratch"), ...webPods].sort(),
        );
        // Every evicted pod of a Deployment runs again, on the spare node.
        for (const d of ["rs", "scratch", "web"]) await c.waitForDeployment(ns, d);
        const moved = await c.livePods(ns, "app in (rs,scratch,web)");
        assert.deepEqual(new Set(moved.map((p) => p.spec?.nodeName)), new Set(["n-spare"]));

        // Every 429 was retried no sooner than 5 s after the previous attempt, and the last eviction came after.
        const retries = events.filter((e) => e.result === "retry-429").map((e) => e.at);
        const lastEvicted = Math.max(...events.filter((e) => e.result === "evicted").map((e) => e.at));
        assert.ok(retries.length >= 1, `the second web eviction was refused: ${JSON.stringify(events)}`);
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
        assert.deepEqual(skipped, [...onNode("ds"), `${ns}/mirror`].sort());
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
      await c.createNode(node, { pool: ns });
      await c.ensureNamespace(ns);
      await c.createBarePod(ns, { name: "picked", node, labels: { drain: "yes" } });
      await c.createBarePod(ns, { name: "other", node });
      const { log } = collectingLogger(node);
      const result = await drain(kube, node, drainOpts(log, { podSelector: "drain=yes" }));
      assert.deepEqual(result.ok && [result.evicted, result.deleted], [1, 0]);
      assert.deepEqual(await podNames(admin, node), ["other"]);
    });

    await t.step("a pod bound to the node after the drain listed its pods is drained too", async () => {
      const node = "n-late";
      const ns = "late";
      await c.createNode(node, { pool: ns });
      await c.ensureNamespace(ns);
      // Ignores SIGTERM for 3 s: the drain is still waiting for it when the late pod arrives.
      await c.createBarePod(ns, { name: "slow", node, terminationSeconds: 3 });
      await cordon(kube, node);
      const { log, lines } = collectingLogger(node);
      const drained = drain(kube, node, drainOpts(log));
      await until("slow terminating", 10_000, async () => {
        const pod = await admin.core.readNamespacedPod({ namespace: ns, name: "slow" });
        return pod.metadata?.deletionTimestamp !== undefined;
      });
      // What a scheduler that had not yet seen the cordon does: bind a pod to the node (seen in chaos runs). Not
      // waited for: the drain may evict it before kwok has it running.
      await admin.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: "late" },
          spec: { nodeName: node, containers: [{ name: "app", image: "registry.invalid/pause:3.10" }] },
        },
      });
      const result = await drained;
      assert.deepEqual(result.ok && [result.evicted, result.deleted], [2, 0], JSON.stringify(result));
      assert.deepEqual(await podNames(admin, node), []);
      const late = lines.find((l) => l.msg === "draining pods bound to the node after the drain began");
      assert.deepEqual(late?.pods, ["late/late"]);
    });

    await t.step("pre-flight blocks on a PDB allowing 0, naming it, and nothing is cordoned", async () => {
      const node = "n-zero";
      const ns = "zero";
      await c.createNode(node, { pool: ns });
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
        await c.createNode(node, { pool: ns });
        await c.ensureNamespace(ns);
        await c.createBarePod(ns, { name: "both", node, labels: { app: "x", tier: "y" } });
        // Each budget on its own would let the pod go.
        await c.createPdb(ns, "by-app", { matchLabels: { app: "x" }, minAvailable: 0 });
        await c.createPdb(ns, "by-tier", { matchLabels: { tier: "y" }, minAvailable: 0 });
        await c.waitForPdb(ns, "by-app", 1);
        await c.waitForPdb(ns, "by-tier", 1);
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
        await c.createNode(node, { pool: ns });
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
        await c.createNode(node, { pool: ns, unschedulable: true });
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
      await c.createNode(node, { pool: ns });
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
      await c.createNode(node, { pool: ns });
      await c.ensureNamespace(ns);
      await c.createDeployment(ns, "rs", { pool: "dry" });
      await c.createDaemonSet(ns, "ds", { pool: "dry" });
      await c.createBarePod(ns, { name: "bare", node });
      await c.createBarePod(ns, { name: "done", node, exitCode: 1 });
      await pdbPods(c, ns, node, "blocker", "blocker", ["blocked-0"], 0);
      // Settled: the controllers have nothing left to write.
      await c.waitForDeployment(ns, "rs");
      await c.waitForReadyPods(ns, "app=ds", 1);
      const rs = `${ns}/${names(await c.livePods(ns, "app=rs"))[0]}`;
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
      assert.deepEqual(said("dry run: would evict pod"), ["dry/bare", rs]);
      assert.deepEqual(said("dry run: would delete finished pod"), ["dry/done"]);
      assert.deepEqual(said("dry run: eviction would block for now"), ["dry/blocked-0"]);
      const block = lines.find((l) => l.msg === "dry run: eviction would block for now");
      assert.match(String(block?.why), /disruption budget blocker/);
    });
  },
});
