/**
 * Why an eviction did not go through, as the real kube-apiserver says it: a PodDisruptionBudget at 0, a
 * ValidatingAdmissionPolicy that denies evictions, a terminating namespace. lib/drain/blockers.ts must read the
 * apiserver's actual wording (the PDB's counts, the policy's message), and lib/drain/answer.ts must retry the
 * policy's denial instead of failing the drain (kured#1269). On the cluster with the real controllers: the
 * disruption controller keeps the PDB's status, the namespace controller empties a deleted namespace.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { classifyEvictionError } from "../../lib/drain/answer.ts";
import { classifyBlocker, describeBlocker, drainBlockedMessage } from "../../lib/drain/blockers.ts";
import { startCluster, type TestCluster } from "../harness/mod.ts";
import { eventually, evictionDenyingPolicy } from "./support.ts";

const NODE = "blk-1";

/** Asks for the eviction of `pod`; returns the refusal (the test needs one). */
async function refusal(c: TestCluster, pod: k8s.V1Pod): Promise<unknown> {
  const namespace = pod.metadata?.namespace ?? "";
  const name = pod.metadata?.name ?? "";
  try {
    await c.kube.core.createNamespacedPodEviction({
      namespace,
      name,
      body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { namespace, name } },
    });
  } catch (e) {
    return e;
  }
  throw new Error(`the eviction of ${namespace}/${name} went through`);
}

Deno.test("drain blockers e2e: the apiserver's refusals, classified and explained", async (t) => {
  await using c = await startCluster({ controllers: true });
  await c.createNode(NODE, { pool: "blk" });
  /** The one pod of a StatefulSet `name` (labels `app=<app>`) on NODE, once it runs. */
  const statefulPod = async (namespace: string, name: string, app: string) => {
    await c.createStatefulSet(namespace, name, { pool: "blk", labels: { app } });
    return (await c.waitForReadyPods(namespace, `app=${app}`, 1))[0]!;
  };

  await t.step("a PDB at 0: named with its counts, from the object and from the refusal alone", async () => {
    await c.ensureNamespace("blk-pdb");
    const pod = await statefulPod("blk-pdb", "web", "web");
    await c.createPdb("blk-pdb", "web", { matchLabels: { app: "web" }, minAvailable: 1 });
    await c.waitForPdb("blk-pdb", "web", 0);
    const e = await refusal(c, pod);
    assert.equal(classifyEvictionError(e).kind, "retry");
    const pdbs = (await c.kube.policy.listNamespacedPodDisruptionBudget({ namespace: "blk-pdb" })).items;
    const fromObject = classifyBlocker(pod, e, pdbs);
    assert.equal(fromObject.kind, "pdb");
    assert.match(
      describeBlocker(fromObject),
      /^pod blk-pdb\/web-0: PodDisruptionBudget blk-pdb\/web allows 0 disruptions \(1 healthy, 1 desired\)$/,
    );
    const fromAnswer = classifyBlocker(pod, e, []);
    assert.equal(
      fromAnswer.kind === "pdb" && fromAnswer.pdbs[0]?.name,
      "blk-pdb/web",
      JSON.stringify(fromAnswer),
    );
  });

  await t.step(
    "a ValidatingAdmissionPolicy denying evictions: retried, its name and message kept",
    async () => {
      await c.ensureNamespace("blk-vap");
      const pod = await statefulPod("blk-vap", "broker", "kafka");
      await c.applyObjects(
        evictionDenyingPolicy("no-evictions", "blk-vap", "the drain cleaner moves this pod itself"),
      );
      // The policy takes a moment to be loaded by the apiserver.
      const e = await eventually("the policy denies the eviction", 30_000, async () => {
        const err = await refusal(c, pod);
        return classifyBlocker(pod, err, []).kind === "admission" ? err : undefined;
      });
      const answer = classifyEvictionError(e);
      assert.equal(answer.kind, "retry", "an admission denial is retried, not fatal");
      const b = classifyBlocker(pod, e, []);
      assert.match(
        describeBlocker(b),
        /^pod blk-vap\/broker-0: eviction denied by ValidatingAdmissionPolicy "no-evictions" \(HTTP \d+\): the drain cleaner moves this pod itself$/,
      );
      assert.match(
        drainBlockedMessage([b]),
        /^drain blocked by 1 pod: .*the drain cleaner moves this pod itself$/,
      );
    },
  );

  await t.step("a terminating namespace", async () => {
    await c.ensureNamespace("blk-gone");
    // A pod that ignores SIGTERM: the namespace controller's deletion leaves it Terminating for a minute, and the
    // namespace Terminating with it.
    const pod = await c.createBarePod("blk-gone", { name: "leftover", node: NODE, terminationSeconds: 60 });
    await c.kube.core.deleteNamespace({ name: "blk-gone" });
    await eventually("the namespace controller deleting the pod", 30_000, async () => {
      const p = await c.kube.core.readNamespacedPod({ namespace: "blk-gone", name: "leftover" });
      return p.metadata?.deletionTimestamp ? true : undefined;
    });
    const e = await refusal(c, pod);
    assert.equal(classifyEvictionError(e).kind, "namespace-terminating");
    assert.equal(
      describeBlocker(classifyBlocker(pod, e, [])),
      "pod blk-gone/leftover: namespace blk-gone is terminating",
    );
  });
});
