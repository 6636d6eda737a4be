/**
 * Graceful shutdown of the real daemon process: SIGTERM stops the loop at a safe point, shuts the metrics
 * server down and exits 0 within seconds, whether the node is idle, waiting for a slot or draining; a daemon
 * started again picks up where the Lease says. A second signal during a slow shutdown exits at once (130).
 */
import assert from "node:assert/strict";
import { decodeSlot, slotName } from "../../lib/lock/slots.ts";
import { type Daemon, startCluster, type TestCluster } from "../harness/mod.ts";
import { eventually, type Install, installKreboot } from "./support.ts";

const NS = "kube-system";

async function phaseOnMetrics(d: Daemon): Promise<string | undefined> {
  const r = await fetch(`http://127.0.0.1:${d.metricsPort}/metrics`, { signal: AbortSignal.timeout(2_000) });
  const text = await r.text();
  return /^kreboot_phase\{[^}]*phase="([^"]+)"[^}]*\} 1$/m.exec(text)?.[1];
}

/** SIGTERM, then the exit status and how long it took. */
async function terminate(d: Daemon): Promise<{ code: number; ms: number }> {
  const started = performance.now();
  d.kill("SIGTERM");
  const status = await d.proc.done;
  return { code: status.code, ms: performance.now() - started };
}

/** Asserts a clean, quick exit that went through the daemon's shutdown path. */
async function assertGraceful(d: Daemon, what: string): Promise<void> {
  const { code, ms } = await terminate(d);
  const log = d.lines.map((l) => l.text).join("\n");
  assert.equal(code, 0, `${what}: exit 0 on SIGTERM\n${log}`);
  assert.ok(ms < 5_000, `${what}: exited ${Math.round(ms)} ms after SIGTERM`);
  assert.ok(d.lines.some((l) => /kreboot stopped/.test(l.text)), `${what}: the shutdown path ran\n${log}`);
  await assert.rejects(
    fetch(`http://127.0.0.1:${d.metricsPort}/metrics`, { signal: AbortSignal.timeout(2_000) }),
    `${what}: the metrics server is down`,
  );
  await d.stop();
}

async function slot(cluster: TestCluster, dsName: string) {
  return decodeSlot(
    await cluster.kube.coord.readNamespacedLease({ name: slotName(dsName, 0), namespace: NS }),
  );
}

async function cordoned(cluster: TestCluster, node: string): Promise<boolean> {
  return (await cluster.kube.core.readNode({ name: node })).spec?.unschedulable === true;
}

function start(cluster: TestCluster, install: Install, node: string, extra: string[] = []) {
  return cluster.startDaemon(node, {
    kubeconfig: install.kubeconfig,
    args: [...install.args, "--period=1h", ...extra],
  });
}

Deno.test("graceful shutdown e2e", async (t) => {
  await using cluster = await startCluster();
  await cluster.ensureNamespace("work");
  const install = await installKreboot(cluster, "sd");

  await t.step("an idle daemon exits 0 within seconds", async () => {
    await cluster.createNode("sd-idle");
    const d = await start(cluster, install, "sd-idle");
    await eventually("sd-idle idle", 30_000, async () => (await phaseOnMetrics(d)) === "idle" || undefined);
    await assertGraceful(d, "idle");
  });

  // sd-hold drains a pod no kubelet finishes yet, so it stays in draining holding the only slot; sd-wait waits.
  await cluster.createNode("sd-hold");
  await cluster.createPod("work", { name: "sd-hold-web", node: "sd-hold", owner: "ReplicaSet" });
  await cluster.createNode("sd-wait");
  let hold = await start(cluster, install, "sd-hold");
  await hold.setRebootRequired(true);
  await hold.waitForJson((e) => e.reason === "Draining", 30_000);
  let wait = await start(cluster, install, "sd-wait");
  await wait.setRebootRequired(true);
  await wait.waitForJson((e) => e.reason === "RebootBlocked" && e.blockReason === "lock", 30_000);

  await t.step("a daemon waiting for a slot exits 0 and waits again after a restart", async () => {
    await assertGraceful(wait, "waiting");
    wait = await start(cluster, install, "sd-wait");
    await wait.waitForJson((e) => e.reason === "RebootBlocked" && e.blockReason === "lock", 30_000);
    assert.equal((await slot(cluster, "sd")).holder, "sd-hold");
  });

  await t.step(
    "a draining daemon exits 0 leaving the slot and cordon, and completes after a restart",
    async () => {
      await assertGraceful(hold, "draining");
      // Stopped at a safe point: the slot stays held and the node cordoned (no retreat). The Lease says
      // cordoning (the acquisition's record) and kreboot's cordon annotation tells the restart to finish the drain.
      const s = await slot(cluster, "sd");
      assert.equal(s.holder, "sd-hold");
      assert.equal(s.phase, "cordoning");
      assert.ok(await cordoned(cluster, "sd-hold"), "still cordoned");

      const kubelet = cluster.startKubelet({ nodes: ["sd-hold", "sd-wait"] });
      hold = await start(cluster, install, "sd-hold");
      await hold.waitForJson(
        (e) => e.reason === "Resumed" && /resuming at draining/.test(String(e.msg)),
        30_000,
      );
      await hold.waitForReboots(1, 60_000);
      await eventually(
        "sd-hold uncordoned",
        30_000,
        async () => !(await cordoned(cluster, "sd-hold")) || undefined,
      );
      // The restarted waiter gets the slot next.
      await wait.waitForReboots(1, 60_000);
      await eventually("slot free", 30_000, async () => !(await slot(cluster, "sd")).holder || undefined);
      assert.equal(hold.reboots, 1);
      await hold.stop();
      await wait.stop();
      await kubelet.stop();
    },
  );

  await t.step("a second signal during a slow shutdown exits at once with 130", async () => {
    // A webhook that never answers, with a long --notify-timeout: shutdown waits for the Draining message.
    const release = new AbortController();
    const hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
      await new Promise((r) => release.signal.addEventListener("abort", r, { once: true }));
      return new Response(null, { status: 204 });
    });
    try {
      const slow = await installKreboot(cluster, "sd-slow");
      await cluster.createNode("sd-slow-a");
      await cluster.createPod("work", { name: "sd-slow-web", node: "sd-slow-a", owner: "ReplicaSet" });
      const d = await start(cluster, slow, "sd-slow-a", [
        `--notify-url=generic+http://127.0.0.1:${hook.addr.port}/hook`,
        "--notify-timeout=5m",
      ]);
      await d.setRebootRequired(true);
      await d.waitForJson((e) => e.reason === "Draining", 30_000);
      d.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(
        d.proc.exited,
        undefined,
        `still shutting down: the Draining notification hangs\n${d.lines.map((l) => l.text).join("\n")}`,
      );
      const started = performance.now();
      d.kill("SIGTERM");
      const status = await d.proc.done;
      const ms = performance.now() - started;
      assert.equal(status.code, 130, "the second signal exits with 130");
      assert.ok(ms < 2_000, `exited ${Math.round(ms)} ms after the second signal`);
      await d.stop();
    } finally {
      release.abort();
      await hook.shutdown();
    }
  });
});
