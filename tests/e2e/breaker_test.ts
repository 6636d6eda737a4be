/**
 * The circuit breaker and the reboot-loop guard (issue 16, items 2 and 3) with real daemon processes on the
 * cluster with the real controllers (tests/harness/controllers.ts).
 *
 * - Two failed reboots with --max-failed-reboots=2 pause the fleet, and a third node never starts until
 *   `kreboot resume`. The reboots fail as they would in production: the nodes come back with their DaemonSet
 *   pod (the DaemonSet controller's, run by kwok) not Ready for a minute, so the health gate times out.
 * - A sentinel that survives the reboot causes one reboot per --min-reboot-interval, then a hold.
 */
import assert from "node:assert/strict";
import { HOLD_ANNOTATION } from "../../lib/node_control/mod.ts";
import { type Daemon, startCluster, type TestCluster } from "../harness/mod.ts";
import {
  eventually,
  type Install,
  installKreboot,
  metricSample,
  notificationSink,
  runKreboot,
  schedulable,
  slotsFree,
} from "./support.ts";

async function start(
  cluster: TestCluster,
  install: Install,
  node: string,
  args: string[],
  opts: Partial<Parameters<TestCluster["startDaemon"]>[1]> = {},
): Promise<Daemon> {
  return await cluster.startDaemon(node, {
    kubeconfig: install.kubeconfig,
    args: [...install.args, ...args],
    ...opts,
  });
}

/** Waits until the DaemonSet's pod runs Ready on each of `nodes`. */
async function daemonSetPodsReady(cluster: TestCluster, install: Install, nodes: string[]) {
  await eventually("the DaemonSet's pods Ready", 60_000, async () => {
    const pods = await cluster.kube.core.listNamespacedPod({ namespace: install.namespace });
    const ready = pods.items.filter((p) =>
      p.metadata?.ownerReferences?.some((o) => o.kind === "DaemonSet" && o.name === install.dsName) &&
      p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
    ).map((p) => p.spec?.nodeName);
    return nodes.every((n) => ready.includes(n)) || undefined;
  });
}

Deno.test("circuit breaker and reboot-loop guard e2e", async (t) => {
  await using cluster = await startCluster({ controllers: true });

  await t.step(
    "circuit breaker: two failed reboots pause the fleet; the third node starts only after kreboot resume",
    async () => {
      await using hook = notificationSink();
      {
        const install = await installKreboot(cluster, "br");
        const nodes = ["br-a", "br-b", "br-c"];
        for (const n of nodes) await cluster.createNode(n, { pool: "br" });
        await daemonSetPodsReady(cluster, install, nodes);
        const args = [
          "--period=1h",
          "--max-failed-reboots=2",
          "--recovery-timeout=6s",
          `--notify-url=${hook.url}`,
        ];
        // br-a and br-b come back with their DaemonSet pod not Ready for a minute (its container crash-loops),
        // so their health gates time out: two failed reboots.
        const failing: Daemon[] = [];
        for (const n of ["br-a", "br-b"]) {
          failing.push(
            await start(cluster, install, n, args, { rebootRequired: true, podRestartMs: 60_000 }),
          );
        }
        await eventually("the breaker opened", 120_000, () => {
          const opened = failing.find((d) =>
            d.lines.some((l) => l.text.includes('"reason":"CircuitBreakerOpen"'))
          );
          return opened;
        }, 500);
        assert.deepEqual(failing.map((d) => d.reboots), [1, 1]);
        // The third node needs its reboot once the fleet is paused: it never starts until kreboot resume.
        const third = await start(cluster, install, "br-c", args, { rebootRequired: true });
        const daemons = [...failing, third];
        await third.waitForJson(
          (e) => e.blockReason === "paused" && /circuit breaker: 2 failed reboots/.test(String(e.msg)),
          60_000,
        );
        const status = await runKreboot(cluster.cp.adminKubeconfig, ["status", ...install.args]);
        assert.match(
          status.stdout,
          /^Reboots PAUSED by circuit-breaker: circuit breaker: 2 failed reboots within 24h0m0s/m,
        );
        for (const d of failing) {
          assert.match(status.stdout, new RegExp(`^${d.node} +\\S+ +health-timeout +`, "m"));
        }
        assert.equal(await metricSample(third, 'kreboot_circuit_open{node="' + third.node + '"}'), 1);
        await eventually(
          "the notification",
          15_000,
          () => hook.messages.find((m) => /^Reboots paused: circuit breaker:/.test(m)),
        );
        // Nothing moves while the breaker is open.
        await new Promise((r) => setTimeout(r, 8_000));
        assert.equal(third.reboots, 0, "the third node never starts while the breaker is open");
        for (const d of failing) {
          assert.ok(
            await schedulable(cluster, d.node),
            `${d.node} was uncordoned after its failed health gate`,
          );
        }
        const resumed = await runKreboot(cluster.cp.adminKubeconfig, ["resume", ...install.args]);
        assert.equal(resumed.code, 0, resumed.stderr);
        await third.waitForReboots(1, 90_000);
        await eventually("its slot free", 30_000, async () => (await slotsFree(cluster, "br")) || undefined);
        assert.equal(await metricSample(third, 'kreboot_circuit_open{node="' + third.node + '"}'), 0);
        const after = await runKreboot(cluster.cp.adminKubeconfig, ["status", ...install.args]);
        assert.doesNotMatch(
          after.stdout,
          /Failed reboots the circuit breaker counts/,
          "resume reset the count",
        );
        for (const d of daemons) await d.stop();
      }
    },
  );

  await t.step(
    "reboot-loop guard: a sentinel that survives the reboot means one reboot per --min-reboot-interval, then a hold",
    async () => {
      const install = await installKreboot(cluster, "lg");
      await cluster.createNode("lg-a", { pool: "lg" });
      const starts: number[] = [];
      let survive = true;
      const d = await start(cluster, install, "lg-a", [
        "--period=2s",
        "--min-reboot-interval=10s",
        "--max-consecutive-reboots=2",
      ], {
        rebootRequired: true,
        rebootHooks: {
          before: () => void starts.push(Date.now()),
          // A package that keeps asking for a reboot: the sentinel is back as soon as the host is up.
          async after(dd) {
            if (survive) await dd.setRebootRequired(true);
          },
        },
      });
      await d.waitForReboots(2, 90_000);
      assert.ok(
        (starts[1] ?? 0) - (starts[0] ?? 0) >= 10_000,
        `the second reboot came ${
          (starts[1] ?? 0) - (starts[0] ?? 0)
        } ms after the first: not before --min-reboot-interval`,
      );
      const node = await eventually("the guard's hold", 30_000, async () => {
        const n = await cluster.kube.core.readNode({ name: "lg-a" });
        return n.metadata?.annotations?.[HOLD_ANNOTATION] ? n : undefined;
      });
      assert.match(node.metadata?.annotations?.[HOLD_ANNOTATION] ?? "", /"by":"kreboot reboot-loop guard"/);
      await d.waitForJson((e) => e.reason === "RebootLoop" && /holds itself/.test(String(e.msg)), 30_000);
      await eventually("kreboot status says the guard's hold blocks lg-a", 30_000, async () => {
        const status = await runKreboot(cluster.cp.adminKubeconfig, ["status", ...install.args]);
        // The hold gate (lib/gates/hold.ts) comes first and names who held the node and why.
        return /^lg-a +RebootBlocked +held +.*kreboot reboot-loop guard.*reboot loop: 2 reboots in a row/m
          .test(status.stdout) || undefined;
      }, 1_000);
      assert.equal(await metricSample(d, 'kreboot_consecutive_reboots{node="lg-a"}'), 2);
      await new Promise((r) => setTimeout(r, 12_000));
      assert.equal(d.reboots, 2, "held: no third reboot, whatever the interval");
      // A person looked into it and releases the node; the sentinel goes away with the next reboot.
      survive = false;
      const unhold = await runKreboot(cluster.cp.adminKubeconfig, ["unhold", "lg-a", ...install.args]);
      assert.equal(unhold.code, 0, unhold.stderr);
      await d.waitForReboots(3, 90_000);
      await eventually(
        "the count reset",
        30_000,
        async () => (await metricSample(d, 'kreboot_consecutive_reboots{node="lg-a"}')) === 0 || undefined,
      );
      await d.stop();
    },
  );
  cluster.cp.assertControllersRunning();
});
