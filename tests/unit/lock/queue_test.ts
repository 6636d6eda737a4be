/**
 * The fair queue in the lock, against the in-memory Lease store: the node whose reboot has been required
 * longest goes next; on a handover only the next in line wakes and writes; a next in line that does not act
 * costs a grace period, once, and is passed over; a passed-over or restarted node keeps its place.
 */
import assert from "node:assert/strict";
import type { LockOptions, RebootLock } from "../../../lib/lock/mod.ts";
import { queueEntryName } from "../../../lib/lock/queue_entry.ts";
import { FakeLeaseStore } from "./fake_store.ts";
import { lockOn } from "./lock_on.ts";

const cordoning = { phase: "cordoning" };
const ZONE = "topology.kubernetes.io/zone";

const tick = (ms = 10) => new Promise((r) => setTimeout(r, ms));
const pending = <T>(p: Promise<T>) => Promise.race([p, tick(0).then(() => "pending" as const)]);

/** `waiter` waits the daemon's way while `holder` releases, until its turn comes. */
async function waitThenRelease(waiter: RebootLock, holder: RebootLock): Promise<void> {
  const ac = new AbortController();
  const waiting = waiter.waitForChance(ac.signal, 10_000);
  await tick();
  await holder.release();
  assert.equal(await waiting, "changed");
}

/** h holds the slot; "slow" waits first in line (since 1), w2 behind it (since 2). */
async function slowAhead(store: FakeLeaseStore, o: Partial<LockOptions>) {
  const h = lockOn(store, "h", o);
  assert.ok((await h.tryAcquire(cordoning)).acquired);
  const slow = lockOn(store, "slow", o);
  assert.equal((await slow.tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired, false);
  const w2 = lockOn(store, "w2", o);
  assert.equal((await w2.tryAcquire(cordoning, { requiredSinceMs: 2 })).acquired, false);
  return { h, slow, w2 };
}

function annotations(store: FakeLeaseStore, name: string): Record<string, string> {
  return ((store.leases.get(name)?.metadata ?? {}) as { annotations?: Record<string, string> }).annotations ??
    {};
}

Deno.test("queue: the longest-required waiter goes next, whoever asked first", async () => {
  const store = new FakeLeaseStore({ nodes: ["h", "w1", "w2"] });
  const h = lockOn(store, "h");
  assert.ok((await h.tryAcquire(cordoning)).acquired);
  const w1 = lockOn(store, "w1");
  const w2 = lockOn(store, "w2");
  assert.equal((await w1.tryAcquire(cordoning, { requiredSinceMs: 10 })).acquired, false);
  assert.equal((await w2.tryAcquire(cordoning, { requiredSinceMs: 5 })).acquired, false);
  assert.ok(
    store.leases.has(queueEntryName("kured", "w1")) && store.leases.has(queueEntryName("kured", "w2")),
  );
  await h.release();
  const r1 = await w1.tryAcquire(cordoning, { requiredSinceMs: 10 });
  assert.ok(!r1.acquired && r1.reason === "full");
  assert.equal(r1.message, "waiting in line: 1 node(s) ahead of this one, 2 waiting");
  assert.ok((await w2.tryAcquire(cordoning, { requiredSinceMs: 5 })).acquired);
  assert.equal(store.leases.has(queueEntryName("kured", "w2")), false, "the winner left the queue");
});

Deno.test("queue: on a handover only the next in line wakes, and it alone writes", async () => {
  const store = new FakeLeaseStore({ nodes: ["h", ...Array.from({ length: 20 }, (_, i) => `w${i}`)] });
  const h = lockOn(store, "h");
  assert.ok((await h.tryAcquire(cordoning)).acquired);
  const waiters = Array.from({ length: 20 }, (_, i) => lockOn(store, `w${i}`));
  // Arrival order is not queue order: w19 waited longest.
  for (const [i, w] of waiters.entries()) {
    assert.equal((await w.tryAcquire(cordoning, { requiredSinceMs: 1_000 - i })).acquired, false);
  }
  const ac = new AbortController();
  const woken: string[] = [];
  const waits = waiters.map((w, i) =>
    w.waitForChance(ac.signal, 60_000).then((r) => {
      if (r === "changed") woken.push(`w${i}`);
      return r;
    })
  );
  await tick();
  const before = { ...store.calls };
  await h.release();
  await tick(30);
  assert.deepEqual(woken, ["w19"]);
  assert.ok((await waiters[19]!.tryAcquire(cordoning)).acquired);
  await tick(30);
  assert.deepEqual(woken, ["w19"], "the new holder's write woke nobody else");
  const writes = [
    "patchLease",
    "createLease",
    "deleteLease",
    "listLeases",
    "readDaemonSet",
    "nodeExists",
    "watch/node",
  ]
    .map((k) => `${k}:${(store.calls[k] ?? 0) - (before[k] ?? 0)}`);
  assert.deepEqual(writes, [
    "patchLease:2", // h's release, w19's acquisition
    "createLease:0",
    "deleteLease:1", // w19's queue entry
    "listLeases:0", // the waiters' watches brought every change
    "readDaemonSet:0",
    "nodeExists:0",
    "watch/node:2", // the new holder's Node, by the two now first in line (w18, w17) only
  ]);
  ac.abort();
  await Promise.all(waits);
  for (const w of waiters) w.stopWatching();
});

Deno.test("queue: a next in line that does not act costs a grace period once, then is passed over", async () => {
  const store = new FakeLeaseStore({ nodes: ["h", "dead", "w2", "w3"] });
  const o = { queueGraceMs: 150 };
  const h = lockOn(store, "h", o);
  assert.ok((await h.tryAcquire(cordoning)).acquired);
  // "dead" queued first, then its daemon died.
  assert.equal(
    (await lockOn(store, "dead", o).tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired,
    false,
  );
  const w2 = lockOn(store, "w2", o);
  const w3 = lockOn(store, "w3", o);
  assert.equal((await w2.tryAcquire(cordoning, { requiredSinceMs: 2 })).acquired, false);
  assert.equal((await w3.tryAcquire(cordoning, { requiredSinceMs: 3 })).acquired, false);
  const ac = new AbortController();
  const wait2 = w2.waitForChance(ac.signal, 60_000);
  const wait3 = w3.waitForChance(ac.signal, 60_000);
  await tick();
  const released = Date.now();
  await h.release();
  await tick(60);
  assert.equal(await pending(wait2), "pending", "w2 gives dead its grace period");
  assert.equal(await wait2, "changed");
  assert.ok(Date.now() - released >= 140, `woke after ${Date.now() - released} ms`);
  assert.equal(await pending(wait3), "pending", "w3 waits behind w2");
  w2.stopWatching();
  assert.ok((await w2.tryAcquire(cordoning)).acquired);
  assert.equal(annotations(store, queueEntryName("kured", "dead"))["kreboot.dev/passed-over-by"], "w2");
  // The next handover does not wait for dead again.
  const again = Date.now();
  await w2.release();
  assert.equal(await wait3, "changed");
  assert.ok(Date.now() - again < 100, "no second grace period for a passed-over node");
  ac.abort();
  w3.stopWatching();
});

Deno.test("queue: a passed-over node that tries again takes its old place back", async () => {
  const store = new FakeLeaseStore({ nodes: ["h", "slow", "w2"] });
  const o = { queueGraceMs: 1 };
  const { h, slow, w2 } = await slowAhead(store, o);
  await waitThenRelease(w2, h);
  assert.ok((await w2.tryAcquire(cordoning)).acquired, "w2 went instead of slow");
  const entry = queueEntryName("kured", "slow");
  assert.equal(annotations(store, entry)["kreboot.dev/passed-over-by"], "w2");
  assert.equal((await slow.tryAcquire(cordoning)).acquired, false);
  assert.equal(annotations(store, entry)["kreboot.dev/passed-over-by"], undefined, "back in line");
  assert.equal(annotations(store, entry)["kreboot.dev/required-since"], new Date(1).toISOString());
  // w3 arrives later: slow is still ahead of it (w3 gives it a grace it cannot miss on a loaded machine).
  const w3 = lockOn(store, "w3", { queueGraceMs: 60_000 });
  store.nodes.add("w3");
  await w2.release();
  const r3 = await w3.tryAcquire(cordoning, { requiredSinceMs: 3 });
  assert.ok(!r3.acquired && /1 node\(s\) ahead/.test(r3.message), JSON.stringify(r3));
  assert.ok((await slow.tryAcquire(cordoning)).acquired);
});

Deno.test("queue: a waiting node that was passed over is woken once to take its place back", async () => {
  const store = new FakeLeaseStore({ nodes: ["h", "slow", "w2"] });
  const o = { queueGraceMs: 1 };
  const { h, slow, w2 } = await slowAhead(store, o);
  const ac = new AbortController();
  // slow is woken for its turn but is too slow to act; w2 goes instead.
  const first = slow.waitForChance(ac.signal, 60_000);
  await waitThenRelease(w2, h);
  assert.equal(await first, "changed");
  assert.ok((await w2.tryAcquire(cordoning)).acquired);
  assert.equal(await slow.waitForChance(ac.signal, 60_000), "changed", "woken: its entry was passed over");
  const again = slow.waitForChance(ac.signal, 60_000);
  assert.equal(await pending(again), "pending", "once per mark: no spinning if it cannot put it back");
  ac.abort();
  await again;
  slow.stopWatching();
});

Deno.test("queue: a restarted node keeps its place; one that no longer needs a reboot leaves the line", async () => {
  const store = new FakeLeaseStore({ nodes: ["h", "w1", "w2"] });
  assert.ok((await lockOn(store, "h").tryAcquire(cordoning)).acquired);
  assert.equal((await lockOn(store, "w1").tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired, false);
  assert.equal((await lockOn(store, "w2").tryAcquire(cordoning, { requiredSinceMs: 2 })).acquired, false);
  // w1's daemon restarts: its loop counts the reboot as required since its own start.
  const restarted = lockOn(store, "w1");
  const patches = store.calls.patchLease ?? 0;
  const r = await restarted.tryAcquire(cordoning, { requiredSinceMs: 500 });
  assert.ok(!r.acquired);
  assert.equal(store.calls.patchLease ?? 0, patches, "its entry already says where it stands");
  const w2 = await lockOn(store, "w2").tryAcquire(cordoning, { requiredSinceMs: 2 });
  assert.ok(!w2.acquired);
  assert.equal(w2.message, "all 1 slot(s) held by h (cordoning); 1 node(s) ahead in line");
  assert.equal(restarted.queued, true);
  await restarted.leaveQueue();
  assert.equal(store.leases.has(queueEntryName("kured", "w1")), false);
  assert.equal(restarted.queued, false);
});

Deno.test("queue: the entry of a node that no longer exists is removed when it is passed over", async () => {
  const store = new FakeLeaseStore({ nodes: ["h", "gone", "w2"] });
  const o = { queueGraceMs: 1 };
  const h = lockOn(store, "h", o);
  assert.ok((await h.tryAcquire(cordoning)).acquired);
  assert.equal(
    (await lockOn(store, "gone", o).tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired,
    false,
  );
  store.deleteNode("gone");
  const w2 = lockOn(store, "w2", o);
  assert.equal((await w2.tryAcquire(cordoning, { requiredSinceMs: 2 })).acquired, false);
  await waitThenRelease(w2, h);
  assert.ok((await w2.tryAcquire(cordoning)).acquired);
  assert.equal(store.leases.has(queueEntryName("kured", "gone")), false);
});

Deno.test("queue with --max-concurrency-total: the longest-waiting of the groups' first in line goes", async () => {
  const store = new FakeLeaseStore();
  for (const [n, zone] of [["h", "a"], ["a1", "a"], ["b1", "b"], ["c1", "c"]]) {
    store.nodes.add(n!);
    store.nodeLabels.set(n!, { [ZONE]: zone! });
  }
  const o = { groupLabel: ZONE, maxConcurrencyTotal: 1 };
  const req = (n: string, since: number) => ({ labels: store.nodeLabels.get(n)!, requiredSinceMs: since });
  const h = lockOn(store, "h", o);
  assert.ok((await h.tryAcquire(cordoning, req("h", 0))).acquired);
  const locks = Object.fromEntries(["a1", "b1", "c1"].map((n) => [n, lockOn(store, n, o)]));
  assert.equal((await locks.b1!.tryAcquire(cordoning, req("b1", 20))).acquired, false);
  assert.equal((await locks.c1!.tryAcquire(cordoning, req("c1", 10))).acquired, false);
  assert.equal((await locks.a1!.tryAcquire(cordoning, req("a1", 30))).acquired, false);
  await h.release();
  const ra = await locks.a1!.tryAcquire(cordoning, req("a1", 30));
  const rb = await locks.b1!.tryAcquire(cordoning, req("b1", 20));
  assert.ok(!ra.acquired && !rb.acquired, "a1's and b1's groups have room, but c1 waited longer");
  assert.ok((await locks.c1!.tryAcquire(cordoning, req("c1", 10))).acquired);
});

Deno.test("queue: a dry run writes no queue entry", async () => {
  const store = new FakeLeaseStore({ nodes: ["h", "w"] });
  assert.ok((await lockOn(store, "h").tryAcquire(cordoning)).acquired);
  store.dryRun = true;
  assert.equal((await lockOn(store, "w").tryAcquire(cordoning)).acquired, false);
  assert.equal(store.calls.createLease, 1, "only h's slot");
  assert.equal([...store.leases.keys()].length, 1);
});

Deno.test("queue: only the first in line watch the holder's Node; a first try reads none", async () => {
  const store = new FakeLeaseStore({ nodes: ["h", "w1", "w2", "w3", "w4"] });
  assert.ok((await lockOn(store, "h").tryAcquire(cordoning)).acquired);
  const waiters = ["w1", "w2", "w3", "w4"].map((n) => lockOn(store, n));
  for (const [i, w] of waiters.entries()) {
    assert.equal((await w.tryAcquire(cordoning, { requiredSinceMs: i + 1 })).acquired, false);
  }
  assert.equal(store.calls.nodeExists ?? 0, 0, "in a rush of first tries each is first in an empty line");
  const ac = new AbortController();
  const waits = waiters.map((w) => w.waitForChance(ac.signal, 60_000));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(store.calls["watch/node"], 2, "the two first in line watch h's Node, the others not");
  assert.equal(store.calls.nodeExists ?? 0, 0, "and judge it from the watch");
  // h's Node is deleted: the first in line wakes, finds its slot free and takes it.
  store.deleteNode("h");
  assert.equal(await waits[0], "changed");
  assert.ok((await waiters[0]!.tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired);
  ac.abort();
  await Promise.all(waits);
  for (const w of waiters) w.stopWatching();
});

Deno.test("queue: the first in line finds a holder Node deleted while no watch was open, and goes", async () => {
  const store = new FakeLeaseStore({ nodes: ["h", "w1"] });
  assert.ok((await lockOn(store, "h").tryAcquire(cordoning)).acquired);
  const w1 = lockOn(store, "w1");
  assert.equal((await w1.tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired, false);
  // Gone without an event this node could see (its watches were not open then, e.g. the API server was away).
  store.nodes.delete("h");
  const ac = new AbortController();
  const t0 = Date.now();
  assert.equal(await w1.waitForChance(ac.signal, 10_000), "changed");
  assert.ok(Date.now() - t0 < 3_000, "the silent watch costs a moment, then the Node is read");
  assert.ok((await w1.tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired);
  w1.stopWatching();
});

Deno.test("queue: a holder killed before leaving the line, then deleted, costs the next waiter no grace", async () => {
  const store = new FakeLeaseStore({ nodes: ["x", "h", "w1"] });
  // A grace the test would notice: the waiter must not wait it out behind the dead holder's entry.
  const o = { queueGraceMs: 5_000 };
  const x = lockOn(store, "x", o);
  assert.ok((await x.tryAcquire(cordoning)).acquired);
  const h = lockOn(store, "h", o);
  assert.equal((await h.tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired, false);
  const entry = queueEntryName("kured", "h");
  const stale = structuredClone(store.leases.get(entry)!) as { metadata: Record<string, unknown> };
  const w1 = lockOn(store, "w1", o);
  assert.equal((await w1.tryAcquire(cordoning, { requiredSinceMs: 2 })).acquired, false);
  await x.release();
  assert.ok((await h.tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired);
  // h's daemon was killed between taking the slot and deleting its entry (the entry is back as it was), and
  // then its Node was deleted.
  delete stale.metadata.resourceVersion;
  await store.createLease(stale);
  h.stopWatching();
  store.deleteNode("h");
  const ac = new AbortController();
  const t0 = Date.now();
  assert.equal(await w1.waitForChance(ac.signal, 10_000), "changed");
  assert.ok(Date.now() - t0 < 2_500, `woke after ${Date.now() - t0} ms, not after h's grace`);
  assert.ok((await w1.tryAcquire(cordoning, { requiredSinceMs: 2 })).acquired);
  assert.equal(
    store.leases.has(entry),
    false,
    "the gone holder's entry is removed by the node that took its slot",
  );
  w1.stopWatching();
});

Deno.test("queue: a holder's renewals do not restart the grace of a next in line that does not act", async () => {
  const store = new FakeLeaseStore({ nodes: ["h1", "h2", "dead", "w2"] });
  const o = { queueGraceMs: 150, ttlMs: 60_000, concurrency: { kind: "count" as const, n: 2 } };
  const h1 = lockOn(store, "h1", o);
  const h2 = lockOn(store, "h2", o);
  assert.ok((await h1.tryAcquire(cordoning)).acquired);
  assert.ok((await h2.tryAcquire(cordoning)).acquired);
  assert.equal(
    (await lockOn(store, "dead", o).tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired,
    false,
  );
  const w2 = lockOn(store, "w2", o);
  assert.equal((await w2.tryAcquire(cordoning, { requiredSinceMs: 2 })).acquired, false);
  const ac = new AbortController();
  const wait = w2.waitForChance(ac.signal, 5_000);
  await tick();
  await h1.release();
  // h2 renews far more often than the grace is long.
  const renewals = store.calls.patchLease ?? 0;
  let renewing = true;
  const renew = (async () => {
    while (renewing) {
      await h2.renew();
      await tick(40);
    }
  })();
  const t0 = Date.now();
  assert.equal(await wait, "changed");
  renewing = false;
  await renew;
  assert.ok(Date.now() - t0 < 1_000, `woke after ${Date.now() - t0} ms`);
  assert.ok((store.calls.patchLease ?? 0) - renewals >= 3, "h2 renewed during the grace");
  assert.ok((await w2.tryAcquire(cordoning, { requiredSinceMs: 2 })).acquired);
  w2.stopWatching();
});
