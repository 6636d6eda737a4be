/**
 * The circuit breaker's Lease (lib/safety/breaker_lease.ts) against the in-memory LeaseStore: failures from
 * several nodes add up (compare-and-swap), the N-th pauses reboots with `kreboot pause`'s pause, a person's
 * pause is left alone, `kreboot resume` resets the count, and the breaker off writes nothing.
 */
import assert from "node:assert/strict";
import { Logger } from "../../../lib/log.ts";
import { decodePauseLease, pause } from "../../../lib/lock/pause.ts";
import { CircuitBreaker } from "../../../lib/safety/breaker_lease.ts";
import { decodeFailures, FAILURES_ANNOTATION } from "../../../lib/safety/breaker.ts";
import { FakeLeaseStore } from "../lock/fake_store.ts";

const H = 3_600_000;
const where = { namespace: "kube-system", dsName: "kured" };

function breaker(store: FakeLeaseStore, node: string, clock: { now: number }, maxFailed = 2) {
  const log = new Logger({ format: "json", node, sink: () => {} });
  return new CircuitBreaker(store, {
    ...where,
    node,
    maxFailed,
    windowMs: 24 * H,
    log,
    now: () => clock.now,
  });
}

function failures(store: FakeLeaseStore) {
  const lease = store.leases.get("kured-breaker") as { metadata: { annotations: Record<string, string> } };
  return decodeFailures(lease.metadata.annotations[FAILURES_ANNOTATION]).record;
}

const pauseOf = (store: FakeLeaseStore) => decodePauseLease(store.leases.get("kured-pause"));
const pausedBy = (store: FakeLeaseStore) => {
  const p = pauseOf(store);
  return p.paused ? p.by : undefined;
};

Deno.test("breaker Lease: failures of several nodes add up; the N-th pauses reboots, naming the nodes", async () => {
  const store = new FakeLeaseStore();
  const clock = { now: Date.parse("2026-03-01T10:00:00Z") };
  const a = breaker(store, "node-a", clock);
  const b = breaker(store, "node-b", clock);
  assert.equal(await a.record({ kind: "health-timeout", why: "DaemonSet pods not Ready" }), undefined);
  assert.equal(pauseOf(store).paused, false, "one failure of two: still closed");
  const lease = store.leases.get("kured-breaker") as { metadata: { labels: Record<string, string> } };
  assert.deepEqual(lease.metadata.labels, { "kreboot.dev/lock": "kured" }, "listed with the lock's Leases");
  clock.now += H;
  const reason = await b.record({ kind: "not-ready", why: "never Ready again" });
  assert.match(
    reason ?? "",
    /^circuit breaker: 2 failed reboots within 24h0m0s \(node-a: .*; node-b: never Ready again\)/,
  );
  const p = pauseOf(store);
  assert.ok(p.paused);
  assert.equal(p.by, "circuit-breaker");
  assert.equal(p.reason, reason);
  assert.equal(await a.isOpen(), true);
  assert.deepEqual(failures(store).failures.map((f) => `${f.node}:${f.kind}`), [
    "node-a:health-timeout",
    "node-b:not-ready",
  ]);
});

Deno.test("breaker Lease: a write that loses a race re-reads and appends again", async () => {
  const store = new FakeLeaseStore();
  const clock = { now: Date.parse("2026-03-01T10:00:00Z") };
  const a = breaker(store, "node-a", clock, 5);
  await a.record({ kind: "health-timeout", why: "first" });
  // Another node appends between this node's read and write: the patch carries the stale resourceVersion.
  const realList = store.listLeases.bind(store);
  let raced = false;
  store.listLeases = async () => {
    const list = await realList();
    if (!raced) {
      raced = true;
      store.externalPatch("kured-breaker", {
        metadata: {
          annotations: {
            [FAILURES_ANNOTATION]: JSON.stringify({
              v: 1,
              failures: [
                {
                  node: "node-a",
                  at: new Date(clock.now).toISOString(),
                  kind: "health-timeout",
                  why: "first",
                },
                { node: "node-c", at: new Date(clock.now).toISOString(), kind: "not-ready", why: "racer" },
              ],
            }),
          },
        },
      });
    }
    return list;
  };
  clock.now += 1_000;
  await a.record({ kind: "boot-id-unchanged", why: "second" });
  assert.deepEqual(failures(store).failures.map((f) => f.why), ["first", "racer", "second"]);
});

Deno.test("breaker Lease: a person's pause stays as it is; resume resets the count and keeps the record", async () => {
  const store = new FakeLeaseStore();
  const clock = { now: Date.parse("2026-03-01T10:00:00Z") };
  await pause(store, where, "alice", "change freeze", new Date(clock.now));
  const a = breaker(store, "node-a", clock, 1);
  assert.match(
    await a.record({ kind: "health-timeout", why: "x" }) ?? "",
    /^circuit breaker: 1 failed reboot /,
  );
  assert.equal(pausedBy(store), "alice", "not overwritten");
  assert.equal(await a.isOpen(), false, "reboots are paused, but by a person");

  await store.deleteLease("kured-pause");
  clock.now += 1_000;
  await a.reset();
  const r = failures(store);
  assert.equal(r.resetAtMs, clock.now);
  assert.equal(r.failures.length, 1, "kept for kreboot status");
  clock.now += 1_000;
  assert.match(
    await a.record({ kind: "not-ready", why: "again" }) ?? "",
    /^circuit breaker: 1 failed reboot .*again/,
  );
  assert.equal(
    pausedBy(store),
    "circuit-breaker",
    "counting afresh after the reset",
  );
});

Deno.test("breaker Lease: off (--max-failed-reboots=0) writes nothing; reset without a Lease does nothing", async () => {
  const store = new FakeLeaseStore();
  const clock = { now: 0 };
  const off = breaker(store, "node-a", clock, 0);
  assert.equal(await off.record({ kind: "health-timeout", why: "x" }), undefined);
  await off.reset();
  assert.equal(store.leases.size, 0);
  assert.equal(store.calls.createLease ?? 0, 0);
});

Deno.test("breaker Lease: closed() resolves once the breaker's pause is lifted", async () => {
  const store = new FakeLeaseStore();
  const clock = { now: Date.parse("2026-03-01T10:00:00Z") };
  const a = breaker(store, "node-a", clock, 1);
  await a.record({ kind: "health-timeout", why: "x" });
  let closed = false;
  const ac = new AbortController();
  const watching = a.closed(ac.signal, 10).then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(closed, false);
  await store.deleteLease("kured-pause");
  await watching;
  assert.equal(closed, true);
});
