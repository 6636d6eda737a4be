/**
 * `kreboot hold`, `unhold` and `request-reboot` as an operator runs them: the real CLI process with a user's
 * own credentials (a ServiceAccount kubeconfig with exactly the RBAC an operator would have), against the real
 * apiserver. They write and clear the node annotations that lib/node_control/ decodes, record who did it as
 * the apiserver knows them, and change nothing when the credentials may not.
 */
import assert from "node:assert/strict";
import {
  clearRequestPatch,
  HOLD_ANNOTATION,
  holdOf,
  isHeld,
  rebootRequested,
  REQUEST_ANNOTATION,
  requestOf,
  requestSatisfied,
} from "../../lib/node_control/mod.ts";
import { startCluster, type TestCluster } from "../harness/mod.ts";
import { type CliResult, runKreboot } from "./support.ts";
import * as k8s from "@kubernetes/client-node";

/** A user whose credentials may do `verbs` on nodes and nothing else (besides what every user may). */
async function user(cluster: TestCluster, name: string, verbs: string[]): Promise<string> {
  await cluster.applyObjects([
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: `e2e-${name}` },
      rules: [{ apiGroups: [""], resources: ["nodes"], verbs }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `e2e-${name}` },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `e2e-${name}` },
      subjects: [{ kind: "ServiceAccount", name, namespace: "ops" }],
    },
  ]);
  return await cluster.serviceAccountKubeconfig("ops", name);
}

async function annotations(cluster: TestCluster, node: string): Promise<Record<string, string>> {
  return (await cluster.kube.core.readNode({ name: node })).metadata?.annotations ?? {};
}

function oneLine(r: CliResult): string {
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line on stderr:\n${r.stderr}`);
  return lines[0] ?? "";
}

Deno.test("kreboot hold, unhold and request-reboot e2e", async (t) => {
  await using cluster = await startCluster();
  await cluster.createNode("h1");
  await cluster.createNode("h2");
  const alice = await user(cluster, "alice", ["get", "patch"]);
  const eve = await user(cluster, "eve", ["get"]);

  await t.step("hold writes who (as the apiserver knows them), why and since when", async () => {
    const before = Date.now();
    const r = await runKreboot(alice, ["hold", "h1", "--reason", "NIC firmware debugging"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /node h1 held by system:serviceaccount:ops:alice: NIC firmware debugging/);
    const node = await cluster.kube.core.readNode({ name: "h1" });
    assert.equal(isHeld(node), true);
    const hold = holdOf(node);
    assert.equal(hold?.by, "system:serviceaccount:ops:alice");
    assert.equal(hold?.reason, "NIC firmware debugging");
    const since = Date.parse(hold?.since ?? "");
    assert.ok(since >= before - 1_000 && since <= Date.now() + 1_000, `since ${hold?.since}`);
    assert.equal(isHeld(await cluster.kube.core.readNode({ name: "h2" })), false, "other nodes untouched");
  });

  await t.step("credentials that may not patch nodes change nothing and say so in one line", async () => {
    const held = (await annotations(cluster, "h1"))[HOLD_ANNOTATION];
    const r = await runKreboot(eve, ["unhold", "h1"]);
    assert.equal(r.code, 1);
    assert.match(
      oneLine(r),
      /^kreboot unhold: your credentials may not change node h1 \(they need get and patch on nodes\): HTTP 403/,
    );
    assert.equal((await annotations(cluster, "h1"))[HOLD_ANNOTATION], held, "still held as before");
    const h = await runKreboot(eve, ["hold", "h2", "--reason", "x"]);
    assert.equal(h.code, 1);
    assert.equal(isHeld(await cluster.kube.core.readNode({ name: "h2" })), false);
  });

  await t.step(
    "a second hold replaces the first and says whose it was; --by names someone else",
    async () => {
      const r = await runKreboot(alice, [
        "hold",
        "h1",
        "--reason",
        "still debugging",
        "--by",
        "alice@example.com",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\(was held by system:serviceaccount:ops:alice: NIC firmware debugging\)/);
      assert.equal(holdOf(await cluster.kube.core.readNode({ name: "h1" }))?.by, "alice@example.com");
    },
  );

  await t.step("unhold removes the annotation; unholding again is a no-op", async () => {
    const r = await runKreboot(alice, ["unhold", "h1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /node h1 no longer held \(was held by alice@example\.com since .*: still debugging\)/,
    );
    assert.equal((await annotations(cluster, "h1"))[HOLD_ANNOTATION], undefined);
    const again = await runKreboot(alice, ["unhold", "h1"]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /node h1 was not held/);
  });

  await t.step("--dry-run sends the write with dryRun=All: nothing changes", async () => {
    const r = await runKreboot(alice, ["hold", "h1", "--reason", "try", "--dry-run"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\(dry run: nothing was changed\)$/m);
    assert.equal((await annotations(cluster, "h1"))[HOLD_ANNOTATION], undefined);
  });

  await t.step("request-reboot records the boot it was made in; a new boot satisfies it", async () => {
    const bootID = await cluster.getBootID("h2");
    const r = await runKreboot(alice, ["request-reboot", "h2", "--reason", "kernel parameter change"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /reboot of node h2 requested by system:serviceaccount:ops:alice: kernel parameter change/,
    );
    let node = await cluster.kube.core.readNode({ name: "h2" });
    const req = requestOf(node)?.value;
    assert.equal(req?.bootId, bootID);
    assert.equal(req?.reason, "kernel parameter change");
    assert.equal(rebootRequested(node), true);
    assert.equal(requestSatisfied(node), false);

    // The node reboots (a new boot ID): the request no longer asks for a reboot, even before it is cleared.
    await cluster.setBootID("h2");
    node = await cluster.kube.core.readNode({ name: "h2" });
    assert.equal(rebootRequested(node), false);
    assert.equal(requestSatisfied(node), true);

    // The daemon clears it with a JSON Patch that tests the value first: a request made again meanwhile stays.
    const seen = node.metadata?.annotations?.[REQUEST_ANNOTATION] ?? "";
    const again = await runKreboot(alice, ["request-reboot", "h2", "--reason", "one more"]);
    assert.equal(again.code, 0, again.stderr);
    await assert.rejects(
      cluster.kube.core.patchNode(
        { name: "h2", body: clearRequestPatch(seen) },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
      ),
      (e: unknown) => e instanceof k8s.ApiException && e.code === 422,
    );
    node = await cluster.kube.core.readNode({ name: "h2" });
    assert.equal(requestOf(node)?.value?.reason, "one more", "the newer request survived");
    await cluster.kube.core.patchNode(
      { name: "h2", body: clearRequestPatch(node.metadata?.annotations?.[REQUEST_ANNOTATION] ?? "") },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    );
    assert.equal((await annotations(cluster, "h2"))[REQUEST_ANNOTATION], undefined);
  });

  await t.step("request-reboot --cancel withdraws a request", async () => {
    assert.equal((await runKreboot(alice, ["request-reboot", "h2"])).code, 0);
    assert.ok((await annotations(cluster, "h2"))[REQUEST_ANNOTATION]);
    const r = await runKreboot(alice, ["request-reboot", "h2", "--cancel"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /reboot request for node h2 cancelled/);
    assert.equal((await annotations(cluster, "h2"))[REQUEST_ANNOTATION], undefined);
    const none = await runKreboot(alice, ["request-reboot", "h2", "--cancel"]);
    assert.match(none.stdout, /node h2 had no reboot request/);
  });

  await t.step("a missing node and bad usage: exit 1 or 2, one line, nothing written", async () => {
    const missing = await runKreboot(alice, ["hold", "nowhere", "--reason", "x"]);
    assert.equal(missing.code, 1);
    assert.match(
      oneLine(missing),
      /^kreboot hold: node nowhere not found: check the name with `kubectl get nodes`$/,
    );
    const noReason = await runKreboot(alice, ["hold", "h1"]);
    assert.equal(noReason.code, 2);
    assert.match(oneLine(noReason), /hold needs --reason/);
    const badFlag = await runKreboot(alice, ["unhold", "h1", "--period=soon"]);
    assert.equal(badFlag.code, 2);
    assert.match(oneLine(badFlag), /--period/);
    const nodes = await cluster.kube.core.listNode();
    for (const n of nodes.items) {
      assert.equal(n.metadata?.annotations?.[HOLD_ANNOTATION], undefined, n.metadata?.name);
    }
  });
});
