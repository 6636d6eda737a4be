/**
 * Events, the RebootRequired condition and kured's annotations on a real kube-apiserver, written by the
 * Reporter as a ServiceAccount that has only the rights reporting needs.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { type Kube, loadKubeConfig, makeKube } from "../../lib/kube/mod.ts";
import type { TestKube } from "../harness/full_kube.ts";
import { Logger } from "../../lib/log.ts";
import type { Phase, Report } from "../../lib/machine/mod.ts";
import { IN_PROGRESS, MOST_RECENT } from "../../lib/report/annotations.ts";
import { CONDITION_TYPE, decodeCondition } from "../../lib/report/condition.ts";
import { REPORTING_CONTROLLER } from "../../lib/report/events.ts";
import { Metrics } from "../../lib/report/metrics.ts";
import { Reporter, type ReporterConfig } from "../../lib/report/reporter.ts";
import { startCluster, type TestCluster } from "../harness/mod.ts";

const NS = "kube-system";
const SA = "kreboot-report";

/** Just what reporting needs: read and patch the Node, patch its status, create and patch Events in default. */
async function reporterKube(cluster: TestCluster, dryRun = false): Promise<Kube> {
  await cluster.applyObjects([
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: SA },
      rules: [
        { apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] },
        { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: SA },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: SA },
      subjects: [{ kind: "ServiceAccount", name: SA, namespace: NS }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: SA, namespace: "default" },
      rules: [{ apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: SA, namespace: "default" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: SA },
      subjects: [{ kind: "ServiceAccount", name: SA, namespace: NS }],
    },
  ]);
  return makeKube(loadKubeConfig(await cluster.serviceAccountKubeconfig(NS, SA)), dryRun);
}

function reporter(kube: Kube, node: string, lines: string[], config: Partial<ReporterConfig> = {}): Reporter {
  return new Reporter({
    config: {
      nodeId: node,
      dryRun: kube.dryRun,
      annotateNodes: true,
      notifyUrl: "",
      notifyTimeout: 1_000,
      messageTemplateDrain: "Draining node %s",
      messageTemplateReboot: "Rebooting node %s",
      messageTemplateUncordon: "Node %s rebooted & uncordoned successfully!",
      slackChannel: "",
      slackUsername: "kured",
      ...config,
    },
    kube,
    log: new Logger({ format: "json", node, sink: (l) => lines.push(l) }),
    metrics: new Metrics(node, { defaultMetrics: false }),
    // Every repeat is written at once, so the test sees the series without waiting a minute.
    eventIntervalMs: 0,
    // And every condition step as it comes (the settling is tested in tests/unit/report/reporter_test.ts).
    conditionSettleMs: 0,
  });
}

function say(
  r: Reporter,
  phase: Phase,
  reason: Report["reason"],
  message: string,
  extra: Partial<Report> = {},
) {
  r.phaseChanged(phase);
  r.report({ reason, message, ...extra }, phase);
}

/** The node's Events as `kubectl describe node` finds them (core/v1 view, by kind and name), oldest first. */
async function nodeEvents(admin: TestKube, node: string): Promise<k8s.CoreV1Event[]> {
  const list = await admin.core.listNamespacedEvent({
    namespace: "default",
    fieldSelector: `involvedObject.kind=Node,involvedObject.name=${node}`,
  });
  // eventTime comes back as a MicroTime string; compare it as a date.
  const time = (e: k8s.CoreV1Event) => new Date(String(e.eventTime)).getTime();
  return list.items.sort((a, b) => time(a) - time(b));
}

function condition(node: k8s.V1Node): k8s.V1NodeCondition | undefined {
  return node.status?.conditions?.find((c) => c.type === CONDITION_TYPE);
}

Deno.test("report e2e: Events, the RebootRequired condition and kured's annotations", async (t) => {
  await using cluster = await startCluster();
  const admin = cluster.kube;
  const created = await cluster.createNode("n1");
  const kube = await reporterKube(cluster);
  const lines: string[] = [];

  await t.step(
    "a cycle up to the reboot: Events in order, a repeated block aggregated, condition True",
    async () => {
      const r = reporter(kube, "n1", lines);
      r.sentinel({ required: true });
      say(r, "required", "RebootRequired", "reboot required");
      for (let i = 0; i < 3; i++) {
        say(r, "required", "RebootBlocked", "outside the reboot window (mo-fr 02:00-04:00 UTC)", {
          blockReason: "window",
        });
      }
      say(r, "cordoning", "SlotAcquired", "slot acquired");
      say(r, "draining", "Cordoned", "node cordoned");
      say(r, "draining", "Draining", "draining node");
      say(r, "rebooting", "Rebooting", "rebooting node");
      await r.flush();
      assert.deepEqual(lines.filter((l) => l.includes('"warn"')), [], "no write was refused");

      const events = await nodeEvents(admin, "n1");
      assert.deepEqual(events.map((e) => e.reason), [
        "RebootRequired",
        "RebootBlocked",
        "SlotAcquired",
        "Cordoned",
        "Draining",
        "Rebooting",
      ]);
      const blocked = events[1]!;
      assert.equal(blocked.series?.count, 3, "three identical blocks: one Event with a series of 3");
      assert.equal(blocked.message, "outside the reboot window (mo-fr 02:00-04:00 UTC)");
      for (const e of events) {
        assert.equal(e.involvedObject.uid, created.metadata?.uid);
        assert.equal(e.reportingComponent, REPORTING_CONTROLLER);
        assert.equal(e.reportingInstance, "n1");
        assert.equal(e.type, "Normal");
      }
      assert.equal(events[5]?.action, "rebooting");

      const node = await admin.core.readNode({ name: "n1" });
      const c = condition(node);
      assert.equal(c?.status, "True");
      assert.equal(c?.reason, "Rebooting");
      const ann = node.metadata?.annotations ?? {};
      assert.match(ann[IN_PROGRESS] ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(ann[MOST_RECENT], ann[IN_PROGRESS]);
      // The Ready condition the harness set is untouched by the strategic merge.
      assert.equal(node.status?.conditions?.find((x) => x.type === "Ready")?.status, "True");
    },
  );

  await t.step(
    "after the reboot (a new process): condition False, annotation removed with the sentinel",
    async () => {
      const before = condition(await admin.core.readNode({ name: "n1" }));
      await new Promise((r) => setTimeout(r, 1_100)); // a visibly later transition time
      const r = reporter(kube, "n1", lines);
      say(r, "recovering", "RebootConfirmed", "node rebooted (boot ID a -> b)");
      say(r, "release-delay", "Uncordoned", "node back in service");
      r.sentinel({ required: false });
      await r.flush();
      const node = await admin.core.readNode({ name: "n1" });
      const c = condition(node);
      assert.equal(c?.status, "False");
      assert.equal(c?.reason, "RebootConfirmed");
      assert.ok(
        (c?.lastTransitionTime?.getTime() ?? 0) > (before?.lastTransitionTime?.getTime() ?? Infinity),
      );
      assert.equal(node.metadata?.annotations?.[IN_PROGRESS], undefined);
      assert.ok(node.metadata?.annotations?.[MOST_RECENT], "the most-recent annotation stays, as in kured");
      // Removing it again (already gone) is quietly fine.
      r.report({ reason: "RebootNotRequired", message: "reboot no longer required" }, "idle");
      await r.flush();
      assert.deepEqual(lines.filter((l) => l.includes('"warn"')), []);
    },
  );

  await t.step("an unchanged condition costs no write; dry-run leaves nothing behind", async () => {
    const rv = (await admin.core.readNode({ name: "n1" })).metadata?.resourceVersion;
    const r = reporter(kube, "n1", lines, { annotateNodes: false });
    // The condition is False/NoRebootRequired since the end of the last step: the same again is no write.
    r.report({ reason: "RebootNotRequired", message: "reboot no longer required" }, "idle");
    await r.flush();
    assert.equal((await admin.core.readNode({ name: "n1" })).metadata?.resourceVersion, rv);

    const dry = reporter(await reporterKube(cluster, true), "n1", lines);
    const eventsBefore = (await nodeEvents(admin, "n1")).length;
    say(dry, "required", "RebootRequired", "reboot required");
    say(dry, "required", "RebootBlocked", "dry-run block", { blockReason: "alert" });
    await dry.flush();
    assert.deepEqual(lines.filter((l) => l.includes('"warn"')), [], "dry-run writes are accepted");
    const node = await admin.core.readNode({ name: "n1" });
    assert.equal(node.metadata?.resourceVersion, rv);
    assert.equal(condition(node)?.reason, "NoRebootRequired");
    assert.equal((await nodeEvents(admin, "n1")).length, eventsBefore, "dry-run Events are not stored");
  });

  await t.step("a block reads back as `kreboot status` shows it; a failure is a Warning Event", async () => {
    const r = reporter(kube, "n1", lines, { annotateNodes: false });
    say(r, "required", "RebootRequired", "reboot required");
    say(r, "required", "RebootBlocked", "PodDisruptionBudget work/db allows 0 disruptions", {
      blockReason: "pdb",
    });
    await r.flush();
    const c = condition(await admin.core.readNode({ name: "n1" }));
    assert.equal(c?.reason, "BlockedByPDB");
    const { since, ...decoded } = decodeCondition(c!);
    assert.ok(since instanceof Date && !isNaN(since.getTime()));
    assert.deepEqual(decoded, {
      status: "True",
      state: "RebootBlocked",
      blockedBy: "pdb",
      message: "PodDisruptionBudget work/db allows 0 disruptions",
    });
    say(r, "uncordoning", "UncordonFailed", "uncordon failed: HTTP 500; retrying");
    await r.flush();
    const failed = (await nodeEvents(admin, "n1")).filter((e) => e.reason === "UncordonFailed");
    assert.deepEqual(failed.map((e) => [e.type, e.message]), [[
      "Warning",
      "uncordon failed: HTTP 500; retrying",
    ]]);
    assert.equal(
      condition(await admin.core.readNode({ name: "n1" }))?.reason,
      "BlockedByPDB",
      "left as it was",
    );
  });
});
