/**
 * A first try reads the lock through the watches a waiting node keeps, opened with their current state streamed
 * first (lib/lock/watch.ts, `initial`), instead of a list of the Leases and a read of the DaemonSet; a server
 * that streams no initial state gets the list and the read (lib/lock/mod.ts `#look`).
 */
import assert from "node:assert/strict";
import { slotName } from "../../../lib/lock/slots.ts";
import { FakeLeaseStore } from "./fake_store.ts";
import { lockOn } from "./lock_on.ts";

const SLOT0 = slotName("kured", 0);
const cordoning = { phase: "cordoning" };
const tick = () => new Promise((r) => setTimeout(r, 10));

Deno.test("initial state: a waiter's first try and its wait cost two watches, no list and no read", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  assert.ok((await lockOn(store, "a").tryAcquire(cordoning)).acquired);
  const before = { ...store.calls };
  const b = lockOn(store, "b");
  const r = await b.tryAcquire(cordoning);
  assert.ok(!r.acquired && r.reason === "full", JSON.stringify(r));
  const ac = new AbortController();
  const waiting = b.waitForChance(ac.signal, 60_000);
  await tick();
  const delta = (k: string) => (store.calls[k] ?? 0) - (before[k] ?? 0);
  assert.equal(delta("listLeases"), 0, "no list");
  assert.equal(delta("readDaemonSet"), 0, "no read of the DaemonSet");
  assert.equal(delta("watch/leases"), 1, "the first try's Lease watch is the one it waits on");
  assert.equal(delta("watch/daemonset"), 1);
  ac.abort();
  await waiting;
  b.stopWatching();
  assert.equal(store.openWatches, 0);
});

Deno.test("initial state: it replaces what was read before (a slot deleted while nobody watched is free)", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b", "x"] });
  assert.ok((await lockOn(store, "x").tryAcquire(cordoning)).acquired);
  const b = lockOn(store, "b");
  // b's start-up read sees x holding the slot; then the Lease goes away while b watches nothing.
  assert.equal(await b.mine(), undefined);
  store.externalDelete(SLOT0);
  const r = await b.tryAcquire(cordoning);
  assert.ok(r.acquired, `the stale slot was dropped: ${JSON.stringify(r)}`);
  assert.equal(store.holder(SLOT0), "b");
  assert.equal(store.openWatches, 0, "a holder keeps no waiter's watches");
});

Deno.test("initial state: a server that refuses it gets a list and a read, and is not asked again", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b", "c"] });
  store.streamsInitialState = false;
  store.setDaemonSetAnnotations({});
  assert.ok((await lockOn(store, "a").tryAcquire(cordoning)).acquired);
  const b = lockOn(store, "b");
  const before = { ...store.calls };
  const delta = (k: string) => (store.calls[k] ?? 0) - (before[k] ?? 0);
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  assert.equal(delta("watch/leases"), 1, "asked once");
  assert.equal(delta("listLeases"), 1);
  assert.equal(delta("readDaemonSet"), 1);
  b.stopWatching();
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  assert.equal(delta("watch/leases"), 1, "not asked again");
  assert.equal(delta("listLeases"), 2);
  assert.equal(delta("readDaemonSet"), 2);
  // It still waits on a watch, from the list's resourceVersion.
  const ac = new AbortController();
  const waiting = b.waitForChance(ac.signal, 60_000);
  await tick();
  assert.equal(delta("watch/leases"), 2);
  ac.abort();
  await waiting;
  b.stopWatching();
});

Deno.test("initial state: kured's manual lock comes with the DaemonSet's initial state", async () => {
  const store = new FakeLeaseStore({ nodes: ["a"] });
  store.setDaemonSetAnnotations({ "weave.works/kured-node-lock": '{"nodeID":"manual"}' });
  const a = lockOn(store, "a");
  const r = await a.tryAcquire(cordoning);
  assert.ok(!r.acquired && r.reason === "paused", JSON.stringify(r));
  assert.equal(store.calls.readDaemonSet ?? 0, 0);
  a.stopWatching();
});

Deno.test("initial state: a server that sends objects but never their end (before 1.27) is not asked again", async () => {
  const store = new FakeLeaseStore({ nodes: ["a", "b"] });
  store.streamsInitialState = "ignored";
  store.setDaemonSetAnnotations({});
  assert.ok((await lockOn(store, "a", { initialStateMs: 50 }).tryAcquire(cordoning)).acquired);
  const b = lockOn(store, "b", { initialStateMs: 1_000 });
  const before = { ...store.calls };
  const delta = (k: string) => (store.calls[k] ?? 0) - (before[k] ?? 0);
  assert.equal((await b.tryAcquire(cordoning)).acquired, false, "the fallback's read still sees the holder");
  assert.equal(delta("watch/leases"), 1);
  assert.equal(delta("listLeases"), 1);
  b.stopWatching();
  const t0 = Date.now();
  assert.equal((await b.tryAcquire(cordoning)).acquired, false);
  assert.ok(Date.now() - t0 < 1_000, "no second wait for an end that never comes");
  assert.equal(delta("watch/leases"), 1, "not asked again");
  b.stopWatching();
});
