/**
 * Groups, budgets and the total cap in the lock, against the in-memory Lease store: each group contends only
 * for its own slots, `--max-concurrency-total` caps all groups together with its own compare-and-swap, the most
 * restrictive active budget sets a group's slots, and a budget that drops below the slots in use stops new
 * acquisitions without touching a holder. Without the new flags the lock sends exactly today's requests.
 */
import assert from "node:assert/strict";
import { GROUP_VALUE_ANNOTATION, parseBudgetSpec, slotLeaseName } from "../../../lib/budget/mod.ts";
import type { LockOptions } from "../../../lib/lock/mod.ts";
import { FakeLeaseStore } from "./fake_store.ts";
import { lockOn } from "./lock_on.ts";

const ZONE = "topology.kubernetes.io/zone";
const cordoning = { phase: "cordoning" };

/** Nodes `<zone><i>` labelled with their zone; `bare` nodes have no zone label. */
function zonedStore(zones: Record<string, number>, bare: string[] = []): FakeLeaseStore {
  const store = new FakeLeaseStore();
  for (const [zone, n] of Object.entries(zones)) {
    for (let i = 1; i <= n; i++) {
      store.nodes.add(`${zone}${i}`);
      store.nodeLabels.set(`${zone}${i}`, { [ZONE]: zone });
    }
  }
  for (const n of bare) store.nodes.add(n);
  return store;
}

function labels(store: FakeLeaseStore, node: string) {
  return { labels: store.nodeLabels.get(node) ?? {} };
}

Deno.test("without the new flags: today's Lease name and exactly today's requests", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  const r = await lockOn(store, "a").tryAcquire(cordoning, { labels: { [ZONE]: "x" } });
  assert.ok(r.acquired);
  assert.equal(r.slot.name, "kured-slot-0");
  // A first try reads through its watches' initial state (the watches a waiting node keeps), then creates.
  assert.deepEqual(store.calls, { "watch/leases": 1, "watch/daemonset": 1, createLease: 1 });
  assert.deepEqual([...store.leases.keys()], ["kured-slot-0"]);
});

Deno.test("groups: each zone has its own slots; a node only contends within its zone", async () => {
  const store = zonedStore({ a: 2, b: 1 }, ["bare1", "bare2"]);
  const o = { groupLabel: ZONE };
  const results = new Map<string, boolean>();
  for (const n of ["a1", "a2", "b1", "bare1", "bare2"]) {
    results.set(n, (await lockOn(store, n, o).tryAcquire(cordoning, labels(store, n))).acquired);
  }
  assert.deepEqual(Object.fromEntries(results), { a1: true, a2: false, b1: true, bare1: true, bare2: false });
  const slotA = slotLeaseName("kured", { kind: "value", value: "a" }, ZONE, 0);
  assert.match(slotA, /^kured-g-a-[0-9a-f]{10}-slot-0$/);
  assert.equal(store.holder(slotA), "a1");
  const lease = store.leases.get(slotA) as { metadata: { annotations: Record<string, string> } };
  assert.equal(lease.metadata.annotations[GROUP_VALUE_ANNOTATION], "a", "the real value is on the Lease");
  assert.equal(store.holder(slotLeaseName("kured", { kind: "unlabeled" }, ZONE, 0)), "bare1");
  assert.equal(store.holder("kured-slot-0"), undefined, "no slot of the one group without --group-label");
  const refused = await lockOn(store, "a2", o).tryAcquire(cordoning, labels(store, "a2"));
  assert.ok(!refused.acquired && refused.reason === "full");
  assert.match(refused.message, /all 1 slot\(s\) of topology.kubernetes.io\/zone=a held by a1 \(cordoning\)/);
});

Deno.test("groups: --concurrency as a percentage is of the group's nodes", async () => {
  const store = zonedStore({ a: 4, b: 2 });
  const o: Partial<LockOptions> = { groupLabel: ZONE, concurrency: { kind: "percent", percent: 50 } };
  const got: string[] = [];
  for (const n of ["a1", "a2", "a3", "a4", "b1", "b2"]) {
    if ((await lockOn(store, n, o).tryAcquire(cordoning, labels(store, n))).acquired) got.push(n);
  }
  assert.deepEqual(got, ["a1", "a2", "b1"], "50% of 4 = 2 in a, 50% of 2 = 1 in b");
});

Deno.test("--max-concurrency-total caps all groups together, with slots of its own", async () => {
  const store = zonedStore({ a: 2, b: 2, c: 2 });
  const o = { groupLabel: ZONE, maxConcurrencyTotal: 2 };
  const a1 = lockOn(store, "a1", o);
  assert.ok((await a1.tryAcquire(cordoning, labels(store, "a1"))).acquired);
  assert.ok((await lockOn(store, "b1", o).tryAcquire(cordoning, labels(store, "b1"))).acquired);
  const c1 = lockOn(store, "c1", o);
  const r = await c1.tryAcquire(cordoning, labels(store, "c1"));
  assert.ok(!r.acquired && r.reason === "total", JSON.stringify(r));
  assert.match(r.message, /2 slot\(s\) in use across all groups, the limit set by --max-concurrency-total=2/);
  assert.deepEqual(
    [store.holder("kured-total-slot-0"), store.holder("kured-total-slot-1")].sort(),
    ["a1", "b1"],
  );
  // a1 gives back both slots; c1 goes.
  await a1.release();
  assert.equal(store.holder("kured-total-slot-0") ?? store.holder("kured-total-slot-1"), "b1");
  assert.ok((await c1.tryAcquire(cordoning, labels(store, "c1"))).acquired);
});

Deno.test("--max-concurrency-total: two groups racing for the last total slot, only one wins", async () => {
  for (let round = 0; round < 5; round++) {
    const store = zonedStore({ a: 1, b: 1, c: 1 });
    const o = { groupLabel: ZONE, maxConcurrencyTotal: 2 };
    assert.ok((await lockOn(store, "c1", o).tryAcquire(cordoning, labels(store, "c1"))).acquired);
    const [ra, rb] = await Promise.all(
      ["a1", "b1"].map((n) => lockOn(store, n, o).tryAcquire(cordoning, labels(store, n))),
    );
    assert.equal([ra, rb].filter((r) => r?.acquired).length, 1, JSON.stringify([ra, rb]));
    const holders = [...store.leases.keys()].filter((k) => k.startsWith("kured-total-slot-"))
      .map((k) => store.holder(k)).filter(Boolean);
    assert.equal(holders.length, 2, "the loser gave its total slot back, or never got one");
  }
});

Deno.test("a total-cap slot left without a group slot (a crash between the two writes) is given back at start-up", async () => {
  const store = zonedStore({ a: 1 });
  const o = { groupLabel: ZONE, maxConcurrencyTotal: 1 };
  const a1 = lockOn(store, "a1", o);
  assert.ok((await a1.tryAcquire(cordoning, labels(store, "a1"))).acquired);
  const groupSlot = [...store.leases.keys()].find((k) => k.startsWith("kured-g-"))!;
  store.externalPatch(groupSlot, { spec: { holderIdentity: null } });
  assert.equal(store.holder("kured-total-slot-0"), "a1");
  assert.equal(await lockOn(store, "a1", o).mine(), undefined);
  assert.equal(store.holder("kured-total-slot-0"), undefined);
});

/** A clock at `iso`, advanced by hand. */
function clockAt(iso: string) {
  const c = { t: Date.parse(iso), now: () => c.t };
  return c;
}

Deno.test("budgets: the most restrictive active budget sets the slots; the message says which and when it changes", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b", "c", "d"] });
  const clock = clockAt("2026-03-02T09:00:00Z"); // a Monday, 10:00 in Berlin
  const o: Partial<LockOptions> = {
    concurrency: { kind: "count", n: 3 },
    budgets: [
      parseBudgetSpec("nodes=50%"),
      parseBudgetSpec("nodes=1,schedule=0 8 * * mon-fri,duration=10h,tz=Europe/Berlin"),
    ],
    now: clock.now,
  };
  assert.ok((await lockOn(store, "a", o).tryAcquire(cordoning)).acquired);
  const b = lockOn(store, "b", o);
  const r = await b.tryAcquire(cordoning);
  assert.ok(!r.acquired && r.reason === "budget", JSON.stringify(r));
  assert.equal(
    r.message,
    "all nodes: 1 of 1 slot(s) in use, the limit set by --budget=nodes=1,schedule=0 8 * * mon-fri," +
      "duration=10h0m0s,tz=Europe/Berlin; the limit may change at 2026-03-02T17:00:00.000Z",
  );
  // 18:00 in Berlin: the office-hours budget ends, 50% of 4 nodes (rounded up) = 2 remains.
  clock.t = Date.parse("2026-03-02T17:00:00Z");
  assert.ok((await b.tryAcquire(cordoning)).acquired);
  const c = await lockOn(store, "c", o).tryAcquire(cordoning);
  assert.ok(!c.acquired && c.reason === "budget");
  assert.match(c.message, /2 of 2 slot\(s\) in use, the limit set by --budget=nodes=50%;/);
});

Deno.test("budgets: a budget that drops below the slots in use stops new acquisitions only", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b", "c"] });
  const clock = clockAt("2026-03-02T06:59:00Z");
  const o: Partial<LockOptions> = {
    concurrency: { kind: "count", n: 2 },
    budgets: [parseBudgetSpec("nodes=0,schedule=0 7 * * *,duration=1h")],
    now: clock.now,
  };
  const a = lockOn(store, "a", o);
  const b = lockOn(store, "b", o);
  assert.ok((await a.tryAcquire(cordoning)).acquired);
  assert.ok((await b.tryAcquire(cordoning)).acquired);
  clock.t = Date.parse("2026-03-02T07:00:00Z");
  // Both holders go on: their writes succeed, nobody asks them to give back.
  await a.update({ phase: "draining" });
  await b.update({ phase: "rebooting" });
  const c = lockOn(store, "c", o);
  const r = await c.tryAcquire(cordoning);
  assert.ok(!r.acquired && r.reason === "budget");
  assert.match(r.message, /2 of 0 slot\(s\) in use, the limit set by --budget=nodes=0,schedule=0 7 \* \* \*/);
  await a.release();
  assert.equal((await c.tryAcquire(cordoning)).acquired, false, "1 in use is still above 0");
  await b.release();
  assert.equal((await c.tryAcquire(cordoning)).acquired, false, "0 of 0");
  clock.t = Date.parse("2026-03-02T08:00:00Z");
  assert.ok((await c.tryAcquire(cordoning)).acquired, "the budget ended");
});

Deno.test("budgets: a waiter blocked by a scheduled budget wakes when it ends, without a request", async () => {
  const store = new FakeLeaseStore({ nodes: ["a"] });
  const clock = clockAt("2026-03-02T07:59:59.900Z");
  const a = lockOn(store, "a", {
    budgets: [parseBudgetSpec("nodes=0,schedule=0 7 * * *,duration=1h")],
    now: clock.now,
  });
  assert.equal((await a.tryAcquire(cordoning)).acquired, false);
  const ac = new AbortController();
  const waiting = a.waitForChance(ac.signal, 60_000);
  await new Promise((r) => setTimeout(r, 20));
  const before = { ...store.calls };
  clock.t += 200; // past 08:00 by the time the timer (due 150 ms from now) fires
  assert.equal(await waiting, "changed");
  a.stopWatching();
  const requests = Object.entries(store.calls).filter(([k, v]) => !k.startsWith("watch/") && v !== before[k]);
  assert.deepEqual(requests, [], "the wake-up was a timer, not a poll");
  assert.ok((await a.tryAcquire(cordoning)).acquired);
});

Deno.test("groups: a budget for one group leaves the others alone; group= with nothing means the unlabeled", async () => {
  const store = zonedStore({ a: 2, b: 2 }, ["bare1"]);
  const o: Partial<LockOptions> = {
    groupLabel: ZONE,
    budgets: [parseBudgetSpec("nodes=0,group=a"), parseBudgetSpec("nodes=0,group=")],
  };
  const r = await lockOn(store, "a1", o).tryAcquire(cordoning, labels(store, "a1"));
  assert.ok(!r.acquired && r.reason === "budget");
  assert.match(r.message, /^topology.kubernetes.io\/zone=a: 0 of 0 slot\(s\)/);
  assert.ok((await lockOn(store, "b1", o).tryAcquire(cordoning, labels(store, "b1"))).acquired);
  const bare = await lockOn(store, "bare1", o).tryAcquire(cordoning, labels(store, "bare1"));
  assert.ok(!bare.acquired && /nodes without topology.kubernetes.io\/zone/.test(bare.message));
});

Deno.test("a slot written for another --group-label still counts until its holder gives it back", async () => {
  const store = zonedStore({ a: 2 });
  // a1 took the one slot before --group-label was set; a daemon of the new configuration restarts.
  assert.ok((await lockOn(store, "a1").tryAcquire(cordoning)).acquired);
  const o = { groupLabel: ZONE };
  const r = await lockOn(store, "a2", o).tryAcquire(cordoning, labels(store, "a2"));
  assert.ok(!r.acquired && r.reason === "full", JSON.stringify(r));
  const a1 = lockOn(store, "a1", o);
  assert.equal((await a1.mine())?.name, "kured-slot-0", "its holder still finds it");
  await a1.release();
  assert.ok((await lockOn(store, "a2", o).tryAcquire(cordoning, labels(store, "a2"))).acquired);
});
