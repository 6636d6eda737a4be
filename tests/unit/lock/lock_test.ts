/**
 * The lock's algorithm against an in-memory Lease store (tests/unit/lock/fake_store.ts), as client-go tests its
 * leader election against a fake lock: acquire, contend, conflict, release, pause, TTL expiry, a blind
 * observer, a lost slot, dry run. tests/e2e/lock_test.ts runs the same lock against the real API server.
 */
import assert from "node:assert/strict";
import { LostSlotError } from "../../../lib/lock/mod.ts";
import { slotName } from "../../../lib/lock/slots.ts";
import { FakeLeaseStore } from "./fake_store.ts";
import { lockOn } from "./lock_on.ts";

const SLOT0 = slotName("kured", 0);

class Clock {
  t = 1_000_000;
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Nodes a and b, each with a lock of --lock-ttl=15s on one fake clock; b logs into `lines`. */
function twoNodesWithTtl() {
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  const clock = new Clock();
  const lines: string[] = [];
  const a = lockOn(store, "a", { ttlMs: 15_000, now: clock.now });
  const b = lockOn(store, "b", { ttlMs: 15_000, now: clock.now, lines });
  return { store, clock, a, b, lines };
}

const cordoning = { phase: "cordoning" };

Deno.test("acquire: the first node takes slot 0 (a new Lease); again is re-entrant; a second finds it full", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  const a = lockOn(store, "a");
  const r = await a.tryAcquire({ phase: "cordoning", bootId: "boot-1", wasUnschedulable: false });
  assert.ok(r.acquired);
  assert.equal(r.slot.name, SLOT0);
  assert.equal(store.holder(SLOT0), "a");
  assert.equal(store.calls.createLease, 1);
  assert.ok((await a.tryAcquire(cordoning)).acquired, "re-entrant");
  assert.equal(store.calls.createLease, 1, "no second write");
  const b = await lockOn(store, "b").tryAcquire(cordoning);
  assert.ok(!b.acquired && b.reason === "full");
  assert.match(b.message, /held by a \(cordoning\)/);
});

Deno.test("conflict: two nodes race for one slot: exactly one wins, the loser catches up and finds it full", async () => {
  for (const [existing, streams] of [[false, true], [true, true], [false, false], [true, false]] as const) {
    const store = new FakeLeaseStore({ nodes: ["a", "b"] });
    store.streamsInitialState = streams;
    if (existing) {
      // A free slot Lease left by an earlier holder: both race with the same resourceVersion (patch, 409).
      const first = lockOn(store, "a");
      await first.tryAcquire(cordoning);
      await first.release();
    }
    const ds = store.calls.readDaemonSet ?? 0;
    const lists = store.calls.listLeases ?? 0;
    const [ra, rb] = await Promise.all([
      lockOn(store, "a").tryAcquire(cordoning),
      lockOn(store, "b").tryAcquire(cordoning),
    ]);
    assert.equal([ra, rb].filter((r) => r.acquired).length, 1, `existing Lease: ${existing}`);
    if (streams) {
      // Each first try takes the state from its watches' initial events, and the loser sees the winner's write
      // arrive on its Lease watch: no list at all.
      assert.equal((store.calls.listLeases ?? 0) - lists, 0, "no list");
      assert.equal((store.calls.readDaemonSet ?? 0) - ds, 0, "the DaemonSet came with its watch");
    } else {
      // Without watches: one read each, and the loser's re-read of the Leases only.
      assert.equal((store.calls.listLeases ?? 0) - lists, 3, "one read each, and the loser's re-read");
      assert.equal((store.calls.readDaemonSet ?? 0) - ds, 2, "the loser re-reads only the Leases");
    }
    const loser = ra.acquired ? rb : ra;
    assert.ok(!loser.acquired && loser.reason === "full", JSON.stringify(loser));
    assert.equal(store.holder(SLOT0), ra.acquired ? "a" : "b");
  }
});

Deno.test("release: frees the slot; a node that does not hold it changes nothing; a conflict is re-read", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  const a = lockOn(store, "a");
  await a.tryAcquire(cordoning);
  await lockOn(store, "b").release();
  assert.equal(store.holder(SLOT0), "a", "releasing a slot that is not ours is a no-op, never a steal");
  // Someone writes the Lease behind a's back: a's release meets a conflict, re-reads, and still releases.
  store.externalPatch(SLOT0, { metadata: { annotations: { note: "touched" } } });
  const patches = store.calls.patchLease ?? 0;
  await a.release();
  assert.equal(store.holder(SLOT0), undefined);
  assert.equal(a.held, undefined);
  assert.equal((store.calls.patchLease ?? 0) - patches, 2, "one conflict, one write");
  assert.ok((await lockOn(store, "b").tryAcquire(cordoning)).acquired);
});

Deno.test("pause: kreboot pause blocks new holders with its reason, kured's annotation too; resume lifts", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  const holder = lockOn(store, "a", { concurrency: { kind: "count", n: 2 } });
  await holder.tryAcquire(cordoning);
  const admin = lockOn(store, "cli");
  await admin.pause("ops@laptop", "change freeze");
  await admin.pause("ops@laptop", "change freeze, longer");
  const b = lockOn(store, "b", { concurrency: { kind: "count", n: 2 } });
  const r = await b.tryAcquire(cordoning);
  assert.ok(!r.acquired && r.reason === "paused");
  assert.equal(r.message, "reboots are paused by ops@laptop: change freeze, longer");
  // The holder finishes.
  await holder.update({ phase: "rebooting" });
  await holder.release();
  await admin.resume();
  assert.ok((await b.tryAcquire(cordoning)).acquired);
  await b.release();

  store.daemonSet = { metadata: { annotations: { "weave.works/kured-node-lock": '{"nodeID":"manual"}' } } };
  const r2 = await b.tryAcquire(cordoning);
  assert.ok(!r2.acquired && r2.reason === "paused");
  assert.match(
    r2.message,
    /paused by manual: kured lock annotation weave.works\/kured-node-lock on DaemonSet/,
  );
  assert.deepEqual(b.pauseState(), {
    paused: true,
    by: "manual",
    reason: "kured lock annotation weave.works/kured-node-lock on DaemonSet kube-system/kured",
    source: "kured-annotation",
  });
  // b waits on its watches now: it hears of the lifted annotation from the DaemonSet's watch.
  store.setDaemonSetAnnotations({});
  assert.ok((await b.tryAcquire(cordoning)).acquired);
});

Deno.test("TTL: a silent holder loses the slot after --lock-ttl of the observer's time; a renewing one never", async () => {
  const { store, clock, a, b, lines } = twoNodesWithTtl();
  await a.tryAcquire(cordoning);
  for (let i = 0; i < 6; i++) {
    clock.advance(5_000);
    await a.renew();
    assert.equal((await b.tryAcquire(cordoning)).acquired, false, `stole a renewed slot at round ${i}`);
  }
  clock.advance(14_999);
  assert.equal((await b.tryAcquire(cordoning)).acquired, false, "before the TTL");
  clock.advance(1);
  assert.equal((await b.tryAcquire(cordoning)).acquired, true, "after the TTL");
  assert.equal(store.holder(SLOT0), "b");
  assert.ok(lines.some((l) => /holder silent past --lock-ttl/.test(l)), lines.join("\n"));
  // The old holder finds out on its next write.
  await assert.rejects(a.renew(), LostSlotError);
});

Deno.test("TTL: a silent holder whose Node still carries kreboot's cordon keeps the slot (never one node more disrupted)", async () => {
  const { store, clock, a, b } = twoNodesWithTtl();
  await a.tryAcquire(cordoning);
  store.cordoned.add("a"); // a's daemon cordoned the node, then died
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  clock.advance(60_000);
  const r = await b.tryAcquire(cordoning);
  assert.ok(!r.acquired && r.reason === "full", "silent past the TTL, but its node is still disrupted");
  assert.equal(store.holder(SLOT0), "a");
  // Its cordon undone (by its restarted daemon, or by hand): the silent slot may be taken over.
  store.cordoned.delete("a");
  assert.equal((await b.tryAcquire(cordoning)).acquired, true);
  assert.equal(store.holder(SLOT0), "b");
});

Deno.test("blind observer: an outage longer than the TTL is not the holder's silence; it gets a full TTL after", async () => {
  const { store, clock, a, b } = twoNodesWithTtl();
  await a.tryAcquire(cordoning);
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  store.setDown(true);
  clock.advance(25_000);
  await assert.rejects(b.tryAcquire(cordoning), /ECONNREFUSED/);
  store.setDown(false);
  const back = await b.tryAcquire(cordoning);
  assert.equal(back.acquired, false, "took the slot the moment the API server returned");
  clock.advance(14_000);
  assert.equal((await b.tryAcquire(cordoning)).acquired, false, "within a full TTL after the outage");
  // The holder renews (b sees it on its next read): it keeps the slot for another TTL.
  await a.renew();
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  clock.advance(14_999);
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  // A holder that stays silent for a whole TTL of sight loses it.
  clock.advance(1);
  assert.equal((await b.tryAcquire(cordoning)).acquired, true);
});

Deno.test("blind observer: a waiter whose watch broke during the outage gives the holder a full TTL", async () => {
  const { store, clock, a, b, lines } = twoNodesWithTtl();
  await a.tryAcquire(cordoning);
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  const ac = new AbortController();
  const waiting = b.waitForChance(ac.signal, 600_000);
  await new Promise((r) => setTimeout(r, 10));
  // The watch ends with the outage; the waiter's own reads fail until it comes back.
  store.setDown(true);
  clock.advance(25_000);
  await new Promise((r) => setTimeout(r, 10));
  store.setDown(false);
  // The watch restarts after its backoff (1 s), re-reading the slots first.
  const deadline = Date.now() + 5_000;
  while ((store.calls["watch/leases"] ?? 0) < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(lines.some((l) => /watch ended; restarting/.test(l)), "the outage is logged");
  assert.equal((await b.tryAcquire(cordoning)).acquired, false, "took the slot as the API server returned");
  clock.advance(15_000);
  assert.equal((await b.tryAcquire(cordoning)).acquired, true);
  ac.abort();
  assert.equal(await waiting, "changed", "the waiter holds a slot now: its caller has work to do");
  b.stopWatching();
});

Deno.test("an observer that stopped waiting and read nothing during an outage does not count it as silence", async () => {
  // Seed 3 of the chaos runs: a waiter leaves waiting (its watch live, closed), its gates then fail against the
  // away API server, so it reads no Lease and never goes blind; its first read afterwards must not find the
  // holder (whose daemon could not write either) silent for the whole outage.
  const { clock, a, b } = twoNodesWithTtl();
  await a.tryAcquire(cordoning);
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  const ac = new AbortController();
  const waiting = b.waitForChance(ac.signal, 600_000);
  await new Promise((r) => setTimeout(r, 10));
  clock.advance(5_000);
  ac.abort();
  assert.equal(await waiting, "aborted");
  b.stopWatching();
  clock.advance(30_000);
  assert.equal(
    (await b.tryAcquire(cordoning)).acquired,
    false,
    "took the slot on its first read after the gap",
  );
  clock.advance(9_999);
  assert.equal((await b.tryAcquire(cordoning)).acquired, false, "5 s watched + 9.999 s read: within the TTL");
  clock.advance(1);
  assert.equal((await b.tryAcquire(cordoning)).acquired, true, "a whole TTL of sight without a renewal");
});

Deno.test("lost slot: a write to a slot taken or deleted meanwhile throws LostSlotError; stillHeld says so", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "c"] });
  const a = lockOn(store, "a");
  await a.tryAcquire(cordoning);
  assert.equal(await a.stillHeld(), true);
  store.externalPatch(SLOT0, { spec: { holderIdentity: "c" } });
  await assert.rejects(a.update({ phase: "draining" }), (e) => {
    assert.ok(e instanceof LostSlotError);
    assert.match(e.message, /holder now "c"/);
    return true;
  });
  assert.equal(a.held, undefined);
  assert.equal(store.holder(SLOT0), "c", "no steal back");

  const store2 = new FakeLeaseStore({ nodes: ["a"] });
  const a2 = lockOn(store2, "a");
  await a2.tryAcquire(cordoning);
  const lists = store2.calls.listLeases;
  assert.equal(await a2.stillHeld(), true);
  assert.equal(store2.calls.listLeases, (lists ?? 0) + 1);
  store2.externalDelete(SLOT0);
  assert.equal(await a2.stillHeld(), false);
  await assert.rejects(a2.renew(), LostSlotError);
  assert.equal(
    store2.calls.readDaemonSet ?? 0,
    0,
    "the guard lists the Leases, nothing else (the acquisition had the DaemonSet from its watch)",
  );
});

Deno.test("a holder whose Node was deleted frees its slot at once, and a watching waiter wakes", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  await lockOn(store, "a").tryAcquire({ phase: "draining" });
  const b = lockOn(store, "b");
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  const ac = new AbortController();
  const waiting = b.waitForChance(ac.signal, 10_000);
  await new Promise((r) => setTimeout(r, 10));
  store.deleteNode("a");
  assert.equal(await waiting, "changed");
  // The daemon tries while its watches are still open (it leaves `waiting` only with the slot).
  assert.ok((await b.tryAcquire(cordoning)).acquired);
  assert.equal(store.openWatches, 0, "a holder keeps no waiter's watches");
});

Deno.test("a waiting node first in line judges the holders' Nodes from its watches on them, without reading them", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b", "c"] });
  const a = lockOn(store, "a");
  await a.tryAcquire(cordoning);
  const b = lockOn(store, "b");
  assert.equal((await b.tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired, false);
  const c = lockOn(store, "c");
  assert.equal((await c.tryAcquire(cordoning, { requiredSinceMs: 2 })).acquired, false);
  assert.equal(
    store.calls.nodeExists ?? 0,
    0,
    "a first try reads no holder's Node: the wait that follows watches it",
  );
  const ac = new AbortController();
  const waitingC = c.waitForChance(ac.signal, 10_000);
  const waitingB = b.waitForChance(ac.signal, 10_000);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual((await b.view()).map((v) => v.verdict.kind), ["held"]);
  assert.equal(store.calls.nodeExists ?? 0, 0, "no read of a watched holder's Node");
  // a hands over to b, next in line: c, now first in line, judges b from its new watch on b's Node.
  await a.release();
  assert.equal(await waitingB, "changed");
  assert.ok((await b.tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual((await c.view()).map((v) => v.verdict.kind), ["held"]);
  assert.equal(store.calls.nodeExists ?? 0, 0, "no read of a watched holder's Node");
  assert.equal(store.calls["watch/node"], 3, "a's Node by b and c, then b's by c");
  ac.abort();
  await waitingC;
  b.stopWatching();
  c.stopWatching();
});

Deno.test("a holder Node already gone when its watch starts is read once and found gone", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  await lockOn(store, "a").tryAcquire(cordoning);
  const b = lockOn(store, "b");
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  // Deleted before b watches it: the watch will never say anything about it.
  store.nodes.delete("a");
  const ac = new AbortController();
  const waiting = b.waitForChance(ac.signal, 10_000);
  await new Promise((r) => setTimeout(r, 10));
  const t0 = Date.now();
  assert.deepEqual((await b.view()).map((v) => v.verdict.kind), ["orphaned"]);
  assert.ok(Date.now() - t0 < 3_000, "no longer than the watch's moment to answer");
  assert.ok((store.calls.nodeExists ?? 0) >= 2, "the watch said nothing: read");
  ac.abort();
  await waiting;
  // The daemon tries while its watches are still open (it leaves `waiting` only with the slot).
  assert.ok((await b.tryAcquire(cordoning)).acquired);
  assert.equal(store.openWatches, 0);
});

Deno.test("a change of holder wakes no waiter needlessly and logs no watch failure", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b", "c"] });
  const a = lockOn(store, "a");
  await a.tryAcquire({ phase: "draining" });
  // c has waited longer than b: it is next in line.
  const c = lockOn(store, "c");
  assert.equal((await c.tryAcquire(cordoning, { requiredSinceMs: 1 })).acquired, false);
  const lines: string[] = [];
  const b = lockOn(store, "b", { lines });
  assert.equal((await b.tryAcquire(cordoning, { requiredSinceMs: 2 })).acquired, false);
  const ac = new AbortController();
  const waiting = b.waitForChance(ac.signal, 10_000);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(store.openWatches, 5, "b's on the Leases, the DaemonSet, the holder's Node; c's first two");
  // a hands over to c: b, second in line, is not woken; its watch on a's Node is dropped, one on c's opened.
  await a.release();
  assert.ok((await c.tryAcquire(cordoning)).acquired);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await Promise.race([waiting, Promise.resolve("still waiting")]), "still waiting");
  assert.equal(store.calls["watch/node"], 2);
  assert.equal(store.openWatches, 3);
  ac.abort();
  assert.equal(await waiting, "aborted");
  b.stopWatching();
  assert.equal(store.openWatches, 0);
  assert.deepEqual(lines.filter((l) => /watch ended/.test(l)), [], "our own aborts are no failures");
});

Deno.test("dry run: nothing is created, and giving back a slot that was never created sends no request", async () => {
  const store = new FakeLeaseStore({ nodes: ["a"], dryRun: true });
  const lines: string[] = [];
  const a = lockOn(store, "a", { lines });
  const r = await a.tryAcquire(cordoning);
  assert.ok(r.acquired);
  assert.equal(store.leases.size, 0);
  await a.update({ phase: "draining" });
  await a.release();
  assert.equal(a.held, undefined);
  assert.equal(store.calls.patchLease ?? 0, 0, "no patch of a Lease that does not exist");
  assert.deepEqual(lines.map((l) => JSON.parse(l).msg), [
    "would take slot (dry run)",
    "would release slot (dry run)",
  ]);

  // With a real (free) slot Lease, the dry-run writes are validated against it and change nothing.
  const real = new FakeLeaseStore({ nodes: ["a"] });
  const setup = lockOn(real, "a");
  await setup.tryAcquire(cordoning);
  await setup.release();
  real.dryRun = true;
  const dry = lockOn(real, "a");
  assert.ok((await dry.tryAcquire(cordoning)).acquired);
  await dry.release();
  assert.equal(real.holder(SLOT0), undefined);
  assert.equal(real.calls.patchLease, 3, "setup release, then dry-run acquire and release");
});

Deno.test("a percentage of the nodes that run the daemon, rounded down, at least 1", async () => {
  const nodes = ["a", "b", "c", "d", "e", "f"];
  const pct = (store: FakeLeaseStore, node: string) =>
    lockOn(store, node, { concurrency: { kind: "percent", percent: 50 } });
  const takeAll = async (store: FakeLeaseStore) => {
    const got = [];
    for (const n of nodes) got.push((await pct(store, n).tryAcquire(cordoning)).acquired);
    return got;
  };
  // Without a DaemonSet status: 50% of the 4 Nodes.
  assert.deepEqual(await takeAll(new FakeLeaseStore({ nodes: ["a", "b", "c", "d"] })), [
    true,
    true,
    false,
    false,
    false,
    false,
  ]);
  // The DaemonSet says 6 pods run: 50% of 6.
  const store = new FakeLeaseStore({ nodes });
  store.daemonSet = { metadata: { name: "kured" }, status: { desiredNumberScheduled: 6 } };
  assert.deepEqual(await takeAll(store), [true, true, true, false, false, false]);
  assert.equal(store.calls.countNodes ?? 0, 0, "the DaemonSet's count needs no Node list");
  // One node: still one slot.
  assert.deepEqual((await takeAll(new FakeLeaseStore({ nodes: ["a"] }))).slice(0, 1), [true]);
});

Deno.test("a broken Lease watch resumes from the last version it saw, without a list; an expired one lists again", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  const a = lockOn(store, "a");
  await a.tryAcquire(cordoning);
  const lines: string[] = [];
  const b = lockOn(store, "b", { lines });
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  const ac = new AbortController();
  let waiting = b.waitForChance(ac.signal, 60_000);
  await new Promise((r) => setTimeout(r, 10));
  const lists = store.calls.listLeases ?? 0;
  const watches = store.calls["watch/leases"] ?? 0;
  store.setDown(true);
  await new Promise((r) => setTimeout(r, 10));
  store.setDown(false);
  // The watch restarts after its backoff (1 s) from where it broke off.
  await new Promise((r) => setTimeout(r, 1_300));
  assert.equal(store.calls.listLeases ?? 0, lists, "no list: the watch resumed");
  assert.equal(store.calls["watch/leases"], watches + 1);
  // What happens after the resume still arrives: a's release wakes b (the watch broke, so b looks again first).
  if (await Promise.race([waiting, Promise.resolve("waiting")]) === "changed") {
    waiting = b.waitForChance(ac.signal, 60_000);
    await new Promise((r) => setTimeout(r, 10));
  }
  await a.release();
  assert.equal(await waiting, "changed");
  // The server compacts its history: the watch cannot resume, so the Leases are listed again.
  waiting = b.waitForChance(ac.signal, 60_000);
  await new Promise((r) => setTimeout(r, 10));
  store.compact();
  // The second restart in a row backs off longer (2 s).
  for (let i = 0; i < 50 && (store.calls.listLeases ?? 0) === lists; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(store.calls.listLeases ?? 0, lists + 1, "listed once after the 410");
  ac.abort();
  await waiting;
  b.stopWatching();
  assert.ok(lines.some((l) => /410 Gone/.test(l)), "the expiry is logged");
});
