/**
 * The pure plan (lib/lock/plan.ts) and the Lease classification (lib/lock/groups.ts): which slot a node may
 * take when a budget dropped below the slots in use, how foreign slots count, whose turn it is and whom a
 * node that goes after the grace period passes over.
 */
import assert from "node:assert/strict";
import { ALL, type Group, groupKey, parseBudgetSpec } from "../../../lib/budget/mod.ts";
import { LockLayout } from "../../../lib/lock/groups.ts";
import { type Contender, plan, type PlanInput } from "../../../lib/lock/plan.ts";
import { newQueueEntry, type QueueEntry } from "../../../lib/lock/queue_entry.ts";
import { QueueBook } from "../../../lib/lock/queue.ts";
import type { SlotView } from "../../../lib/lock/view.ts";

const A: Group = { kind: "value", value: "a" };

function slot(name: string, index: number, holder: string, group: Group = ALL): SlotView {
  return {
    name,
    role: { role: "slot", set: "group", group, key: groupKey(group), index },
    index,
    record: { name, resourceVersion: "1", holder, transitions: 0, problems: [] },
    verdict: holder === "" ? { kind: "free" } : { kind: "held", holder },
  };
}

function entry(node: string, since: number, group: Group = ALL, passed?: string): QueueEntry {
  return {
    name: `kured-queue-${node}`,
    resourceVersion: "1",
    node,
    requiredSinceMs: since,
    group,
    key: groupKey(group),
    foreign: false,
    ...(passed ? { passedOverBy: passed } : {}),
  };
}

function input(me: Partial<Contender>, o: Partial<PlanInput>): PlanInput {
  return {
    now: 10_000,
    me: { node: "me", group: ALL, key: "all", requiredSinceMs: 100, groupNodes: 0, ...me },
    policy: { concurrency: { kind: "count", n: 3 }, budgets: [] },
    groupLabel: "",
    cap: 0,
    paused: false,
    slots: [],
    entries: [],
    graceMs: 1_000,
    unchangedSince: 10_000,
    slotName: (i) => `kured-slot-${i}`,
    totalSlotName: (i) => `kured-total-slot-${i}`,
    ...o,
  };
}

Deno.test("plan: the lowest free slot below the allowance, shrunk by holders left above it", () => {
  // 3 allowed; slots 3 and 4 still held from when more were allowed: only one more may go, on slot 0.
  const slots = [slot("kured-slot-1", 1, ""), slot("kured-slot-3", 3, "x"), slot("kured-slot-4", 4, "y")];
  const p = plan(input({}, { slots }));
  assert.equal(p.admission.ok, true);
  assert.equal(p.groupCandidate?.name, "kured-slot-0");
  assert.equal(p.groupCandidate?.record.resourceVersion, "", "a Lease to create");
  // Slot 0 held too: 3 in use, none free, although slot 1 and 2 have no holder.
  const full = plan(input({}, { slots: [...slots, slot("kured-slot-0", 0, "z")] }));
  assert.equal(full.admission.ok, false);
  assert.equal(full.groupCandidate, undefined);
  assert.deepEqual(full.turn, { kind: "none" });
});

Deno.test("plan: a slot of another --group-label counts against every group", () => {
  const foreign: SlotView = {
    ...slot("kured-slot-0", 0, "old"),
    role: { role: "slot", set: "foreign" },
    index: -1,
  };
  const p = plan(input({ group: A, key: groupKey(A) }, {
    groupLabel: "zone",
    policy: { concurrency: { kind: "count", n: 1 }, budgets: [] },
    slots: [foreign],
  }));
  assert.equal(p.inUse, 1);
  assert.equal(p.admission.ok, false);
});

Deno.test("plan: next in line goes now; the one behind after a grace period, passing over those ahead", () => {
  const entries = [entry("first", 50), entry("me", 100), entry("later", 200)];
  const slots = [slot("kured-slot-0", 0, "x"), slot("kured-slot-1", 1, "y")];
  const head = plan(input({ node: "first", requiredSinceMs: 50 }, { slots, entries }));
  assert.deepEqual(head.turn, { kind: "go", jumped: [] });
  assert.equal(head.position, 1);
  const second = plan(input({}, { slots, entries, unchangedSince: 9_500 }));
  assert.deepEqual(second.turn, { kind: "later", atMs: 10_500 });
  assert.deepEqual([second.position, second.lineLength], [2, 3]);
  const after = plan(input({}, { slots, entries, unchangedSince: 9_000 }));
  assert.deepEqual(after.turn, { kind: "go", jumped: ["first"] });
  // Passed over, "first" is out of line until it tries again.
  const passed = plan(input({}, { slots, entries: [entry("first", 50, ALL, "me"), entry("me", 100)] }));
  assert.deepEqual(passed.turn, { kind: "go", jumped: [] });
});

Deno.test("plan: a waiter that holds a slot is not in line; paused, nobody's turn", () => {
  const slots = [slot("kured-slot-0", 0, "first")];
  const entries = [entry("first", 50), entry("me", 100)];
  assert.deepEqual(plan(input({}, { slots, entries })).turn, { kind: "go", jumped: [] });
  assert.deepEqual(plan(input({}, { slots, entries, paused: true })).turn, { kind: "none" });
});

Deno.test("plan: a node named on a slot is not in line, also when its Node is gone or it fell silent", () => {
  // "gone" was killed after taking its slot and before deleting its entry, then its Node was deleted: the
  // slot is orphaned (free to take), and its entry must not make "me" wait out the grace behind it.
  const orphaned: SlotView = {
    ...slot("kured-slot-0", 0, "gone"),
    verdict: { kind: "orphaned", holder: "gone" },
  };
  const entries = [entry("gone", 50), entry("me", 100)];
  const p = plan(input({}, { slots: [orphaned, slot("kured-slot-1", 1, "x")], entries }));
  assert.deepEqual(p.turn, { kind: "go", jumped: [] });
  assert.deepEqual([p.position, p.lineLength], [1, 1]);
  assert.equal(p.groupCandidate?.name, "kured-slot-0");
  const expired: SlotView = { ...orphaned, verdict: { kind: "expired", holder: "gone", silentMs: 30_000 } };
  assert.deepEqual(plan(input({}, { slots: [expired], entries })).turn, { kind: "go", jumped: [] });
  // Once the slot names somebody else, "gone" is in line again (until passed over): the grace applies.
  const taken = plan(input({}, { slots: [slot("kured-slot-0", 0, "x")], entries, unchangedSince: 9_500 }));
  assert.equal(taken.position, 2);
});

Deno.test("plan: a scheduled budget says when it changes; other groups' budgets do not apply", () => {
  const policy = {
    concurrency: { kind: "count" as const, n: 1 },
    budgets: [parseBudgetSpec("nodes=0,group=a,schedule=0 8 * * *,duration=10h")],
  };
  const at = Date.parse("2026-03-02T09:00:00Z");
  const a = plan(input({ group: A, key: groupKey(A) }, { groupLabel: "zone", policy, now: at }));
  assert.equal(a.admission.ok, false);
  assert.equal(a.budgetChangeAtMs, Date.parse("2026-03-02T18:00:00Z"));
  const B: Group = { kind: "value", value: "b" };
  const b = plan(input({ group: B, key: groupKey(B) }, { groupLabel: "zone", policy, now: at }));
  assert.equal(b.admission.ok, true);
  assert.equal(b.budgetChangeAtMs, undefined);
});

Deno.test("layout: what each Lease of the lock is, for a configuration with and without --group-label", () => {
  const lease = (
    name: string,
    labels: Record<string, string> = {},
    annotations: Record<string, string> = {},
  ) => ({
    metadata: { name, labels, annotations },
  });
  const plain = new LockLayout("kured", "");
  const zoned = new LockLayout("kured", "zone");
  const aSlot = zoned.slotName(A, 2);
  const aMeta = zoned.groupMetadata(A);
  assert.deepEqual(plain.classify(lease("kured-slot-0")), {
    role: "slot",
    set: "group",
    group: ALL,
    key: "all",
    index: 0,
  });
  assert.deepEqual(zoned.classify(lease("kured-slot-0")), { role: "slot", set: "foreign" });
  assert.deepEqual(zoned.classify(lease(aSlot, aMeta.labels, aMeta.annotations)), {
    role: "slot",
    set: "group",
    group: A,
    key: "=a",
    index: 2,
  });
  assert.deepEqual(zoned.classify(lease(aSlot)), { role: "slot", set: "foreign" }, "records missing");
  assert.deepEqual(plain.classify(lease(aSlot, aMeta.labels, aMeta.annotations)), {
    role: "slot",
    set: "foreign",
  });
  assert.deepEqual(zoned.classify(lease("kured-total-slot-1")), { role: "slot", set: "total", index: 1 });
  assert.deepEqual(zoned.classify(lease("kured-total-slot-01")), { role: "other" });
  assert.deepEqual(zoned.classify(lease("kured-queue-node-1")), { role: "queue" });
  assert.deepEqual(zoned.classify(lease("kured-pause")), { role: "pause" });
  assert.deepEqual(plain.classify(lease("kured-slot-x")), { role: "other" });
  assert.deepEqual(plain.classify(lease("other-slot-0")), { role: "other" });
});

Deno.test("queue book: the line stays in order as entries come, move and go", () => {
  const book = new QueueBook("");
  const lease = (node: string, since: number) =>
    newQueueEntry("kube-system", "kured", { node, requiredSinceMs: since, group: ALL, groupLabel: "" });
  book.replaceAll([lease("c", 30), lease("a", 10)]);
  const line = () => book.all().map((e) => `${e.node}@${e.requiredSinceMs}`);
  assert.deepEqual(line(), ["a@10", "c@30"]);
  assert.equal(book.onEvent("ADDED", lease("b", 20)), false, "a newcomer moves nobody up");
  assert.equal(book.onEvent("ADDED", lease("a2", 10)), false);
  assert.deepEqual(line(), ["a@10", "a2@10", "b@20", "c@30"]);
  assert.equal(book.onEvent("MODIFIED", lease("c", 5)), true, "a node whose place changed");
  assert.deepEqual(line(), ["c@5", "a@10", "a2@10", "b@20"]);
  assert.equal(book.onEvent("DELETED", { metadata: { name: "kured-queue-a" } }), true);
  assert.equal(book.onEvent("DELETED", { metadata: { name: "kured-queue-nobody" } }), false);
  assert.deepEqual(line(), ["c@5", "a2@10", "b@20"]);
});
