/**
 * A waiting node's watches against the real API server (issue 13, defect 4): when the holder changes, the
 * waiter drops its watch on the old holder's Node and opens one on the new holder's, and logs no failure for
 * the watch it ended itself.
 */
import assert from "node:assert/strict";
import { loadKubeConfig, makeKube } from "../../lib/kube/mod.ts";
import { RebootLock } from "../../lib/lock/mod.ts";
import { Logger } from "../../lib/log.ts";
import { startCluster } from "../harness/mod.ts";
import { installKreboot } from "./support.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("lock watch e2e: a waiter follows three changes of holder and logs no watch failure", async () => {
  await using cluster = await startCluster();
  const install = await installKreboot(cluster, "handover");
  const kube = makeKube(loadKubeConfig(install.kubeconfig), false);
  const lines: string[] = [];
  const lockOf = (node: string, sink?: (l: string) => void) =>
    new RebootLock(kube, {
      namespace: install.namespace,
      dsName: "handover",
      lockAnnotation: "weave.works/kured-node-lock",
      concurrency: { kind: "count", n: 1 },
      ttlMs: 0,
      node,
      log: new Logger({ format: "json", node, sink: sink ?? (() => {}) }),
    });
  const holders = ["h1", "h2", "h3"];
  for (const n of [...holders, "w"]) await cluster.createNode(n);
  const first = lockOf("h1");
  assert.ok((await first.tryAcquire({ phase: "draining" })).acquired);
  const waiter = lockOf("w", (l) => lines.push(l));
  assert.equal((await waiter.tryAcquire({ phase: "cordoning" })).acquired, false);
  const ac = new AbortController();
  let acquired = false;
  const waiting = (async () => {
    while (!ac.signal.aborted) {
      await waiter.waitForChance(ac.signal, 60_000);
      if (ac.signal.aborted) return;
      if ((await waiter.tryAcquire({ phase: "cordoning" })).acquired) {
        acquired = true;
        return;
      }
    }
  })();
  // Each holder hands over straight to the next, as a faster node would take the slot.
  let current = first;
  for (const next of holders.slice(1)) {
    await sleep(1_000);
    await current.release();
    current = lockOf(next);
    const r = await current.tryAcquire({ phase: "draining" });
    if (!r.acquired) break; // the waiter was faster: fine, it has seen a change of holder all the same
  }
  await sleep(1_000);
  if (!acquired) await current.release();
  const deadline = Date.now() + 10_000;
  while (!acquired && Date.now() < deadline) await sleep(100);
  ac.abort();
  await waiting;
  waiter.stopWatching();
  assert.ok(acquired, "the waiter got the slot in the end");
  await waiter.release();
  const failures = lines.filter((l) => /watch ended/.test(l));
  assert.deepEqual(failures, [], "a watch the waiter ended itself is no failure");
});
