/**
 * The slot keeper against real API server outages (issue 13, defect 1), with real daemon processes and the
 * safety monitor: a holder that keeps its slot in a holding phase (rebooted, its Node still NotReady, so it
 * stays in recovering) while kube-apiserver is stopped, once for less and once for more than `--lock-ttl`.
 * Its renewals fail during each outage (its loop, reading its Node from its watch, need not notice); they must
 * resume within seconds of the API server's return, and the waiting node must never take the slot while the holder is alive: it counts
 * neither the holder's lost renewals nor its own blindness as the holder's silence.
 */
import assert from "node:assert/strict";
import { loadKubeConfig, makeKube } from "../../lib/kube/mod.ts";
import { RebootLock } from "../../lib/lock/mod.ts";
import { decodeSlot, slotName } from "../../lib/lock/slots.ts";
import { Logger } from "../../lib/log.ts";
import { retrying } from "../harness/daemon.ts";
import { startCluster } from "../harness/mod.ts";
import { SafetyMonitor } from "../harness/monitor.ts";
import { eventually, installKreboot, schedulable, slotsFree } from "./support.ts";

const TTL_S = 15;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("slot keeper e2e: a holder keeps its slot through API server outages", async (t) => {
  await using cluster = await startCluster();
  const ds = "keeper";
  const install = await installKreboot(cluster, ds);
  const [holder, waiter] = ["keeper-a", "keeper-b"];
  await cluster.createNode(holder);
  await cluster.createNode(waiter);
  const monitor = await SafetyMonitor.start(cluster.kube, {
    dsName: ds,
    namespace: install.namespace,
    concurrency: 1,
    nodeFilter: (n) => n.startsWith("keeper-"),
  });
  const args = [...install.args, "--period=1h", "--concurrency=1", `--lock-ttl=${TTL_S}s`];
  // The holder's node comes back from its reboot NotReady and stays so until the last step.
  let holdNotReady = true;
  const a = await cluster.startDaemon(holder, {
    kubeconfig: install.kubeconfig,
    args,
    rebootRequired: true,
    rebootHooks: {
      before: monitor.rebootHooks.before ?? (() => {}),
      after: async (d) => {
        if (holdNotReady) await retrying(() => cluster.setNodeReady(d.node, false));
        await monitor.rebootHooks.after?.(d);
      },
    },
  });
  monitor.attach(a);
  await a.waitForReboots(1, 60_000);
  // (The process that ran before the reboot was killed before the count went up: what follows is the new one.)
  await a.waitForJson((e) => e.phase === "recovering", 30_000, { since: a.lines.length });
  const b = await cluster.startDaemon(waiter, {
    kubeconfig: install.kubeconfig,
    args,
    rebootRequired: true,
    rebootHooks: monitor.rebootHooks,
  });
  monitor.attach(b);
  await b.waitForJson((e) => e.phase === "waiting", 30_000);

  const slot = async () =>
    decodeSlot(
      await cluster.kube.coord.readNamespacedLease({ name: slotName(ds, 0), namespace: install.namespace }),
    );

  for (const downS of [8, 25]) {
    await t.step(
      `kube-apiserver down ${downS} s (${downS < TTL_S ? "less" : "more"} than --lock-ttl=${TTL_S}s): ` +
        `renewals resume within seconds, the waiter never takes the slot`,
      async () => {
        const since = a.lines.length;
        await cluster.restartApiserver({ downMs: downS * 1_000 });
        const back = Date.now();
        // The holder felt the outage: its renewals failed while the API server was down.
        assert.ok(
          a.lines.slice(since).some((l) => /could not renew the slot; retrying/.test(l.text)),
          "no renewal of the holder failed: the outage did not reach it",
        );
        const renewed = await eventually("a renewal after the outage", 10_000, async () => {
          const s = await slot();
          assert.equal(s.holder, holder);
          return s.renewTime && s.renewTime.getTime() > back - 3_000 ? s.renewTime.getTime() : undefined;
        });
        assert.ok(renewed - back < 6_000, `first renewal ${renewed - back} ms after the API server's return`);
        // More than a TTL after the return: the slot stays with the holder, the waiter waits.
        const until = Date.now() + (TTL_S + 5) * 1_000;
        while (Date.now() < until) {
          const s = await retrying(slot);
          assert.equal(s.holder, holder, `the waiter took the slot ${Date.now() - back} ms after the return`);
          assert.ok(await retrying(() => schedulable(cluster, waiter)), "the waiter cordoned itself");
          await sleep(1_000);
        }
        assert.deepEqual(monitor.violations, [], monitor.describe());
      },
    );
  }

  await t.step(
    "a waiter that polls through an outage longer than the TTL does not take the slot of a holder that " +
      "renews a few seconds after the return",
    async () => {
      // Two locks in this process, on the daemon's ServiceAccount: the waiter looks every 250 ms, so it reads
      // the slot right as the API server returns, before the holder's first renewal.
      const blind = await installKreboot(cluster, "blind");
      const kube = makeKube(loadKubeConfig(blind.kubeconfig), false);
      const ttlMs = 8_000;
      const lockOf = (node: string) =>
        new RebootLock(kube, {
          namespace: blind.namespace,
          dsName: "blind",
          lockAnnotation: "weave.works/kured-node-lock",
          concurrency: { kind: "count", n: 1 },
          ttlMs,
          node,
          log: new Logger({ format: "json", node, sink: () => {} }),
        });
      for (const n of ["blind-a", "blind-b"]) await cluster.createNode(n);
      const [h, w] = [lockOf("blind-a"), lockOf("blind-b")];
      assert.ok((await h.tryAcquire({ phase: "recovering" })).acquired);
      assert.equal((await w.tryAcquire({ phase: "cordoning" })).acquired, false);
      let stolenAt: number | undefined;
      let polling = true;
      const poll = (async () => {
        while (polling && stolenAt === undefined) {
          const r = await w.tryAcquire({ phase: "cordoning" }).catch(() => undefined);
          if (r?.acquired) stolenAt = Date.now();
          await sleep(250);
        }
      })();
      await cluster.restartApiserver({ downMs: ttlMs + 4_000 });
      const back = Date.now();
      await sleep(3_000);
      const renewal = await retrying(() => h.renew()).then(() => "renewed", (e) => String(e));
      await sleep(ttlMs - 1_000);
      polling = false;
      await poll;
      assert.equal(
        stolenAt,
        undefined,
        `the waiter took the slot ${(stolenAt ?? 0) - back} ms after the return`,
      );
      assert.equal(renewal, "renewed");
      await h.release();
    },
  );

  await t.step("the holder recovers and gives the slot back; the waiter reboots next", async () => {
    holdNotReady = false;
    await retrying(() => cluster.setNodeReady(holder, true));
    await b.waitForReboots(1, 120_000);
    for (const n of [holder, waiter]) {
      await eventually(`${n} schedulable`, 60_000, async () => (await schedulable(cluster, n)) || undefined);
    }
    await eventually("slots free", 60_000, async () => (await slotsFree(cluster, ds)) || undefined);
    assert.equal(a.reboots, 1);
    assert.equal(b.reboots, 1);
    await monitor.stop();
    assert.deepEqual(monitor.violations, [], monitor.describe());
    assert.equal(monitor.maxDisrupted, 1);
    assert.equal(monitor.maxHolders, 1);
    await a.stop();
    await b.stop();
  });
});
