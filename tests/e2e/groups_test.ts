/**
 * Groups, the total cap, budgets and the fair queue with real daemon processes on simulated nodes against the
 * real kube-apiserver, each daemon with the generated ServiceAccount and RBAC, refereed by the safety monitor
 * (tests/harness/monitor.ts) per group and in total.
 */
import assert from "node:assert/strict";
import { loadKubeConfig, makeKube } from "../../lib/kube.ts";
import { RebootLock } from "../../lib/lock/mod.ts";
import { Logger } from "../../lib/log.ts";
import { CONDITION_TYPE, decodeCondition } from "../../lib/report/condition.ts";
import { type Daemon, startCluster, type TestCluster } from "../harness/mod.ts";
import { SafetyMonitor } from "../harness/monitor.ts";
import { eventually, type Install, installKreboot, runKreboot, slotsFree } from "./support.ts";

const NS = "kube-system";
const ZONE = "topology.kubernetes.io/zone";

/** Nodes `<prefix>-<zone><i>`, labelled with their zone, each with one ReplicaSet pod. */
async function zonedNodes(cluster: TestCluster, prefix: string, zones: string[], perZone: number) {
  const names: string[] = [];
  for (const zone of zones) {
    for (let i = 1; i <= perZone; i++) {
      const name = `${prefix}-${zone}${i}`;
      await cluster.createNode(name, { labels: { [ZONE]: zone } });
      await cluster.createPod("work", { name: `${name}-web`, node: name, owner: "ReplicaSet" });
      names.push(name);
    }
  }
  return names;
}

async function startDaemons(
  cluster: TestCluster,
  install: Install,
  names: string[],
  args: string[],
  mon: SafetyMonitor,
): Promise<Daemon[]> {
  const daemons = await Promise.all(names.map((name) =>
    cluster.startDaemon(name, {
      kubeconfig: install.kubeconfig,
      args: [...install.args, "--period=1h", ...args],
      rebootDowntimeMs: 1_500,
      rebootHooks: mon.rebootHooks,
    })
  ));
  for (const d of daemons) mon.attach(d);
  await Promise.all(daemons.map((d) => d.waitForLine(/kreboot starting/, 120_000)));
  return daemons;
}

/** Every node reboots once; then every slot is free. */
async function rollOut(cluster: TestCluster, install: Install, daemons: Daemon[], timeoutMs: number) {
  await Promise.all(daemons.map((d) => d.setRebootRequired(true)));
  await Promise.all(daemons.map((d) => d.waitForReboots(1, timeoutMs)));
  await eventually(
    "every slot free",
    60_000,
    async () => (await slotsFree(cluster, install.dsName)) || undefined,
  );
  await Promise.all(daemons.map((d) => d.stop()));
}

/**
 * `perZone` nodes in each of zones a, b, c, `--group-label` and `--concurrency=1` (plus `extra` flags), all
 * needing a reboot at once; the monitor allows `total` disrupted nodes and one per zone, and saw no violation.
 */
async function rollZones(
  cluster: TestCluster,
  dsName: string,
  prefix: string,
  perZone: number,
  extra: string[],
  total: number,
) {
  const flags = [`--group-label=${ZONE}`, "--concurrency=1", ...extra];
  const install = await installKreboot(cluster, dsName, flags);
  const names = await zonedNodes(cluster, prefix, ["a", "b", "c"], perZone);
  const mon = await SafetyMonitor.start(cluster.kube, {
    dsName,
    namespace: NS,
    concurrency: total,
    groupLabel: ZONE,
    groupConcurrency: 1,
    nodeFilter: (n) => n.startsWith(`${prefix}-`),
  });
  try {
    const daemons = await startDaemons(cluster, install, names, flags, mon);
    await rollOut(cluster, install, daemons, 300_000);
  } finally {
    await mon.stop();
  }
  assert.deepEqual(mon.violations, [], mon.describe());
  return { mon, names };
}

async function condition(cluster: TestCluster, node: string) {
  const n = await cluster.kube.core.readNode({ name: node });
  const c = n.status?.conditions?.find((x) => x.type === CONDITION_TYPE);
  return c ? decodeCondition(c) : undefined;
}

Deno.test("groups e2e", async (t) => {
  await using cluster = await startCluster();
  await cluster.ensureNamespace("work");
  cluster.startKubelet();

  await t.step(
    "12 nodes in 3 zones, --concurrency=1: three reboot at once, never two of one zone",
    async () => {
      const { mon, names } = await rollZones(cluster, "zones", "z", 4, [], 3);
      assert.equal(mon.maxDisrupted, 3, `three zones in parallel: ${mon.describe()}`);
      assert.deepEqual([...mon.maxDisruptedPerGroup].sort(), [["a", 1], ["b", 1], ["c", 1]]);
      for (const n of names) assert.equal(mon.reboots.get(n), 1, n);
    },
  );

  await t.step("--max-concurrency-total=2: never more than two at once across the zones", async () => {
    const { mon } = await rollZones(cluster, "capped", "t", 2, ["--max-concurrency-total=2"], 2);
    assert.equal(mon.maxDisrupted, 2, mon.describe());
    const leases = await cluster.kube.coord.listNamespacedLease({ namespace: NS });
    const total = leases.items.filter((l) => l.metadata?.name?.startsWith("capped-total-slot-"));
    assert.ok(total.length > 0 && total.length <= 2, "the cap's own slots, no more than the cap");
  });

  await t.step("a scheduled nodes=0 budget active now blocks, and status and plan say budget", async () => {
    // Opened an hour ago, for three hours: active now, ending in two.
    const opened = new Date(Date.now() - 3_600_000);
    const cron = `${opened.getUTCMinutes()} ${opened.getUTCHours()} * * *`;
    const budget = `--budget=nodes=0,schedule=${cron},duration=3h`;
    const ends = new Date(Math.floor(opened.getTime() / 60_000) * 60_000 + 3 * 3_600_000).toISOString();
    const install = await installKreboot(cluster, "frozen", [budget]);
    await cluster.createNode("f-1");
    const mon = await SafetyMonitor.start(cluster.kube, {
      dsName: "frozen",
      namespace: NS,
      concurrency: 0,
      nodeFilter: (n) => n === "f-1",
    });
    try {
      const [d] = await startDaemons(cluster, install, ["f-1"], [budget], mon);
      await d!.setRebootRequired(true);
      const c = await eventually("f-1 blocked by the budget", 60_000, async () => {
        const c = await condition(cluster, "f-1");
        return c?.blockedBy === "budget" ? c : undefined;
      });
      assert.equal(
        c.message,
        `all nodes: 0 of 0 slot(s) in use, the limit set by --budget=nodes=0,schedule=${cron},duration=3h0m0s,` +
          `tz=UTC; the limit may change at ${ends}`,
      );
      const cli = [`--ds-name=frozen`, `--ds-namespace=${NS}`, budget];
      const status = await runKreboot(cluster.cp.adminKubeconfig, ["status", ...cli]);
      assert.equal(status.code, 0, status.stderr);
      const row = status.stdout.split("\n").find((l) => l.startsWith("all nodes"));
      assert.match(row ?? "", /^all nodes\s+\d+\s+0\s+0\s+--budget=nodes=0,schedule=/);
      assert.ok(row?.endsWith(ends), `${row} ends with ${ends}`);
      assert.match(status.stdout, /^f-1\s+RebootBlocked\s+budget\s/m);
      const plan = await runKreboot(cluster.cp.adminKubeconfig, ["plan", "-o", "json", ...cli]);
      assert.equal(plan.code, 0, plan.stderr);
      const report = JSON.parse(plan.stdout);
      assert.equal(report.groups[0].allowed, 0);
      assert.deepEqual(
        report.nodes.map((
          n: { node: string; state: string; blockedBy?: string },
        ) => [n.node, n.state, n.blockedBy]),
        [["f-1", "in-line", "budget"]],
      );
      assert.equal(d!.reboots, 0);
      await d!.stop();
    } finally {
      await mon.stop();
    }
    assert.deepEqual(mon.violations, [], mon.describe());
  });

  await t.step("ten nodes arriving one by one behind one slot go in arrival order", async () => {
    const install = await installKreboot(cluster, "fifo");
    const names = Array.from({ length: 10 }, (_, i) => `q-${String(i).padStart(2, "0")}`);
    // Arrival order is not name order.
    const arrival = [...names].sort((a, b) => (a.charCodeAt(3) * 7 % 10) - (b.charCodeAt(3) * 7 % 10));
    for (const n of [...names, "q-holder"]) await cluster.createNode(n);
    const holder = new RebootLock(makeKube(loadKubeConfig(install.kubeconfig), false), {
      namespace: NS,
      dsName: "fifo",
      lockAnnotation: "weave.works/kured-node-lock",
      concurrency: { kind: "count", n: 1 },
      ttlMs: 0,
      node: "q-holder",
      log: new Logger({ format: "json", node: "q-holder", sink: () => {} }),
    });
    assert.ok((await holder.tryAcquire({ phase: "draining" })).acquired);
    const mon = await SafetyMonitor.start(cluster.kube, {
      dsName: "fifo",
      namespace: NS,
      concurrency: 1,
      nodeFilter: (n) => n.startsWith("q-"),
    });
    const order: string[] = [];
    const off = mon.onSlotChange((h) => {
      if (h !== "q-holder" && !order.includes(h)) order.push(h);
    });
    try {
      const daemons = await startDaemons(cluster, install, names, [], mon);
      const byName = new Map(daemons.map((d) => [d.node, d]));
      for (const n of arrival) {
        await byName.get(n)!.setRebootRequired(true);
        await eventually(
          `${n} queued`,
          30_000,
          async () => (await condition(cluster, n))?.blockedBy === "lock" || undefined,
        );
      }
      await holder.release();
      await Promise.all(daemons.map((d) => d.waitForReboots(1, 300_000)));
      await Promise.all(daemons.map((d) => d.stop()));
    } finally {
      off();
      await mon.stop();
    }
    assert.deepEqual(order, arrival);
    assert.deepEqual(mon.violations, [], mon.describe());
  });
});
