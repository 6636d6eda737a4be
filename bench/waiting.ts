/**
 * Issue 9.3, waiting API load: N daemons that need a reboot wait for the one slot, held by a node that stays
 * busy (an in-process lock client holds it as "draining" and never lets go). Counted at the apiserver (audit
 * log, the daemons' ServiceAccount only) over a window while they wait: watch requests vs everything else.
 * `--period=1m`, as in the makespan benchmark: a waiter re-checks its gates once per period, which shows up
 * here as a few requests per node per minute (per hour with the default period).
 */
import { RebootLock } from "../lib/lock/mod.ts";
import { loadKubeConfig, makeKube } from "../lib/kube/mod.ts";
import { startCluster } from "../tests/harness/mod.ts";
import { installKreboot } from "../tests/e2e/support.ts";
import {
  auditRequests,
  type BenchOptions,
  type BenchResult,
  bounded,
  breakdown,
  loadAverage,
  quietLog,
  type Row,
  row,
  sec,
  serviceAccountUser,
  sleep,
} from "./common.ts";

const BENCH = "waiting API";

export async function waiting(o: BenchOptions): Promise<BenchResult> {
  const n = o.quick ? 5 : 20;
  const windowMs = o.quick ? 60_000 : 180_000;
  const rows: Row[] = [];
  const notes: string[] = [];
  await using cluster = await startCluster({ audit: true });
  const install = await installKreboot(cluster, "wait");
  const user = serviceAccountUser(install.namespace, install.dsName);

  await cluster.createNode("wait-holder");
  const holder = new RebootLock(makeKube(loadKubeConfig(cluster.cp.adminKubeconfig), false), {
    namespace: install.namespace,
    dsName: install.dsName,
    lockAnnotation: "weave.works/kured-node-lock",
    concurrency: { kind: "count", n: 1 },
    ttlMs: 0,
    node: "wait-holder",
    log: quietLog("wait-holder"),
  });
  const got = await holder.tryAcquire({ phase: "draining", bootId: "bench", wasUnschedulable: false });
  if (!got.acquired) throw new Error(`the holder could not take the slot: ${got.message}`);

  const names = Array.from({ length: n }, (_, i) => `wait-${String(i).padStart(2, "0")}`);
  for (const name of names) await cluster.createNode(name);
  const daemons = await Promise.all(names.map((name) =>
    cluster.startDaemon(name, {
      kubeconfig: install.kubeconfig,
      args: [...install.args, "--period=1m"],
      rebootRequired: true,
    })
  ));
  await Promise.all(daemons.map((d) => d.waitForJson((e) => e.reason === "RebootBlocked", 180_000)));
  await sleep(5_000);
  const loadBefore = loadAverage();
  const from = Date.now();
  o.progress(`${BENCH}: ${n} daemons waiting; counting requests for ${sec(windowMs, 0)}`);
  await sleep(windowMs);
  const to = Date.now();
  const reqs = await auditRequests(cluster.cp.auditLogPath!, user);
  const inWindow = reqs.filter((r) => r.at >= from && r.at < to);
  const watches = inWindow.filter((r) => r.verb === "watch");
  const others = inWindow.filter((r) => r.verb !== "watch");
  const minutes = windowMs / 60_000;
  const watchesOpen = reqs.filter((r) => r.verb === "watch" && r.at < to);
  rows.push(bounded(
    BENCH,
    `${n} waiters, ${sec(windowMs, 0)} window: watch requests opened per node per minute`,
    watches.length / n / minutes,
    0,
    "",
    3,
  ));
  rows.push(row(
    BENCH,
    `${n} waiters: other requests per node per minute (the once-per-period gate re-check, --period=1m)`,
    (others.length / n / minutes).toFixed(2),
    "no polling",
    "info",
  ));
  rows.push(row(
    BENCH,
    `${n} waiters: watches each waiter keeps open`,
    (watchesOpen.length / n).toFixed(1),
    "1",
    watchesOpen.length / n <= 1 ? "met" : "missed",
  ));
  rows.push(row(
    BENCH,
    `${n} waiters: requests per waiter before it waited (start-up, first tries)`,
    (
      reqs.filter((r) => r.at < from).length / n
    ).toFixed(1),
  ));
  notes.push(
    `in the window: ${breakdown(inWindow)}. Watches opened while waiting: ${breakdown(watchesOpen)} ` +
      `(the slot Leases, the DaemonSet for kured's manual lock, the holder's Node).`,
  );
  notes.push(
    `load average ${loadBefore.toFixed(2)} at the start of the window, ${
      loadAverage().toFixed(2)
    } at the end.`,
  );
  await Promise.all(daemons.map((d) => d.stop()));
  return { rows, notes };
}
