import assert from "node:assert/strict";
import {
  acquirePatch,
  decodeSlot,
  judgeSlot,
  microTimeString,
  newSlotLease,
  releasePatch,
  resolveConcurrency,
  SLOT_ANNOTATIONS,
  slotIndex,
  slotName,
} from "../../../lib/lock/slots.ts";

function lease(spec: Record<string, unknown>, annotations: Record<string, unknown> = {}) {
  return { metadata: { name: "kured-slot-0", resourceVersion: "42", annotations }, spec };
}

Deno.test("resolveConcurrency() takes counts as given and rounds percentages down, at least 1", () => {
  const cases: [Parameters<typeof resolveConcurrency>[0], number, number][] = [
    [{ kind: "count", n: 1 }, 50, 1],
    [{ kind: "count", n: 3 }, 2, 3],
    [{ kind: "percent", percent: 10 }, 50, 5],
    [{ kind: "percent", percent: 10 }, 59, 5],
    [{ kind: "percent", percent: 10 }, 5, 1],
    [{ kind: "percent", percent: 100 }, 7, 7],
    [{ kind: "percent", percent: 33 }, 0, 1],
  ];
  for (const [c, nodes, want] of cases) {
    assert.equal(resolveConcurrency(c, nodes), want, JSON.stringify([c, nodes]));
  }
});

Deno.test("slotName() and slotIndex() round-trip and reject foreign names", () => {
  assert.equal(slotName("kured", 3), "kured-slot-3");
  assert.equal(slotIndex("kured", "kured-slot-3"), 3);
  assert.equal(slotIndex("kured", "kured-slot-03"), undefined);
  assert.equal(slotIndex("kured", "kured-slot-x"), undefined);
  assert.equal(slotIndex("kured", "other-slot-1"), undefined);
  assert.equal(slotIndex("kured", "kured-pause"), undefined);
});

Deno.test("decodeSlot() reads a held slot with all holder fields", () => {
  const rec = decodeSlot(lease(
    {
      holderIdentity: "node-a",
      acquireTime: "2026-11-23T10:00:00.000000Z",
      renewTime: new Date("2026-11-23T10:01:00Z"),
      leaseDurationSeconds: 60,
      leaseTransitions: 4,
    },
    {
      [SLOT_ANNOTATIONS.phase]: "draining",
      [SLOT_ANNOTATIONS.bootId]: "b-1",
      [SLOT_ANNOTATIONS.wasUnschedulable]: "true",
      [SLOT_ANNOTATIONS.releaseAfter]: "2026-11-23T10:05:00Z",
    },
  ));
  assert.equal(rec.holder, "node-a");
  assert.equal(rec.resourceVersion, "42");
  assert.equal(rec.phase, "draining");
  assert.equal(rec.bootId, "b-1");
  assert.equal(rec.wasUnschedulable, true);
  assert.equal(rec.leaseDurationSeconds, 60);
  assert.equal(rec.transitions, 4);
  assert.equal(rec.acquireTime?.toISOString(), "2026-11-23T10:00:00.000Z");
  assert.equal(rec.renewTime?.toISOString(), "2026-11-23T10:01:00.000Z");
  assert.equal(rec.releaseAfter?.toISOString(), "2026-11-23T10:05:00.000Z");
  assert.deepEqual(rec.problems, []);
});

Deno.test("decodeSlot() never trusts garbage: bad holder frees the slot, bad fields are reported", () => {
  const garbage = decodeSlot(lease({ holderIdentity: "Not A Node!!", leaseDurationSeconds: "x" }));
  assert.equal(garbage.holder, "");
  assert.equal(garbage.leaseDurationSeconds, undefined);
  assert.equal(garbage.problems.length, 1);

  const odd = decodeSlot(lease({ holderIdentity: "node-b", acquireTime: "yesterday" }, {
    [SLOT_ANNOTATIONS.wasUnschedulable]: "maybe",
    [SLOT_ANNOTATIONS.releaseAfter]: "soon",
    [SLOT_ANNOTATIONS.phase]: "{json}",
  }));
  assert.equal(odd.holder, "node-b");
  assert.equal(odd.acquireTime, undefined);
  assert.equal(odd.wasUnschedulable, undefined, "unknown must stay unknown, never false");
  assert.equal(odd.releaseAfter, undefined);
  assert.equal(odd.phase, undefined);
  assert.equal(odd.problems.length, 3);

  for (const junk of [null, 7, "str", [], { metadata: 5, spec: [] }, { spec: { holderIdentity: 12 } }]) {
    const rec = decodeSlot(junk);
    assert.equal(rec.holder, "");
  }
});

Deno.test("judgeSlot() table: free, mine, held, expired by observed silence, orphaned", () => {
  const held = decodeSlot(lease({ holderIdentity: "node-a" }));
  const ttlLease = decodeSlot(lease({ holderIdentity: "node-a", leaseDurationSeconds: 30 }));
  const base = { me: "node-b", now: 100_000, observedAt: 100_000, ttlMs: 0 };
  assert.deepEqual(judgeSlot(undefined, base), { kind: "free" });
  assert.deepEqual(judgeSlot(decodeSlot(lease({})), base), { kind: "free" });
  assert.deepEqual(judgeSlot(held, { ...base, me: "node-a" }), { kind: "mine" });
  assert.deepEqual(judgeSlot(held, base), { kind: "held", holder: "node-a" });
  // No TTL: silence never frees a slot.
  assert.deepEqual(judgeSlot(held, { ...base, observedAt: 0 }), { kind: "held", holder: "node-a" });
  // --lock-ttl applies to records written without one (kured#822).
  assert.deepEqual(judgeSlot(held, { ...base, ttlMs: 60_000, observedAt: 30_000 }), {
    kind: "expired",
    holder: "node-a",
    silentMs: 70_000,
  });
  assert.deepEqual(judgeSlot(held, { ...base, ttlMs: 60_000, observedAt: 90_000 }), {
    kind: "held",
    holder: "node-a",
    expiresInMs: 50_000,
  });
  // The Lease's own duration wins over the local flag.
  assert.equal(judgeSlot(ttlLease, { ...base, ttlMs: 600_000, observedAt: 65_000 }).kind, "expired");
  // A holder whose Node is gone frees the slot whatever the TTL; a live one does not.
  assert.deepEqual(judgeSlot(held, { ...base, holderExists: false }), { kind: "orphaned", holder: "node-a" });
  assert.equal(judgeSlot(held, { ...base, holderExists: true }).kind, "held");
});

Deno.test("judgeSlot() ignores the timestamps inside the record (clock skew cannot steal)", () => {
  const past = decodeSlot(lease({ holderIdentity: "node-a", renewTime: "2001-01-01T00:00:00.000000Z" }));
  const future = decodeSlot(lease({ holderIdentity: "node-a", renewTime: "2099-01-01T00:00:00.000000Z" }));
  const ctx = { me: "node-b", now: 1_000_000, observedAt: 999_000, ttlMs: 60_000 };
  assert.equal(judgeSlot(past, ctx).kind, "held");
  assert.equal(judgeSlot(future, { ...ctx, observedAt: 0 }).kind, "expired");
});

Deno.test("microTimeString() writes exactly six fractional digits", () => {
  assert.equal(microTimeString(new Date("2026-11-23T07:57:39.167Z")), "2026-11-23T07:57:39.167000Z");
  assert.match(microTimeString(new Date()), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
});

Deno.test("acquirePatch() and releasePatch() carry the resourceVersion they read", () => {
  const now = new Date("2026-11-23T10:00:00Z");
  const p = acquirePatch("17", { holder: "n1", phase: "cordoning", bootId: "b", transitions: 2, now });
  assert.deepEqual(p.metadata, {
    resourceVersion: "17",
    annotations: {
      [SLOT_ANNOTATIONS.phase]: "cordoning",
      [SLOT_ANNOTATIONS.bootId]: "b",
      [SLOT_ANNOTATIONS.wasUnschedulable]: null,
      [SLOT_ANNOTATIONS.releaseAfter]: null,
      [SLOT_ANNOTATIONS.evicted]: null,
    },
  });
  assert.equal((p.spec as Record<string, unknown>).leaseTransitions, 3);
  assert.equal((p.spec as Record<string, unknown>).acquireTime, "2026-11-23T10:00:00.000000Z");
  const r = releasePatch("18");
  assert.equal((r.metadata as Record<string, unknown>).resourceVersion, "18");
  const released = (r.metadata as { annotations: Record<string, unknown> }).annotations;
  assert.equal(released[SLOT_ANNOTATIONS.evicted], null, "the next holder does not inherit what was evicted");
  assert.equal((r.spec as Record<string, unknown>).holderIdentity, null);
  const created = newSlotLease("kube-system", "kured", "kured-slot-0", {
    holder: "n1",
    phase: "cordoning",
    wasUnschedulable: false,
    transitions: 0,
    now,
  });
  const meta = created.metadata as { labels: Record<string, string>; annotations: Record<string, string> };
  assert.deepEqual(meta.labels, { "kreboot.dev/lock": "kured" });
  assert.equal(meta.annotations[SLOT_ANNOTATIONS.wasUnschedulable], "false");
  assert.equal(SLOT_ANNOTATIONS.bootId in meta.annotations, false);
});
