/**
 * The reboot lock against the real kube-apiserver, as the daemon's ServiceAccount with the generated RBAC.
 */
import assert from "node:assert/strict";
import { type Kube, loadKubeConfig, makeKube } from "../../lib/kube/mod.ts";
import { MERGE_PATCH } from "../harness/full_kube.ts";
import { RebootLock } from "../../lib/lock/mod.ts";
import { KubeLeaseStore } from "../../lib/lock/kube_store.ts";
import { decodeSlot, LOCK_LABEL, microTimeString } from "../../lib/lock/slots.ts";
import type { Concurrency } from "../../lib/lock/slots.ts";
import { Logger } from "../../lib/log.ts";
import { sleep } from "../../lib/sleep.ts";
import { clusterRules, namespaceRules } from "../../lib/rbac.ts";
import { type ControlPlane, startControlPlane } from "../harness/controlplane.ts";
import { createNode, deleteNode } from "../harness/nodes.ts";
import { applyObjects, serviceAccountKubeconfig } from "../harness/rbac.ts";

const NS = "kube-system";
const quiet = (node: string) => new Logger({ format: "json", node, sink: () => {} });

/** A ServiceAccount with exactly the daemon's generated RBAC, and a Kube for it. */
async function daemonKube(cp: ControlPlane, dsName: string): Promise<Kube> {
  const name = `${dsName}-sa`;
  await applyObjects(cp.kube, [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name },
      rules: clusterRules(),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: [{ kind: "ServiceAccount", name, namespace: NS }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace: NS },
      rules: namespaceRules(dsName),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace: NS },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace: NS }],
    },
  ]);
  const path = await serviceAccountKubeconfig(
    cp.kube,
    { dir: cp.dir, server: cp.url, caPem: cp.caPem },
    NS,
    name,
  );
  return makeKube(loadKubeConfig(path), false);
}

function lockFor(kube: Kube, dsName: string, node: string, concurrency: Concurrency, ttlMs = 0): RebootLock {
  return new RebootLock(kube, {
    namespace: NS,
    dsName,
    lockAnnotation: "weave.works/kured-node-lock",
    concurrency,
    ttlMs,
    node,
    log: quiet(node),
  });
}

/** Records every change of the slot Leases and the most holders ever seen at once. */
async function watchHolders(kube: Kube, dsName: string) {
  const holders = new Map<string, string>();
  let max = 0;
  const events: { at: number; slot: string; holder: string }[] = [];
  const ctl = await kube.watch.watch(
    `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`,
    { labelSelector: `${LOCK_LABEL}=${dsName}` },
    (type, obj) => {
      const rec = decodeSlot(obj);
      if (type === "DELETED") holders.delete(rec.name);
      else holders.set(rec.name, rec.holder);
      const distinct = new Set([...holders.values()].filter((h) => h !== ""));
      max = Math.max(max, distinct.size);
      events.push({ at: performance.now(), slot: rec.name, holder: rec.holder });
    },
    () => {},
  );
  return {
    get max() {
      return max;
    },
    events,
    stop: () => ctl.abort(),
  };
}

/** Node objects for lock holders: a holder whose Node does not exist loses its slot at once. */
async function ensureNodes(cp: ControlPlane, names: string[]): Promise<void> {
  for (const name of names) {
    try {
      await createNode(cp.kube, name);
    } catch (e) {
      if (!String(e).includes("409")) throw e;
    }
  }
}

/** One contender: waits for a slot, holds it briefly, gives it back. */
async function contend(
  lock: RebootLock,
  holding: { now: number; max: number },
  holdMs: number,
  signal: AbortSignal,
): Promise<number> {
  let acquiredAt = 0;
  while (!signal.aborted) {
    const r = await lock.tryAcquire({ phase: "cordoning", bootId: "b", wasUnschedulable: false });
    if (r.acquired) {
      acquiredAt = performance.now();
      holding.now++;
      holding.max = Math.max(holding.max, holding.now);
      break;
    }
    await lock.waitForChance(signal, 30_000);
  }
  lock.stopWatching();
  await sleep(holdMs);
  holding.now--;
  await lock.release();
  return acquiredAt;
}

Deno.test("lock e2e", async (t) => {
  await using cp = await startControlPlane();

  for (const n of [1, 3]) {
    await t.step(
      `10 contenders race for ${n} slot(s), twice: never more than ${n} holders, all get one`,
      async () => {
        const ds = `race${n}`;
        const kube = await daemonKube(cp, ds);
        await ensureNodes(cp, [...Array(10).keys()].map((i) => `race-${i}`));
        for (let round = 0; round < 2; round++) {
          const watcher = await watchHolders(kube, ds);
          const holding = { now: 0, max: 0 };
          const signal = AbortSignal.timeout(120_000);
          const got = await Promise.all(
            [...Array(10).keys()].map((i) =>
              contend(lockFor(kube, ds, `race-${i}`, { kind: "count", n }), holding, 150, signal)
            ),
          );
          await sleep(300);
          watcher.stop();
          assert.ok(got.every((t) => t > 0), "every contender got a slot");
          assert.ok(holding.max <= n, `at most ${n} held at once in-process, saw ${holding.max}`);
          assert.ok(watcher.max <= n, `at most ${n} distinct holders on the server, saw ${watcher.max}`);
          assert.ok(watcher.max >= 1);
        }
      },
    );
  }

  await t.step("a holder whose Node is deleted loses the slot to a waiter within 5 s", async () => {
    const ds = "gone";
    const kube = await daemonKube(cp, ds);
    await createNode(cp.kube, "gone-holder");
    await createNode(cp.kube, "gone-waiter");
    const holder = lockFor(kube, ds, "gone-holder", { kind: "count", n: 1 });
    assert.equal((await holder.tryAcquire({ phase: "draining" })).acquired, true);
    const waiter = lockFor(kube, ds, "gone-waiter", { kind: "count", n: 1 });
    const first = await waiter.tryAcquire({ phase: "cordoning" });
    assert.equal(first.acquired, false);
    const ac = new AbortController();
    const waiting = (async () => {
      while (!ac.signal.aborted) {
        await waiter.waitForChance(ac.signal, 60_000);
        if ((await waiter.tryAcquire({ phase: "cordoning" })).acquired) return performance.now();
      }
      return Infinity;
    })();
    await sleep(500);
    const deletedAt = performance.now();
    await deleteNode(cp.kube, "gone-holder");
    const timer = setTimeout(() => ac.abort(), 10_000);
    const acquiredAt = await waiting;
    clearTimeout(timer);
    waiter.stopWatching();
    assert.ok(acquiredAt - deletedAt < 5_000, `took ${Math.round(acquiredAt - deletedAt)} ms`);
    await waiter.release();
  });

  await t.step("TTL: a silent holder loses the slot after the TTL; a renewing one never does", async () => {
    const ds = "ttl";
    const kube = await daemonKube(cp, ds);
    await createNode(cp.kube, "ttl-a");
    await createNode(cp.kube, "ttl-b");
    const ttlMs = 3_000;
    const a = lockFor(kube, ds, "ttl-a", { kind: "count", n: 1 }, ttlMs);
    const b = lockFor(kube, ds, "ttl-b", { kind: "count", n: 1 }, ttlMs);
    assert.equal((await a.tryAcquire({ phase: "draining" })).acquired, true);
    // a renews every second for 5 s: b, observing all along, must never take it.
    const t0 = performance.now();
    let lastRenew = t0;
    while (performance.now() - t0 < 5_000) {
      await a.renew();
      lastRenew = performance.now();
      assert.equal((await b.tryAcquire({ phase: "cordoning" })).acquired, false, "stole a renewed slot");
      await sleep(1_000);
    }
    // a falls silent: b may take it once it has seen no change for the TTL, not before.
    const silentAt = lastRenew;
    let taken = 0;
    while (performance.now() - silentAt < 10_000) {
      if ((await b.tryAcquire({ phase: "cordoning" })).acquired) {
        taken = performance.now();
        break;
      }
      await sleep(250);
    }
    assert.ok(taken > 0, "silent holder never lost the slot");
    assert.ok(taken - silentAt >= ttlMs - 300, `taken after ${Math.round(taken - silentAt)} ms < TTL`);
    await b.release();
  });

  await t.step("TTL: skewed renewTime (far past or future) does not cause a steal", async () => {
    const ds = "skew";
    const kube = await daemonKube(cp, ds);
    await createNode(cp.kube, "skew-a");
    const a = lockFor(kube, ds, "skew-a", { kind: "count", n: 1 }, 4_000);
    assert.equal((await a.tryAcquire({ phase: "draining" })).acquired, true);
    const b = lockFor(kube, ds, "skew-b", { kind: "count", n: 1 }, 4_000);
    for (const when of ["2001-01-01T00:00:00Z", "2099-01-01T00:00:00Z"]) {
      // The holder, with a wild clock, renews: the record changes, so observers restart their count.
      const lease = await cp.kube.coord.readNamespacedLease({ name: `${ds}-slot-0`, namespace: NS });
      await cp.kube.coord.patchNamespacedLease({
        name: `${ds}-slot-0`,
        namespace: NS,
        body: {
          metadata: { resourceVersion: lease.metadata?.resourceVersion },
          spec: { renewTime: microTimeString(new Date(when)) },
        },
      }, MERGE_PATCH);
      assert.equal(
        (await b.tryAcquire({ phase: "cordoning" })).acquired,
        false,
        `stole at renewTime ${when}`,
      );
      await sleep(1_000);
      assert.equal(
        (await b.tryAcquire({ phase: "cordoning" })).acquired,
        false,
        `stole at renewTime ${when}`,
      );
    }
    await a.release();
  });

  await t.step("release delay recorded on the Lease survives a daemon restart", async () => {
    const ds = "delay";
    const kube = await daemonKube(cp, ds);
    await createNode(cp.kube, "delay-a");
    const a = lockFor(kube, ds, "delay-a", { kind: "count", n: 1 });
    assert.equal((await a.tryAcquire({ phase: "cordoning", bootId: "boot-1" })).acquired, true);
    const until = new Date(Date.now() + 60_000);
    await a.update({ phase: "release-delay", releaseAfter: until });
    // A new process: nothing in memory.
    const restarted = lockFor(kube, ds, "delay-a", { kind: "count", n: 1 });
    const mine = await restarted.mine();
    assert.equal(mine?.phase, "release-delay");
    assert.equal(mine?.releaseAfter?.toISOString(), until.toISOString());
    assert.equal(mine?.bootId, "boot-1");
    await restarted.release();
    assert.equal(await restarted.mine(), undefined);
  });

  await t.step("wake-up latency from release to the next holder's acquire: median under 2 s", async () => {
    const ds = "wake";
    const kube = await daemonKube(cp, ds);
    const latencies: number[] = [];
    await ensureNodes(cp, [...Array(5).keys()].map((i) => `wake-h${i}`));
    for (let i = 0; i < 5; i++) {
      const holder = lockFor(kube, ds, `wake-h${i}`, { kind: "count", n: 1 });
      assert.equal((await holder.tryAcquire({ phase: "draining" })).acquired, true);
      const waiter = lockFor(kube, ds, `wake-w${i}`, { kind: "count", n: 1 });
      assert.equal((await waiter.tryAcquire({ phase: "cordoning" })).acquired, false);
      const ac = new AbortController();
      const acquired = (async () => {
        while (!ac.signal.aborted) {
          await waiter.waitForChance(ac.signal, 30_000);
          if ((await waiter.tryAcquire({ phase: "cordoning" })).acquired) return performance.now();
        }
        return Infinity;
      })();
      await sleep(300);
      const releasedAt = performance.now();
      await holder.release();
      const at = await acquired;
      waiter.stopWatching();
      latencies.push(at - releasedAt);
      await waiter.release();
    }
    latencies.sort((a, b) => a - b);
    const median = latencies[2] ?? Infinity;
    console.log(`wake-up latency ms: ${latencies.map(Math.round).join(", ")} (median ${Math.round(median)})`);
    assert.ok(median < 2_000, `median ${median} ms`);
  });

  await t.step(
    "pause blocks new holders and lets the current one finish; kured's annotation pauses too",
    async () => {
      const ds = "pause";
      const kube = await daemonKube(cp, ds);
      await ensureNodes(cp, ["pause-a"]);
      const current = lockFor(kube, ds, "pause-a", { kind: "count", n: 2 });
      assert.equal((await current.tryAcquire({ phase: "draining" })).acquired, true);
      const admin = lockFor(makeKube(loadKubeConfig(cp.adminKubeconfig), false), ds, "admin", {
        kind: "count",
        n: 2,
      });
      await admin.pause("ops@laptop", "change freeze");
      const other = lockFor(kube, ds, "pause-b", { kind: "count", n: 2 });
      const r = await other.tryAcquire({ phase: "cordoning" });
      assert.equal(r.acquired, false);
      assert.ok(!r.acquired && r.reason === "paused" && /change freeze/.test(r.message));
      // The current holder still updates and releases its slot.
      await current.update({ phase: "rebooting" });
      await current.release();
      await admin.resume();
      // The refused node waits on its watches, as the daemon does: the lifted pause wakes it.
      assert.equal(await other.waitForChance(AbortSignal.timeout(10_000), 10_000), "changed");
      assert.equal((await other.tryAcquire({ phase: "cordoning" })).acquired, true);
      await other.release();

      // kured's runbook: annotate the DaemonSet by hand.
      await cp.kube.apps.createNamespacedDaemonSet({
        namespace: NS,
        body: {
          metadata: { name: ds, annotations: { "weave.works/kured-node-lock": '{"nodeID":"manual"}' } },
          spec: {
            selector: { matchLabels: { app: ds } },
            template: {
              metadata: { labels: { app: ds } },
              spec: { containers: [{ name: "c", image: "x" }] },
            },
          },
        },
      });
      const r2 = await other.tryAcquire({ phase: "cordoning" });
      assert.ok(!r2.acquired && r2.reason === "paused" && /manual/.test(r2.message), JSON.stringify(r2));
      await cp.kube.apps.patchNamespacedDaemonSet({
        name: ds,
        namespace: NS,
        body: { metadata: { annotations: { "weave.works/kured-node-lock": null } } },
      }, MERGE_PATCH);
      assert.equal(await other.waitForChance(AbortSignal.timeout(10_000), 10_000), "changed");
      assert.equal((await other.tryAcquire({ phase: "cordoning" })).acquired, true);
      await other.release();
    },
  );

  await t.step("--concurrency as a percentage of the nodes, rounded down: 2 slots", async () => {
    const ds = "pct";
    const kube = await daemonKube(cp, ds);
    const names = ["pct-0", "pct-1", "pct-2"];
    await ensureNodes(cp, names);
    const total = (await cp.kube.core.listNode({})).items.length;
    // The smallest whole percentage that gives 2 slots for this many nodes (e.g. 10% of 21 = 2.1 -> 2).
    const percent = Math.ceil(200 / total);
    assert.equal(Math.floor((total * percent) / 100), 2);
    const locks = names.map((n) => lockFor(kube, ds, n, { kind: "percent", percent }));
    const got = [];
    for (const l of locks) got.push((await l.tryAcquire({ phase: "cordoning" })).acquired);
    assert.deepEqual(got, [true, true, false], `${percent}% of ${total} nodes`);
    for (const l of locks) await l.release();
  });

  await t.step("dry run: acquire and release are validated by the server but not persisted", async () => {
    const ds = "dry";
    const kube = await daemonKube(cp, ds);
    const dry = new RebootLock({ ...kube, dryRun: true }, {
      namespace: NS,
      dsName: ds,
      lockAnnotation: "weave.works/kured-node-lock",
      concurrency: { kind: "count", n: 1 },
      ttlMs: 0,
      node: "dry-a",
      log: quiet("dry-a"),
    });
    assert.equal((await dry.tryAcquire({ phase: "cordoning" })).acquired, true);
    const list = await cp.kube.coord.listNamespacedLease({
      namespace: NS,
      labelSelector: `${LOCK_LABEL}=${ds}`,
    });
    assert.equal(list.items.length, 0, "a dry-run acquisition must not create a Lease");
    await dry.release();
  });

  await t.step("garbage in a slot Lease is repaired, not trusted", async () => {
    const ds = "junk";
    const kube = await daemonKube(cp, ds);
    await cp.kube.coord.createNamespacedLease({
      namespace: NS,
      body: {
        metadata: {
          name: `${ds}-slot-0`,
          labels: { [LOCK_LABEL]: ds },
          annotations: { "kreboot.dev/was-unschedulable": "perhaps", "kreboot.dev/release-after": "never" },
        },
        spec: { holderIdentity: "NOT A NODE ☃" },
      },
    });
    const a = lockFor(kube, ds, "junk-a", { kind: "count", n: 1 });
    const r = await a.tryAcquire({ phase: "cordoning", bootId: "b1", wasUnschedulable: false });
    assert.equal(r.acquired, true);
    const lease = await cp.kube.coord.readNamespacedLease({ name: `${ds}-slot-0`, namespace: NS });
    const rec = decodeSlot(lease);
    assert.equal(rec.holder, "junk-a");
    assert.equal(rec.wasUnschedulable, false);
    assert.equal(rec.releaseAfter, undefined);
    assert.deepEqual(rec.problems, []);
    await a.release();
  });

  await t.step(
    "a watch asked for its initial state streams it as the daemon's ServiceAccount, then says so",
    async () => {
      const ds = "initial";
      const kube = await daemonKube(cp, ds);
      const a = lockFor(kube, ds, "init-a", { kind: "count", n: 1 });
      assert.equal(
        (await a.tryAcquire({ phase: "cordoning", bootId: "b1", wasUnschedulable: false })).acquired,
        true,
      );
      const store = new KubeLeaseStore(kube, { namespace: NS, dsName: ds });
      const initial = (kind: "leases" | "daemonset") =>
        new Promise<{ items: unknown[]; rv: string }>((resolve, reject) => {
          const items: unknown[] = [];
          const h = store.watch({ kind, initial: true }, {
            open() {},
            event: (type, obj) => type === "ADDED" && items.push(obj),
            synced(rv) {
              h.stop();
              resolve({ items, rv });
            },
            end: (err) => reject(err ?? new Error(`the ${kind} watch ended before its initial state`)),
          });
        });
      const leases = await initial("leases");
      assert.deepEqual(leases.items.map((l) => decodeSlot(l).holder), ["init-a"]);
      assert.match(leases.rv, /^\d+$/);
      // No DaemonSet of that name: the initial state is empty, and still ends.
      assert.deepEqual((await initial("daemonset")).items, []);
      await a.release();
    },
  );
});
