import assert from "node:assert/strict";
import type { Kube } from "../../../lib/kube/mod.ts";
import { Logger } from "../../../lib/log.ts";
import { IN_PROGRESS, MOST_RECENT } from "../../../lib/report/annotations.ts";
import { Metrics } from "../../../lib/report/metrics.ts";
import { Reporter } from "../../../lib/report/reporter.ts";
import { fakeKube } from "./fake_kube.ts";
import { CONFIG, metric, setup, step } from "./reporter_support.ts";

Deno.test("Reporter: one cycle fans out to Events, condition, annotations, notifications and metrics in order", async () => {
  const s = setup();
  const r = s.reporter;
  r.sentinel({ required: true });
  step(r, "required", "RebootRequired", "reboot required");
  step(r, "required", "RebootBlocked", "outside the reboot window", { blockReason: "window" });
  assert.equal(metric(await s.metrics.text(), 'kreboot_reboot_blocked{node="n1",reason="window"}'), 1);
  step(r, "cordoning", "SlotAcquired", "slot acquired");
  assert.equal(metric(await s.metrics.text(), 'kreboot_reboot_blocked{node="n1",reason="window"}'), 0);
  assert.equal(metric(await s.metrics.text(), 'kreboot_slot_held{node="n1"}'), 1);
  step(r, "draining", "Cordoned", "node cordoned");
  r.report({ reason: "Draining", message: "draining node" }, "draining");
  step(r, "rebooting", "Rebooting", "rebooting node");
  await r.flush();

  const events = s.f.of("createNamespacedEvent").map((c) => {
    const b = c.params.body as { reason: string; action: string; regarding: { uid?: string } };
    return `${b.reason}@${b.action}:${b.regarding.uid}`;
  });
  assert.deepEqual(events, [
    "RebootRequired@required:uid-n1",
    "RebootBlocked@required:uid-n1",
    "SlotAcquired@cordoning:uid-n1",
    "Cordoned@draining:uid-n1",
    "Draining@draining:uid-n1",
    "Rebooting@rebooting:uid-n1",
  ]);
  const conditions = s.f.of("patchNodeStatus").map((c) => {
    assert.equal(c.contentType, "application/strategic-merge-patch+json");
    const cond = (c.params.body as { status: { conditions: { status: string; reason: string }[] } }).status
      .conditions[0]!;
    return `${cond.status}/${cond.reason}`;
  });
  assert.deepEqual(conditions, [
    "True/RebootRequired",
    "True/BlockedByWindow",
    "True/SlotAcquired",
    "True/Cordoned",
    "True/Draining",
    "True/Rebooting",
  ]);
  const annotate = s.f.of("patchNode");
  assert.equal(annotate.length, 1);
  const ann =
    (annotate[0]!.params.body as { metadata: { annotations: Record<string, string> } }).metadata.annotations;
  assert.deepEqual(Object.keys(ann).sort(), [MOST_RECENT, IN_PROGRESS].sort());
  assert.deepEqual(s.sent.map((m) => m.body.message), ["Draining node n1", "Rebooting node n1"]);
  assert.equal(s.sent[0]?.url, "https://hooks.example.com/h");
  const text = await s.metrics.text();
  assert.equal(metric(text, 'kured_reboot_required{node="n1"}'), 1);
  assert.equal(metric(text, 'kreboot_phase{node="n1",phase="rebooting"}'), 1);
  // The node is read once, for its uid and condition.
  assert.equal(s.f.of("readNode").length, 2, "once for the uid, once for the annotation check");
});

Deno.test("Reporter: after the reboot (a new process) the condition clears and the annotation goes with the sentinel", async () => {
  const f = fakeKube();
  f.node = {
    metadata: { name: "n1", uid: "uid-n1", annotations: { [IN_PROGRESS]: "2026-03-01T09:00:00Z" } },
    status: {
      conditions: [{
        type: "RebootRequired",
        status: "True",
        reason: "Rebooting",
        message: "rebooting node",
        lastTransitionTime: new Date("2026-03-01T09:00:00Z"),
      }],
    },
  };
  const s = setup({}, f);
  const r = s.reporter;
  step(r, "recovering", "RebootConfirmed", "node rebooted (boot ID a -> b)");
  step(r, "release-delay", "Uncordoned", "node back in service");
  step(r, "idle", "SlotReleased", "slot released");
  await r.flush();
  assert.equal(f.of("patchNode").length, 0, "the annotation waits for the sentinel check");
  r.sentinel({ required: false });
  await r.flush();
  assert.deepEqual(f.of("patchNode").map((c) => c.params.body), [[
    { op: "remove", path: "/metadata/annotations/weave.works~1kured-reboot-in-progress" },
  ]]);
  const conds = f.of("patchNodeStatus").map((c) =>
    (c.params.body as {
      status: { conditions: { status: string; reason: string; lastTransitionTime: string }[] };
    })
      .status.conditions[0]!
  );
  assert.equal(conds.length, 1);
  assert.equal(conds[0]?.status, "False");
  assert.equal(conds[0]?.reason, "RebootConfirmed");
  assert.equal(conds[0]?.lastTransitionTime, "2026-03-01T10:00:00Z");
  assert.deepEqual(s.sent.map((m) => m.body.message), ["Node n1 rebooted & uncordoned successfully!"]);
  const text = await s.metrics.text();
  assert.equal(metric(text, 'kreboot_reboots_total{node="n1",result="ok"}'), 1);
  assert.equal(metric(text, 'kreboot_last_reboot_timestamp_seconds{node="n1"}'), 1772359200);
  assert.equal(metric(text, 'kured_reboot_required{node="n1"}'), 0);
});

Deno.test("Reporter: a repeated block sends one condition patch and one Event until a minute passed", async () => {
  const s = setup({ annotateNodes: false, notifyUrl: "" });
  const r = s.reporter;
  const blocked = () =>
    r.report({ reason: "RebootBlocked", message: "alert X", blockReason: "alert" }, "required");
  blocked();
  await r.flush();
  const before = s.f.calls.length;
  for (let i = 0; i < 5; i++) {
    s.advance(10_000);
    blocked();
  }
  await r.flush();
  // flush writes the held count once; nothing else happened.
  assert.deepEqual(s.f.calls.slice(before).map((c) => c.method), ["patchNamespacedEvent"]);
  assert.deepEqual((s.f.calls.at(-1)?.params.body as { series: { count: number } }).series.count, 6);
  s.advance(61_000);
  blocked();
  await r.flush();
  assert.equal(s.f.of("patchNodeStatus").length, 1);
  assert.equal(s.f.of("patchNode").length, 0);
});

Deno.test("Reporter: an unchanged condition already on the node is not rewritten after a restart", async () => {
  const f = fakeKube();
  f.node = {
    metadata: { name: "n1", uid: "uid-n1" },
    status: {
      conditions: [{
        type: "RebootRequired",
        status: "True",
        reason: "BlockedByWindow",
        message: "closed",
      }],
    },
  };
  const s = setup({ annotateNodes: false }, f);
  s.reporter.report({ reason: "RebootBlocked", message: "closed", blockReason: "window" }, "required");
  await s.reporter.flush();
  assert.equal(f.of("patchNodeStatus").length, 0);
  assert.equal(f.of("createNamespacedEvent").length, 1);
});

Deno.test("Reporter: the loop's read of the node gives the uid and the condition: no read of its own", async () => {
  const f = fakeKube();
  const s = setup({ annotateNodes: false }, f);
  s.reporter.nodeSeen({
    metadata: { name: "n1", uid: "uid-seen" },
    status: {
      conditions: [{ type: "RebootRequired", status: "True", reason: "BlockedByWindow", message: "closed" }],
    },
  });
  // A later read (from the watch, maybe older than what the reporter wrote since) changes nothing.
  s.reporter.nodeSeen({ metadata: { name: "n1", uid: "uid-later" }, status: { conditions: [] } });
  s.reporter.report({ reason: "RebootBlocked", message: "closed", blockReason: "window" }, "required");
  s.reporter.report(
    { reason: "RebootBlocked", message: "all 1 slot(s) held", blockReason: "lock" },
    "waiting",
  );
  await s.reporter.flush();
  assert.equal(f.of("readNode").length, 0);
  assert.equal(f.of("patchNodeStatus").length, 1, "the unchanged window block is not rewritten");
  const events = f.of("createNamespacedEvent").map((c) => c.params.body as { regarding?: { uid?: string } });
  assert.ok(events.length === 2 && events.every((e) => e.regarding?.uid === "uid-seen"));
});

Deno.test("Reporter: the reason alone sets the Event type, the log level, the notification and the metrics", async () => {
  const s = setup({ annotateNodes: false });
  const r = s.reporter;
  step(r, "uncordoning", "UncordonFailed", "uncordon failed: HTTP 500; retrying");
  step(r, "releasing", "ReleaseFailed", "release failed: HTTP 503; retrying");
  step(r, "retreating", "RetreatFailed", "retreat failed: HTTP 500; retrying");
  step(r, "retreating", "SlotLost", "lost the slot (gone); undoing the cordon and stopping");
  step(r, "uncordoning", "RecoveryIncomplete", "the reboot sentinel is still present after the reboot");
  step(r, "release-delay", "Uncordoned", "node back in service");
  await r.flush();
  const events = s.f.of("createNamespacedEvent").map((c) => {
    const b = c.params.body as { reason: string; type: string };
    return `${b.reason}:${b.type}`;
  });
  assert.deepEqual(events, [
    "UncordonFailed:Warning",
    "ReleaseFailed:Warning",
    "RetreatFailed:Warning",
    "SlotLost:Warning",
    "RecoveryIncomplete:Warning",
    "Uncordoned:Normal",
  ]);
  const levels = s.lines.map((l) => JSON.parse(l)).filter((l) => l.reason).map((l) =>
    `${l.reason}:${l.level}`
  );
  assert.deepEqual(levels, [
    "UncordonFailed:warn",
    "ReleaseFailed:warn",
    "RetreatFailed:warn",
    "SlotLost:warn",
    "RecoveryIncomplete:warn",
    "Uncordoned:info",
  ]);
  // Only the successful uncordon is notified; the failures never pass for it.
  assert.deepEqual(s.sent.map((m) => m.body.message), ["Node n1 rebooted & uncordoned successfully!"]);
  const conds = s.f.of("patchNodeStatus").map((c) =>
    (c.params.body as { status: { conditions: { status: string; reason: string }[] } }).status.conditions[0]!
  ).map((c) => `${c.status}/${c.reason}`);
  assert.deepEqual(conds, ["True/SlotLost", "False/RecoveryIncomplete"]);
  // RecoveryIncomplete follows a reboot already counted; it is no second reboot.
  assert.equal(metric(await s.metrics.text(), 'kreboot_reboots_total{node="n1",result="ok"}'), 0);
  step(r, "recovering", "RebootAssumed", "no boot ID to compare, so taking it as the reboot");
  assert.equal(metric(await s.metrics.text(), 'kreboot_reboots_total{node="n1",result="ok"}'), 1);
  await r.flush();
});

Deno.test("Reporter: report() returns at once even when the API server hangs", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const hang = () => gate.then(() => ({}));
  const kube = {
    dryRun: false,
    core: { readNode: hang, patchNode: hang, patchNodeStatus: hang },
    events: { createNamespacedEvent: hang, patchNamespacedEvent: hang },
  } as unknown as Kube;
  const reporter = new Reporter({
    config: { ...CONFIG, notifyUrl: "" },
    kube,
    log: new Logger({ format: "json", node: "n1", sink: () => {} }),
    metrics: new Metrics("n1", { defaultMetrics: false }),
  });
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) reporter.report({ reason: "RebootBlocked", message: `m${i}` }, "required");
  const ms = performance.now() - t0;
  assert.ok(ms < 200, `report() took ${ms} ms`);
  release();
  await reporter.flush();
});

Deno.test("Reporter: dry run marks notifications and writes with dryRun=All; API failures are only logged", async () => {
  const f = fakeKube({ dryRun: true });
  const s = setup({ dryRun: true }, f);
  step(s.reporter, "required", "RebootRequired", "reboot required");
  step(s.reporter, "rebooting", "Rebooting", "rebooting node");
  await s.reporter.flush();
  for (const c of f.calls.filter((c) => c.method !== "readNode")) {
    assert.equal(c.params.dryRun, "All", c.method);
  }
  assert.deepEqual(s.sent.map((m) => m.body.message), ["[dry run] Rebooting node n1"]);
  assert.equal(metric(await s.metrics.text(), 'kreboot_reboots_total{node="n1",result="dry-run"}'), 1);

  const g = fakeKube();
  g.fail.set("patchNodeStatus", 403);
  g.fail.set("createNamespacedEvent", 500);
  const t = setup({ notifyUrl: "" }, g);
  t.reporter.report({ reason: "RebootRequired", message: "reboot required" }, "required");
  await t.reporter.flush();
  const warns = t.lines.map((l) => JSON.parse(l)).filter((l) => l.level === "warn").map((l) => l.msg);
  assert.deepEqual(warns.sort(), [
    "could not create an Event on the node",
    "could not set the RebootRequired condition on the node",
  ]);
});

Deno.test("Reporter: --slack-channel and a non-default --slack-username reach a slack:// URL", async () => {
  const s = setup({
    notifyUrl: "slack://T1/B2/X3",
    slackChannel: "ops",
    slackUsername: "rebooter",
    annotateNodes: false,
  });
  s.reporter.report({ reason: "Draining", message: "draining node" }, "draining");
  await s.reporter.flush();
  assert.equal(s.sent[0]?.url, "https://hooks.slack.com/services/T1/B2/X3");
  assert.deepEqual(s.sent[0]?.body as unknown, {
    text: "Draining node n1",
    username: "rebooter",
    channel: "ops",
  });
});

Deno.test("Reporter: a bad --notify-url is refused at construction", () => {
  assert.throws(() => setup({ notifyUrl: "slack://only/two" }), /--notify-url: .*three token parts/);
});

Deno.test("Reporter: flushWrites waits for the queued writes, and no longer than told", async () => {
  const s = setup({ annotateNodes: false });
  s.reporter.report({ reason: "Rebooting", message: "rebooting node" }, "rebooting");
  await s.reporter.flushWrites(5_000);
  assert.equal(s.f.of("createNamespacedEvent").length, 1);
  assert.equal(s.f.of("patchNodeStatus").length, 1);

  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const hang = () => gate.then(() => ({}));
  const stuck = new Reporter({
    config: { ...CONFIG, notifyUrl: "", annotateNodes: false },
    kube: {
      dryRun: false,
      core: { readNode: hang, patchNodeStatus: hang },
      events: { createNamespacedEvent: hang },
    } as unknown as Kube,
    log: new Logger({ format: "json", node: "n1", sink: () => {} }),
    metrics: new Metrics("n1", { defaultMetrics: false }),
  });
  stuck.report({ reason: "Rebooting", message: "rebooting node" }, "rebooting");
  const t0 = Date.now();
  await stuck.flushWrites(100);
  assert.ok(Date.now() - t0 < 2_000, "bounded");
  release();
  await stuck.flush();
});

Deno.test("Reporter: each queued condition write is announced with the Node it leaves, except in a dry run", async () => {
  for (const dryRun of [false, true]) {
    const f = fakeKube({ dryRun });
    const writes: Promise<unknown>[] = [];
    const reporter = new Reporter({
      config: { ...CONFIG, notifyUrl: "", annotateNodes: false, dryRun },
      kube: f.kube,
      log: new Logger({ format: "json", node: "n1", sink: () => {} }),
      metrics: new Metrics("n1", { defaultMetrics: false }),
      nodeWrites: (w) => writes.push(w),
      conditionSettleMs: 0,
    });
    reporter.report({ reason: "RebootRequired", message: "reboot required" }, "required");
    // The same condition again: announced, and answered with nothing written.
    reporter.report({ reason: "RebootRequired", message: "reboot required" }, "required");
    await reporter.flush();
    assert.equal(f.of("patchNodeStatus").length, 1);
    if (dryRun) {
      assert.equal(writes.length, 0);
      continue;
    }
    const answers = await Promise.all(writes);
    assert.equal(answers.length, 2);
    assert.ok(answers[0], "the first wrote the condition");
    assert.equal(answers[1], undefined, "the second wrote nothing");
  }
});
