/**
 * The Alertmanager and PromQL gates in the real daemon (deno run main.ts), on its generated ServiceAccount,
 * against the real kube-apiserver: a stand-in Alertmanager and Prometheus on loopback answer as the real APIs
 * do, and what they answer decides whether the node takes a slot and reboots.
 */
import assert from "node:assert/strict";
import { startCluster } from "../harness/mod.ts";
import { eventually, installKreboot, schedulable, slotsFree } from "./support.ts";

/** A stand-in Alertmanager v2 whose alerts the test changes, filtered by the query as Alertmanager does. */
function alertmanager() {
  const alerts: {
    labels: Record<string, string>;
    status: { state: string; silencedBy: string[]; inhibitedBy: string[] };
  }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const q = new URL(req.url).searchParams;
    return Response.json(
      alerts.filter((a) => q.get("silenced") !== "false" || a.status.silencedBy.length === 0),
    );
  });
  return { alerts, url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

/** A stand-in Prometheus: `ALERTS` is empty, every other query returns `series` (changed by the test). */
function prometheus() {
  const state = { series: [] as Record<string, string>[] };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const query = new URLSearchParams(await req.text()).get("query");
    const result = query === "ALERTS" ? [] : state.series.map((metric) => ({ metric, value: [0, "1"] }));
    return Response.json({ status: "success", data: { resultType: "vector", result } });
  });
  return { state, url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

Deno.test("alert and query gates e2e", async (t) => {
  await using cluster = await startCluster();

  await t.step("Alertmanager: an unsilenced alert blocks; once silenced, the node reboots", async () => {
    const am = alertmanager();
    try {
      const install = await installKreboot(cluster, "am");
      am.alerts.push({
        labels: { alertname: "NodeDown", severity: "critical" },
        status: { state: "active", silencedBy: [], inhibitedBy: [] },
      });
      await cluster.createNode("am-1");
      const d = await cluster.startDaemon("am-1", {
        kubeconfig: install.kubeconfig,
        rebootRequired: true,
        args: [...install.args, "--period=2s", `--alertmanager-url=${am.url}`],
      });
      const line = await d.waitForJson((e) => e.reason === "RebootBlocked", 30_000);
      assert.equal(line.blockReason, "alert");
      assert.match(String(line.msg), /1 active Alertmanager alert \(not silenced or inhibited\): NodeDown/);
      assert.ok(await slotsFree(cluster, "am"), "no slot while the alert is active");
      assert.equal(d.reboots, 0);
      // An operator silences the alert in Alertmanager.
      am.alerts[0]!.status = { state: "suppressed", silencedBy: ["5f1c…"], inhibitedBy: [] };
      await d.waitForReboots(1, 60_000);
      await eventually(
        "am-1 schedulable and its slot free",
        60_000,
        async () => (await schedulable(cluster, "am-1")) && (await slotsFree(cluster, "am")) || undefined,
      );
      await d.stop();
    } finally {
      await am.stop();
    }
  });

  await t.step(
    "--prometheus-query: a non-empty result blocks naming the query; an empty one lets it reboot",
    async () => {
      const prom = prometheus();
      try {
        const query = "kube_deployment_status_replicas_unavailable > 0";
        const install = await installKreboot(cluster, "pq");
        prom.state.series = [{ namespace: "shop", deployment: "web" }];
        await cluster.createNode("pq-1");
        const d = await cluster.startDaemon("pq-1", {
          kubeconfig: install.kubeconfig,
          rebootRequired: true,
          args: [
            ...install.args,
            "--period=2s",
            `--prometheus-url=${prom.url}`,
            `--prometheus-query=${query}`,
          ],
        });
        const line = await d.waitForJson((e) => e.reason === "RebootBlocked", 30_000);
        assert.equal(line.blockReason, "query");
        assert.equal(
          String(line.msg),
          `query "${query}" returned 1 series: {deployment="web", namespace="shop"}`,
        );
        assert.ok(await slotsFree(cluster, "pq"));
        prom.state.series = [];
        await d.waitForReboots(1, 60_000);
        await eventually(
          "pq-1 schedulable and its slot free",
          60_000,
          async () => (await schedulable(cluster, "pq-1")) && (await slotsFree(cluster, "pq")) || undefined,
        );
        await d.stop();
      } finally {
        await prom.stop();
      }
    },
  );
});
