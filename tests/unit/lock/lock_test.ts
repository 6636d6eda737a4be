/**
 * The lock's algorithm against an in-memory Lease store (tests/unit/lock/fake_store.ts), as client-go tests its
 * leader election against a fake lock: acquire, contend, conflict, release, pause, TTL expiry, a blind
 * observer, a lost slot, dry run. tests/e2e/lock_test.ts runs the same lock against the real API server.
 */
import assert from "node:assert/strict";
import { type LockOptions, LostSlotError, RebootLock } from "../../../lib/lock/mod.ts";
import { slotName } from "../../../lib/lock/slots.ts";
import { Logger } from "../../../lib/log.ts";
import { FakeLeaseStore } from "./fake_store.ts";

const SLOT0 = slotName("kured", 0);

class Clock {
  t = 1_000_000;
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

function lockOn(
  store: FakeLeaseStore,
  node: string,
  o: Partial<LockOptions> & { lines?: string[] } = {},
): RebootLock {
  const { lines, ...rest } = o;
  return new RebootLock(store, {
    namespace: "kube-system",
    dsName: "kured",
    lockAnnotation: "weave.works/kured-node-lock",
    concurrency: { kind: "count", n: 1 },
    ttlMs: 0,
    node,
    log: new Logger({ format: "json", node, sink: (l) => lines?.push(l) }),
    wakeJitterMs: 0,
    ...rest,
  });
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

Deno.test("conflict: two nodes race for one slot: exactly one wins, the loser re-reads and finds it full", async () => {
  for (const existing of [false, true]) {
    const store = new FakeLeaseStore({ nodes: ["a", "b"] });
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
    assert.equal((store.calls.listLeases ?? 0) - lists, 3, "one read each, and the loser's re-read");
    assert.equal((store.calls.readDaemonSet ?? 0) - ds, 2, "the loser re-reads only the Leases");
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
  store.daemonSet = { metadata: { annotations: {} } };
  assert.ok((await b.tryAcquire(cordoning)).acquired);
});

Deno.test("TTL: a silent holder loses the slot after --lock-ttl of the observer's time; a renewing one never", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  const clock = new Clock();
  const a = lockOn(store, "a", { ttlMs: 15_000, now: clock.now });
  const lines: string[] = [];
  const b = lockOn(store, "b", { ttlMs: 15_000, now: clock.now, lines });
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
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  const clock = new Clock();
  const a = lockOn(store, "a", { ttlMs: 15_000, now: clock.now });
  const b = lockOn(store, "b", { ttlMs: 15_000, now: clock.now });
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
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  const clock = new Clock();
  const a = lockOn(store, "a", { ttlMs: 15_000, now: clock.now });
  const b = lockOn(store, "b", { ttlMs: 15_000, now: clock.now });
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
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  const clock = new Clock();
  const a = lockOn(store, "a", { ttlMs: 15_000, now: clock.now });
  const lines: string[] = [];
  const b = lockOn(store, "b", { ttlMs: 15_000, now: clock.now, lines });
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
  assert.equal(await waiting, "aborted");
  b.stopWatching();
});

Deno.test("an observer that stopped waiting and read nothing during an outage does not count it as silence", async () => {
  // Seed 3 of the chaos runs: a waiter leaves waiting (its watch live, closed), its gates then fail against the
  // away API server, so it reads no Lease and never goes blind; its first read afterwards must not find the
  // holder (whose daemon could not write either) silent for the whole outage.
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  const clock = new Clock();
  const a = lockOn(store, "a", { ttlMs: 15_000, now: clock.now });
  const b = lockOn(store, "b", { ttlMs: 15_000, now: clock.now });
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
    store2.calls.readDaemonSet,
    1,
    "the guard lists the Leases, nothing else (only the acquire read the DaemonSet)",
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
  b.stopWatching();
  assert.ok((await b.tryAcquire(cordoning)).acquired);
});

Deno.test("a waiting node judges the holders' Nodes from its watches on them, without reading them", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b", "c"] });
  const a = lockOn(store, "a");
  await a.tryAcquire(cordoning);
  const b = lockOn(store, "b");
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  assert.equal(store.calls.nodeExists, 1, "not watching yet: one read of the holder's Node");
  const ac = new AbortController();
  let waiting = b.waitForChance(ac.signal, 10_000);
  await new Promise((r) => setTimeout(r, 20));
  // a hands over to c: b judges c from its new watch on c's Node, which begins with the Node as it is.
  await a.release();
  await lockOn(store, "c").tryAcquire(cordoning);
  await new Promise((r) => setTimeout(r, 20));
  if (await Promise.race([waiting, Promise.resolve("still waiting")]) === "changed") {
    assert.equal((await b.tryAcquire(cordoning)).acquired, false);
    waiting = b.waitForChance(ac.signal, 10_000);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(store.calls["watch/node"], 2, "a's Node, then c's");
  assert.deepEqual((await b.view()).map((v) => v.verdict.kind), ["held"]);
  assert.equal(store.calls.nodeExists, 1, "no read of a watched holder's Node");
  ac.abort();
  await waiting;
  b.stopWatching();
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
  b.stopWatching();
  assert.ok((await b.tryAcquire(cordoning)).acquired);
});

Deno.test("a change of holder wakes no waiter needlessly and logs no watch failure", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b", "c"] });
  const a = lockOn(store, "a");
  await a.tryAcquire({ phase: "draining" });
  const lines: string[] = [];
  const b = lockOn(store, "b", { lines });
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  const ac = new AbortController();
  let waiting = b.waitForChance(ac.signal, 10_000);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(store.openWatches, 3, "Leases, DaemonSet, the holder's Node");
  // a hands over to c (c is faster than b): b's watch on a's Node is dropped, one on c's is opened.
  await a.release();
  await lockOn(store, "c").tryAcquire(cordoning);
  await new Promise((r) => setTimeout(r, 20));
  // b may have woken while the slot was free for a moment; then it waits again, as the loop does.
  if (await Promise.race([waiting, Promise.resolve("still waiting")]) === "changed") {
    waiting = b.waitForChance(ac.signal, 10_000);
    await new Promise((r) => setTimeout(r, 10));
  }
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
  const store = new FakeLeaseStore({ nodes: ["a", "b", "c", "d"] });
  const pct = (node: string) => lockOn(store, node, { concurrency: { kind: "percent", percent: 50 } });
  assert.equal(await pct("a").capacity(), 2, "50% of 4 Nodes");
  store.daemonSet = { metadata: { name: "kured" }, status: { desiredNumberScheduled: 6 } };
  const a = pct("a");
  await a.refresh();
  assert.equal(await a.capacity(), 3, "50% of the DaemonSet's 6 pods");
  const got = [];
  for (const n of ["a", "b", "c", "d"]) got.push((await pct(n).tryAcquire(cordoning)).acquired);
  assert.deepEqual(got, [true, true, true, false]);
});
