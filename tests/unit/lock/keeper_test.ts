/**
 * The slot keeper (lib/lock/keeper.ts) with the real lock on the in-memory Lease store: what it writes and
 * reads in each phase, how it comes back after an outage, and how it reports a lost slot.
 */
import assert from "node:assert/strict";
import { type KeeperOptions, SlotKeeper } from "../../../lib/lock/keeper.ts";
import { RebootLock } from "../../../lib/lock/mod.ts";
import { SLOT_ANNOTATIONS, slotName } from "../../../lib/lock/slots.ts";
import { Logger } from "../../../lib/log.ts";
import { FakeLeaseStore } from "./fake_store.ts";

const SLOT0 = slotName("kured", 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until `cond` holds (at most 5 s): a loaded machine runs timers late, never early. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond() && Date.now() < deadline) await sleep(10);
}

async function holding(o: Partial<KeeperOptions> & { dryRun?: boolean; bootId?: string } = {}) {
  const store = new FakeLeaseStore({ nodes: ["a", "b"], dryRun: o.dryRun ?? false });
  const lines: string[] = [];
  const log = new Logger({ format: "json", node: "a", sink: (l) => lines.push(l) });
  const lock = new RebootLock(store, {
    namespace: "kube-system",
    dsName: "kured",
    lockAnnotation: "weave.works/kured-node-lock",
    concurrency: { kind: "count", n: 1 },
    ttlMs: o.ttlMs ?? 0,
    node: "a",
    log,
  });
  const state = o.bootId === undefined ? { phase: "cordoning" } : { phase: "cordoning", bootId: o.bootId };
  assert.ok((await lock.tryAcquire(state)).acquired);
  const { bootId: _, ...keeperOptions } = o;
  const keeper = new SlotKeeper(lock, {
    ttlMs: 0,
    dryRun: false,
    log,
    guardMs: 40,
    retryMs: 50,
    ...keeperOptions,
  });
  const messages = () => lines.map((l) => JSON.parse(l).msg as string);
  return { store, lock, keeper, messages };
}

Deno.test("keeper: renews every third of the TTL while holding, and stops when the node holds no slot", async () => {
  const { store, keeper } = await holding({ ttlMs: 300 });
  await keeper.track("recovering");
  const written = store.calls.patchLease ?? 0;
  const t0 = Date.now();
  await until(() => (store.calls.patchLease ?? 0) - written >= 3);
  const renewals = (store.calls.patchLease ?? 0) - written;
  const ms = Date.now() - t0;
  // One per 100 ms: never faster (a late timer only makes them fewer).
  assert.ok(renewals >= 3 && renewals <= Math.floor(ms / 100) + 1, `${renewals} renewals in ${ms} ms`);
  await keeper.track("idle");
  const after = store.calls.patchLease ?? 0;
  await sleep(250);
  assert.equal(store.calls.patchLease ?? 0, after, "no renewal when not holding");
  keeper.stop();
});

Deno.test("keeper: no TTL, or a dry run: no renewals; only the guarded phases are checked", async () => {
  for (const o of [{ ttlMs: 0 }, { ttlMs: 300, dryRun: true }]) {
    const { store, keeper } = await holding(o);
    await keeper.track("recovering");
    await keeper.track("uncordoning");
    const before = { ...store.calls };
    await sleep(250);
    assert.deepEqual(store.calls, before, `no request outside the guarded phases (${JSON.stringify(o)})`);
    keeper.stop();
  }
  const { store, keeper } = await holding({ ttlMs: 0 });
  const lists = store.calls.listLeases ?? 0;
  await keeper.track("draining");
  await until(() => (store.calls.listLeases ?? 0) - lists >= 2);
  assert.ok((store.calls.listLeases ?? 0) - lists >= 2, "the guard reads the slot Leases in draining");
  assert.equal(keeper.lost, undefined);
  keeper.stop();
});

Deno.test("keeper: records only the phases a restart must tell apart, each once, before the loop acts", async () => {
  for (const bootId of [undefined, "boot-1"]) {
    const { store, keeper } = await holding(bootId === undefined ? {} : { bootId });
    const patches = () => store.calls.patchLease ?? 0;
    const annotations = () =>
      (store.leases.get(SLOT0)?.metadata as { annotations: Record<string, string> }).annotations;
    await keeper.track("cordoning");
    assert.equal(patches(), 0, "the acquisition wrote cordoning already");
    assert.equal(annotations()[SLOT_ANNOTATIONS.phase], "cordoning");
    await keeper.track("draining");
    await keeper.track("draining");
    await keeper.track("reboot-delay");
    assert.equal(patches(), 0, "draining and reboot-delay: the cordon's annotation says it (not written)");
    await keeper.track("rebooting");
    await keeper.track("rebooting");
    if (bootId === undefined) {
      assert.equal(patches(), 1, "without a boot ID, rebooting is what a restart counts as the reboot");
      assert.equal(annotations()[SLOT_ANNOTATIONS.phase], "rebooting");
    } else {
      assert.equal(patches(), 0, "with a boot ID, a changed one says the node rebooted");
      assert.equal(annotations()[SLOT_ANNOTATIONS.phase], "cordoning");
    }
    // After the reboot (a new process would track these): told apart by the boot ID, not written.
    const before = patches();
    for (const p of ["recovering", "uncordoning", "release-delay", "releasing"] as const) {
      await keeper.track(p);
    }
    assert.equal(patches(), before);
    keeper.stop();
  }
});

Deno.test("keeper: a retreat is recorded before it starts", async () => {
  const { store, keeper } = await holding();
  await keeper.track("draining");
  await keeper.track("retreating");
  assert.equal(store.calls.patchLease, 1);
  const meta = store.leases.get(SLOT0)?.metadata as { annotations: Record<string, string> };
  assert.equal(meta.annotations[SLOT_ANNOTATIONS.phase], "retreating");
  keeper.stop();
});

Deno.test("keeper: with a TTL, a phase not recorded on entry rides along with the next renewal", async () => {
  const { store, keeper } = await holding({ ttlMs: 300 });
  const phase = () =>
    (store.leases.get(SLOT0)?.metadata as { annotations: Record<string, string> }).annotations[
      SLOT_ANNOTATIONS.phase
    ];
  await keeper.track("recovering");
  assert.equal(store.calls.patchLease ?? 0, 0, "not written on entry");
  await until(() => (store.calls.patchLease ?? 0) >= 1);
  assert.equal(phase(), "recovering", "the renewal wrote it");
  const afterFirst = store.calls.patchLease ?? 0;
  await until(() => (store.calls.patchLease ?? 0) > afterFirst);
  assert.equal(phase(), "recovering");
  assert.ok((store.calls.patchLease ?? 0) <= afterFirst + 2, "one write per renewal, never two");
  keeper.stop();
});

Deno.test("keeper: renewals resume within moments of the API server's return; the outage is logged once", async () => {
  const { store, keeper, messages } = await holding({ ttlMs: 3_000, retryMs: 50 });
  await keeper.track("recovering");
  const recorded = store.calls.patchLease ?? 0;
  store.setDown(true);
  // A renewal is due after ttl/3 = 1 s; it fails, and is retried every 50 ms.
  await until(() => (store.calls.patchLease ?? 0) - recorded >= 3);
  assert.equal(messages().filter((m) => /could not renew/.test(m)).length, 1, messages().join("\n"));
  const failed = store.calls.patchLease ?? 0;
  store.setDown(false);
  await until(() => messages().includes("renewed the slot again"));
  assert.ok((store.calls.patchLease ?? 0) > failed, "renewed again");
  assert.ok(messages().includes("renewed the slot again"));
  assert.equal(keeper.lost, undefined);
  keeper.stop();
});

Deno.test("keeper: a slot taken in a guarded phase is lost: reported, signalled, cleared when not holding", async () => {
  const { store, keeper, messages } = await holding();
  await keeper.track("draining");
  const signal = keeper.lostSignal;
  store.externalPatch(SLOT0, { spec: { holderIdentity: "b" } });
  await until(() => keeper.lost !== undefined);
  assert.match(keeper.lost ?? "", /deleted or taken by another node/);
  assert.ok(signal.aborted);
  assert.ok(messages().some((m) => /^the slot is gone .*; stopping and undoing the cordon$/.test(m)));
  const reads = store.calls.listLeases;
  await sleep(100);
  assert.equal(store.calls.listLeases, reads, "no more checks once lost");
  // The loop retreats (a holding phase, not guarded), then gives the slot back and goes idle.
  await keeper.track("retreating");
  assert.ok(keeper.lost);
  await keeper.track("idle");
  assert.equal(keeper.lost, undefined);
  assert.equal(keeper.lostSignal.aborted, false, "a fresh signal for the next slot");
  keeper.stop();
});

Deno.test("keeper: an outage during the guard is no loss", async () => {
  const { store, keeper } = await holding();
  await keeper.track("cordoning");
  store.setDown(true);
  await sleep(150);
  assert.equal(keeper.lost, undefined, "cannot tell is not lost");
  store.setDown(false);
  await sleep(100);
  assert.equal(keeper.lost, undefined);
  keeper.stop();
});

Deno.test("keeper: with a TTL, a daemon that restarts holding its slot renews it at once", async () => {
  for (const ttlMs of [0, 3_000]) {
    const { store, keeper } = await holding({ ttlMs });
    await keeper.track("startup");
    await keeper.track("recovering");
    assert.equal(store.calls.patchLease ?? 0, ttlMs > 0 ? 1 : 0, `ttl ${ttlMs}`);
    keeper.stop();
  }
});
