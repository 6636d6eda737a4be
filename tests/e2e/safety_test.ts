/**
 * Rollout safety with real daemon processes against the real kube-apiserver (issue 16): the post-reboot health
 * gate holds the slot until evicted workloads are whole again (or --recovery-timeout), the circuit breaker
 * pauses the fleet after --max-failed-reboots, and the reboot-loop guard spaces out and then stops reboots that
 * leave the sentinel set.
 *
 * Today's harness has no kube-controller-manager, scheduler or kubelet: the test plays them. Where it writes a
 * ReplicaSet's status or marks a DaemonSet pod Failed, a comment says what the real controller would have done.
 */
import assert from "node:assert/strict";
import { MERGE_PATCH } from "../harness/full_kube.ts";
import { HOLD_ANNOTATION } from "../../lib/node_control/mod.ts";
import { LOCK_LABEL } from "../../lib/lock/slots.ts";
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

/** The time of a daemon's JSON log line, in ms. */
async function lineTime(d: Daemon, match: (e: Record<string, unknown>) => boolean, timeoutMs: number) {
  const e = await d.waitForJson(match, timeoutMs);
  return Date.parse(String(e.time));
}

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

Deno.test("rollout safety e2e", async (t) => {
  await using cluster = await startCluster();

  await t.step(
    "health gate: evicted pods that do not come back keep the slot until --recovery-timeout; the next node waits",
    async () => {
      const install = await installKreboot(cluster, "hg");
      await cluster.ensureNamespace("hg");
      for (const n of ["hg-a", "hg-b"]) await cluster.createNode(n);
      cluster.startKubelet({ nodes: ["hg-a", "hg-b"] });
      await cluster.createPod("hg", {
        name: "web-0",
        node: "hg-a",
        owner: "ReplicaSet",
        labels: { app: "web" },
      });
      // The ReplicaSet wants its one replica. The real ReplicaSet controller would create a replacement once
      // web-0 is evicted; the scheduler would find no node that fits it, so it would stay Pending and the
      // ReplicaSet's readyReplicas at 0. Here nobody writes the status at all: readyReplicas stays unset (0).
      await cluster.kube.apps.patchNamespacedReplicaSet({
        namespace: "hg",
        name: "harness-rs",
        body: { spec: { replicas: 1 } },
      }, MERGE_PATCH);
      const args = ["--period=1h", "--wait-for-workloads", "--recovery-timeout=15s"];
      const a = await start(cluster, install, "hg-a", args, { rebootRequired: true });
      const b = await start(cluster, install, "hg-b", args);
      await a.waitForJson((e) => e.reason === "SlotAcquired", 60_000);
      await b.setRebootRequired(true);
      const confirmed = await lineTime(a, (e) => e.reason === "RebootConfirmed", 90_000);
      // What the drain evicted is on the slot Lease, for the daemon that started after the reboot.
      const lease = (await cluster.kube.coord.listNamespacedLease({
        namespace: install.namespace,
        labelSelector: `${LOCK_LABEL}=hg`,
      })).items.find((l) => l.spec?.holderIdentity === "hg-a");
      assert.match(lease?.metadata?.annotations?.["kreboot.dev/evicted"] ?? "", /ReplicaSet\/hg\/harness-rs/);
      const timedOut = await a.waitForJson((e) => e.reason === "RecoveryIncomplete", 60_000);
      assert.match(String(timedOut.msg), /ReplicaSet hg\/harness-rs to have 1 ready \(has 0\)/);
      const bGotIt = await lineTime(b, (e) => e.reason === "SlotAcquired", 60_000);
      assert.ok(
        bGotIt - confirmed >= 14_000,
        `hg-b took the slot ${
          bGotIt - confirmed
        } ms after hg-a's reboot: not before --recovery-timeout (15 s)`,
      );
      await b.waitForReboots(1, 90_000);
      await eventually(
        "hg-a schedulable again",
        30_000,
        async () => (await schedulable(cluster, "hg-a")) || undefined,
      );
      await a.stop();
      await b.stop();
    },
  );

  await t.step(
    "circuit breaker: two failed reboots pause the fleet; the third node starts only after kreboot resume",
    async () => {
      await using hook = notificationSink();
      {
        const install = await installKreboot(cluster, "br");
        await cluster.ensureNamespace("br");
        const nodes = ["br-a", "br-b", "br-c"];
        cluster.startKubelet({ nodes });
        let failed = 0;
        const daemons: Daemon[] = [];
        for (const n of nodes) {
          await cluster.createNode(n);
          await cluster.createPod("br", { name: `${n}-agent`, node: n, owner: "DaemonSet" });
        }
        const args = [
          "--period=1h",
          "--max-failed-reboots=2",
          "--recovery-timeout=6s",
          `--notify-url=${hook.url}`,
        ];
        for (const n of nodes) {
          daemons.push(
            await start(cluster, install, n, args, {
              rebootRequired: true,
              rebootHooks: {
                // The first two nodes to reboot come back with their DaemonSet pod broken (its container
                // crash-loops: the kubelet would report it not Ready, as written here).
                async after(d) {
                  if (failed++ < 2) await cluster.setPodPhase("br", `${d.node}-agent`, "Failed");
                },
              },
            }),
          );
        }
        const rebooted = () => daemons.filter((d) => d.reboots > 0);
        await eventually("the breaker opened", 120_000, () => {
          const opened = daemons.find((d) =>
            d.lines.some((l) => l.text.includes('"reason":"CircuitBreakerOpen"'))
          );
          return opened;
        }, 500);
        assert.equal(rebooted().length, 2);
        const third = daemons.find((d) => d.reboots === 0)!;
        await third.waitForJson(
          (e) => e.blockReason === "paused" && /circuit breaker: 2 failed reboots/.test(String(e.msg)),
          60_000,
        );
        const status = await runKreboot(cluster.cp.adminKubeconfig, ["status", ...install.args]);
        assert.match(
          status.stdout,
          /^Reboots PAUSED by circuit-breaker: circuit breaker: 2 failed reboots within 24h0m0s/m,
        );
        for (const d of rebooted()) {
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
        for (const d of rebooted()) {
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
      await cluster.createNode("lg-a");
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
});
