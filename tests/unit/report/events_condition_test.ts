import assert from "node:assert/strict";
import { Logger } from "../../../lib/log.ts";
import type * as k8s from "@kubernetes/client-node";
import { BLOCK_REASONS } from "../../../lib/gates/gate.ts";
import { type Report, REPORT_REASONS, type ReportReason } from "../../../lib/machine/mod.ts";
import {
  addPatch,
  IN_PROGRESS,
  jsonPointerSegment,
  MOST_RECENT,
  NodeAnnotator,
  removePatch,
} from "../../../lib/report/annotations.ts";
import {
  CONDITION_TYPE,
  conditionFor,
  conditionPatch,
  decodeCondition,
  encodeCondition,
  type RebootCondition,
  rfc3339,
} from "../../../lib/report/condition.ts";
import {
  clampNote,
  eventBody,
  eventName,
  EventRecorder,
  eventStep,
  microTimeString,
  seriesPatch,
} from "../../../lib/report/events.ts";
import { fakeKube } from "./fake_kube.ts";

const quiet = () => new Logger({ format: "json", node: "n1", sink: () => {} });
const T0 = new Date("2026-03-01T10:00:00.123Z");
const at = (ms: number) => new Date(T0.getTime() + ms);

Deno.test("eventStep: create, then hold within the interval, patch after it, create again when stale", () => {
  assert.deepEqual(eventStep(undefined, 0, 60_000), { kind: "create" });
  const memo = { name: "e", count: 1, written: 1, lastWrite: 0 };
  assert.deepEqual(eventStep(memo, 59_999, 60_000), { kind: "hold", count: 2 });
  assert.deepEqual(eventStep({ ...memo, count: 4 }, 60_000, 60_000), { kind: "patch", count: 5 });
  assert.deepEqual(eventStep(memo, 50 * 60_000, 60_000), { kind: "create" });
  assert.deepEqual(eventStep(memo, 1, 0), { kind: "patch", count: 2 });
});

Deno.test("event body: events.k8s.io/v1 about the Node, with MicroTime and the reporting controller", () => {
  const body = eventBody(
    { node: "n1", uid: "u1" },
    { reason: "RebootBlocked", message: "outside the window", type: "Normal", action: "required" },
    "n1.abc",
    T0,
  );
  assert.equal(body.metadata?.namespace, "default");
  assert.equal(body.metadata?.name, "n1.abc");
  assert.deepEqual(body.regarding, { apiVersion: "v1", kind: "Node", name: "n1", uid: "u1" });
  assert.equal(body.reportingController, "kreboot.dev/kreboot");
  assert.equal(body.reportingInstance, "n1");
  assert.equal(body.action, "required");
  assert.equal(body.type, "Normal");
  assert.equal(body.note, "outside the window");
  assert.equal(body.eventTime.getTime(), T0.getTime());
  assert.equal(
    eventBody({ node: "n1" }, { reason: "R", message: "m", type: "Warning", action: "x" }, "n", T0).type,
    "Warning",
  );
  assert.deepEqual(seriesPatch(3, T0), {
    series: { count: 3, lastObservedTime: "2026-03-01T10:00:00.123000Z" },
  });
  assert.equal(microTimeString(T0), "2026-03-01T10:00:00.123000Z");
  assert.match(eventName("n1", T0.getTime()), /^n1\.[0-9a-f]+$/);
  assert.notEqual(eventName("n1", T0.getTime()), eventName("n1", T0.getTime()));
  const long = clampNote("é".repeat(2000));
  assert.ok(new TextEncoder().encode(long).length <= 1024);
  assert.ok(long.endsWith("…"));
  assert.equal(clampNote("short"), "short");
});

Deno.test("EventRecorder: repeated reason+message aggregates into the first event's series", async () => {
  const f = fakeKube();
  let now = T0;
  const rec = new EventRecorder(f.kube, { node: "n1", log: quiet(), now: () => now });
  rec.uid = "uid-n1";
  const e = {
    reason: "RebootBlocked",
    message: "outside the window",
    type: "Normal",
    action: "required",
  } as const;
  await rec.record(e);
  now = at(10_000);
  await rec.record(e); // held: within a minute
  await rec.record({ ...e, message: "alert X firing" }); // different message: a new event
  now = at(61_000);
  await rec.record(e); // patched with count 3
  assert.deepEqual(f.calls.map((c) => c.method), [
    "createNamespacedEvent",
    "createNamespacedEvent",
    "patchNamespacedEvent",
  ]);
  const first = f.of("createNamespacedEvent")[0]!.params as { body: { metadata: { name: string } } };
  const patch = f.of("patchNamespacedEvent")[0]!;
  assert.equal(patch.params.name, first.body.metadata.name);
  assert.equal(patch.params.namespace, "default");
  assert.equal(patch.contentType, "application/merge-patch+json");
  assert.deepEqual(patch.params.body, seriesPatch(3, at(61_000)));
  // A held occurrence is written at flush.
  now = at(62_000);
  await rec.record(e);
  await rec.flush();
  assert.deepEqual(f.of("patchNamespacedEvent")[1]!.params.body, seriesPatch(4, at(62_000)));
});

Deno.test("EventRecorder: an expired event (404 on patch) is created anew; failures are logged, not thrown", async () => {
  const f = fakeKube();
  let now = T0;
  const lines: string[] = [];
  const log = new Logger({ format: "json", node: "n1", sink: (l) => lines.push(l) });
  const rec = new EventRecorder(f.kube, { node: "n1", log, now: () => now, minIntervalMs: 0 });
  const e = { reason: "Draining", message: "draining node", type: "Normal", action: "draining" } as const;
  await rec.record(e);
  f.fail.set("patchNamespacedEvent", 404);
  now = at(1);
  await rec.record(e);
  assert.deepEqual(f.calls.map((c) => c.method), [
    "createNamespacedEvent",
    "patchNamespacedEvent",
    "createNamespacedEvent",
  ]);
  f.fail.set("createNamespacedEvent", 403);
  await rec.record({ ...e, reason: "Other" });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /could not create an Event on the node.*HTTP 403/);
});

Deno.test("EventRecorder: dry-run creates with dryRun=All and never patches", async () => {
  const f = fakeKube({ dryRun: true });
  let now = T0;
  const rec = new EventRecorder(f.kube, { node: "n1", log: quiet(), now: () => now, minIntervalMs: 0 });
  const e = { reason: "Rebooting", message: "rebooting node", type: "Normal", action: "rebooting" } as const;
  await rec.record(e);
  now = at(1);
  await rec.record(e);
  assert.deepEqual(f.calls.map((c) => c.method), ["createNamespacedEvent"]);
  assert.equal(f.calls[0]!.params.dryRun, "All");
});

const report = (reason: Report["reason"], message = "m", extra: Partial<Report> = {}): Report => ({
  reason,
  message,
  ...extra,
});

Deno.test("conditionFor: status, where the reboot stands, what blocks it, and a message for humans", () => {
  assert.deepEqual(conditionFor(report("RebootRequired")), {
    status: "True",
    state: "RebootRequired",
    message: "the reboot sentinel says this node needs a reboot",
  });
  // An operator's request (lib/machine/waiting.ts) says who asked, not the sentinel.
  assert.deepEqual(conditionFor(report("RebootRequired", "reboot requested by bob: kernel parameter")), {
    status: "True",
    state: "RebootRequired",
    message: "reboot requested by bob: kernel parameter",
  });
  // A held node: who and why, and the reason BlockedByHold.
  const held = conditionFor(report("RebootBlocked", "held by alice since t: NIC", { blockReason: "held" }))!;
  assert.deepEqual(encodeCondition(held), {
    status: "True",
    reason: "BlockedByHold",
    message: "held by alice since t: NIC",
  });
  assert.deepEqual(conditionFor(report("RebootBlocked", "alert HighLoad firing", { blockReason: "alert" })), {
    status: "True",
    state: "RebootBlocked",
    blockedBy: "alert",
    message: "alert HighLoad firing",
  });
  assert.deepEqual(conditionFor(report("RebootNotRequired")), {
    status: "False",
    state: "NoRebootRequired",
    message: "the reboot sentinel is gone",
  });
  assert.deepEqual(conditionFor(report("SentinelError", "exit 2", { blockReason: "sentinel-error" })), {
    status: "Unknown",
    state: "SentinelError",
    blockedBy: "sentinel-error",
    message: "cannot tell whether a reboot is needed: exit 2",
  });
  assert.equal(conditionFor(report("Rebooting"))?.state, "Rebooting");
  assert.equal(conditionFor(report("DrainFailed", "pdb x"))?.message, "pdb x");
  assert.deepEqual(conditionFor(report("SlotLost", "lost")), {
    status: "True",
    state: "SlotLost",
    message: "lost",
  });
  for (const r of ["RebootConfirmed", "RebootAssumed", "RecoveryIncomplete"] as const) {
    assert.deepEqual(conditionFor(report(r, "m")), { status: "False", state: r, message: "m" });
  }
  // Steps after the reboot, the clean-up and its failures leave the condition as it is.
  for (
    const r of [
      "Uncordoned",
      "UncordonFailed",
      "RetreatFailed",
      "SlotReleased",
      "ReleaseFailed",
      "Resumed",
      "SlotUnreadable",
    ] as const
  ) {
    assert.equal(conditionFor(report(r)), undefined, r);
  }
  for (const r of Object.keys(REPORT_REASONS) as ReportReason[]) {
    const c = conditionFor(report(r, "m", r === "RebootBlocked" ? { blockReason: "pod" } : {}));
    if (c) assert.match(encodeCondition(c).reason, /^[A-Z][A-Za-z]+$/, r);
  }
});

Deno.test("decodeCondition reads back what the daemon wrote, for every block reason, with no text parsing", () => {
  const onNode = (c: RebootCondition, at = T0): k8s.V1NodeCondition => ({
    type: CONDITION_TYPE,
    ...encodeCondition(c),
    lastTransitionTime: at,
  });
  for (const blockReason of BLOCK_REASONS) {
    const reason = blockReason === "sentinel-error" ? "SentinelError" : "RebootBlocked";
    const written = conditionFor(report(reason, "why: (blocked (pod): details)", { blockReason }))!;
    assert.deepEqual(decodeCondition(onNode(written)), { ...written, since: T0 }, blockReason);
  }
  assert.equal(
    encodeCondition(conditionFor(report("RebootBlocked", "x", { blockReason: "pdb" }))!).reason,
    "BlockedByPDB",
  );
  const draining = conditionFor(report("Draining", "draining node"))!;
  assert.deepEqual(decodeCondition(onNode(draining)), { ...draining, since: T0 });
  // What an older kreboot wrote (the block inside the message) is shown as it is, with no block reason.
  assert.deepEqual(
    decodeCondition({
      type: CONDITION_TYPE,
      status: "True",
      reason: "RebootBlocked",
      message: "blocked (pdb): x",
    }),
    { status: "True", state: "RebootBlocked", message: "blocked (pdb): x" },
  );
  assert.equal(decodeCondition({ type: CONDITION_TYPE, status: "weird" }).status, "Unknown");
  const long = encodeCondition({ status: "True", state: "DrainFailed", message: "x".repeat(5_000) }).message;
  assert.equal(long.length, 1024);
});

Deno.test("conditionPatch: nothing when unchanged; transition time only moves when the status flips", () => {
  const next = {
    status: "True" as const,
    state: "RebootBlocked",
    blockedBy: "window" as const,
    message: "closed",
  };
  const p1 = conditionPatch(undefined, next, T0);
  assert.deepEqual(p1, {
    status: {
      conditions: [{
        type: CONDITION_TYPE,
        status: "True",
        reason: "BlockedByWindow",
        message: "closed",
        lastHeartbeatTime: "2026-03-01T10:00:00Z",
        lastTransitionTime: "2026-03-01T10:00:00Z",
      }],
    },
  });
  const written = p1!.status.conditions[0]!;
  assert.equal(conditionPatch(written, next, at(60_000)), undefined);
  // Same status, new reason: heartbeat moves, transition stays.
  const p2 = conditionPatch(written, { status: "True", state: "Draining", message: "draining" }, at(60_000));
  assert.equal(p2?.status.conditions[0]?.lastTransitionTime as unknown, "2026-03-01T10:00:00Z");
  assert.equal(p2?.status.conditions[0]?.lastHeartbeatTime as unknown, "2026-03-01T10:01:00Z");
  // Status flips: both move. A Date from the API works as well as a string.
  const fromApi = { status: "True", reason: "Rebooting", message: "x", lastTransitionTime: T0 };
  const p3 = conditionPatch(
    fromApi,
    { status: "False", state: "RebootConfirmed", message: "y" },
    at(120_000),
  );
  assert.equal(p3?.status.conditions[0]?.lastTransitionTime as unknown, "2026-03-01T10:02:00Z");
  const p4 = conditionPatch(fromApi, { status: "True", state: "Rebooting", message: "z" }, at(120_000));
  assert.equal(p4?.status.conditions[0]?.lastTransitionTime as unknown, rfc3339(T0));
});

Deno.test("annotations: kured's keys, set only when not in progress, removal escapes the slash", () => {
  assert.deepEqual(addPatch(undefined, T0), {
    metadata: {
      annotations: { [IN_PROGRESS]: "2026-03-01T10:00:00Z", [MOST_RECENT]: "2026-03-01T10:00:00Z" },
    },
  });
  assert.equal(addPatch({ [IN_PROGRESS]: "2026-01-01T00:00:00Z" }, T0), undefined);
  assert.ok(addPatch({ [MOST_RECENT]: "2026-01-01T00:00:00Z" }, T0));
  assert.deepEqual(removePatch(IN_PROGRESS), [
    { op: "remove", path: "/metadata/annotations/weave.works~1kured-reboot-in-progress" },
  ]);
  assert.equal(jsonPointerSegment("a~b/c"), "a~0b~1c");
});

Deno.test("NodeAnnotator: merge patch to add, JSON patch to remove, a missing key is fine", async () => {
  const f = fakeKube();
  const lines: string[] = [];
  const a = new NodeAnnotator(
    f.kube,
    "n1",
    new Logger({ format: "json", node: "n1", sink: (l) => lines.push(l) }),
    () => T0,
  );
  await a.markRequired();
  const add = f.of("patchNode")[0]!;
  assert.equal(add.contentType, "application/merge-patch+json");
  assert.deepEqual(add.params.body, addPatch(undefined, T0));
  f.node = { metadata: { name: "n1", annotations: { [IN_PROGRESS]: "x" } } };
  await a.markRequired();
  assert.equal(f.of("patchNode").length, 1, "already in progress: no patch");
  await a.clearInProgress();
  const rm = f.of("patchNode")[1]!;
  assert.equal(rm.contentType, "application/json-patch+json");
  assert.deepEqual(rm.params.body, removePatch(IN_PROGRESS));
  f.fail.set("patchNode", 422);
  await a.clearInProgress();
  assert.ok(!lines.some((l) => l.includes('"warn"')), lines.join("\n"));
  f.fail.set("patchNode", 403);
  await a.clearInProgress();
  assert.match(lines.at(-1) ?? "", /could not remove the node annotation.*HTTP 403/);
});
