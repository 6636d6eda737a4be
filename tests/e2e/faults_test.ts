/**
 * Faults at the edges, with real daemon processes: Prometheus down, slow, failing or talking garbage; the API
 * server gone for a minute while one daemon waits for a slot and another drains; a sentinel command that hangs
 * or floods its output; the metrics port already taken.
 */
import assert from "node:assert/strict";
import { type Daemon, REPO_ROOT, startCluster } from "../harness/mod.ts";
import { eventually, installKreboot, schedulable, slotsFree } from "./support.ts";

function json(d: Daemon): Record<string, unknown>[] {
  return d.lines.flatMap((l) => {
    if (!l.text.startsWith("{")) return [];
    try {
      return [JSON.parse(l.text) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

Deno.test("faults at the edges e2e", async (t) => {
  await using cluster = await startCluster();
  await cluster.ensureNamespace("work");

  await t.step("Prometheus down, slow, 500 or garbage: blocked with reason alert, never a slot", async () => {
    const install = await installKreboot(cluster, "prom");
    // A port that was free a moment ago and has no listener: connection refused.
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const downPort = (closed.addr as Deno.NetAddr).port;
    closed.close();
    const ac = new AbortController();
    const serve = (handler: () => Response | Promise<Response>) =>
      Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {}, signal: ac.signal }, handler);
    const garbage = serve(() => new Response("\u0000<html>not json at all{{{", { status: 200 }));
    const truncated = serve(() =>
      Response.json({ status: "success", data: { resultType: "vector", result: 7 } })
    );
    const failing = serve(() => new Response("boom", { status: 500 }));
    const slow = serve(async () => {
      await new Promise((r) => setTimeout(r, 5_000));
      return Response.json({ status: "success", data: { resultType: "vector", result: [] } });
    });
    const port = (s: Deno.HttpServer<Deno.NetAddr>) => s.addr.port;
    try {
      const cases: [string, string][] = [
        ["prom-down", `http://127.0.0.1:${downPort}`],
        ["prom-garbage", `http://127.0.0.1:${port(garbage)}`],
        ["prom-shape", `http://127.0.0.1:${port(truncated)}`],
        ["prom-500", `http://127.0.0.1:${port(failing)}`],
        ["prom-slow", `http://127.0.0.1:${port(slow)}`],
      ];
      const daemons: Daemon[] = [];
      for (const [node, url] of cases) {
        await cluster.createNode(node);
        daemons.push(
          await cluster.startDaemon(node, {
            kubeconfig: install.kubeconfig,
            rebootRequired: true,
            args: [...install.args, "--period=2s", `--prometheus-url=${url}`, "--prometheus-timeout=1s"],
          }),
        );
      }
      for (const d of daemons) {
        const line = await d.waitForJson((e) => e.reason === "RebootBlocked", 30_000);
        assert.equal(line.blockReason, "alert", `${d.node}: ${JSON.stringify(line)}`);
      }
      // Several periods later still blocked: no slot taken, nobody cordoned, nothing rebooted.
      await new Promise((r) => setTimeout(r, 5_000));
      assert.ok(await slotsFree(cluster, "prom"), "no slot taken while Prometheus cannot be asked");
      for (const d of daemons) {
        assert.equal(d.reboots, 0, d.node);
        assert.ok(await schedulable(cluster, d.node), `${d.node} not cordoned`);
        assert.ok(
          !json(d).some((e) => e.reason === "SlotAcquired"),
          `${d.node} never acquired a slot`,
        );
        assert.ok(
          json(d).filter((e) => e.reason === "RebootBlocked").length >= 2,
          `${d.node} kept checking and stayed blocked`,
        );
        assert.equal(d.proc.exited, undefined, `${d.node} still running`);
      }
      await Promise.all(daemons.map((d) => d.stop()));
    } finally {
      ac.abort();
      await Promise.all([garbage.finished, truncated.finished, failing.finished, slow.finished]);
    }
  });

  await t.step(
    "sentinel command that hangs or floods: killed after its timeout, output truncated",
    async () => {
      const install = await installKreboot(cluster, "sentinel");
      await cluster.createNode("sentinel-hang");
      await cluster.createNode("sentinel-flood");
      // A sleep with an unusual duration, to find it in the process table afterwards.
      const hang = await cluster.startDaemon("sentinel-hang", {
        kubeconfig: install.kubeconfig,
        args: [
          ...install.args,
          "--period=3s",
          "--reboot-sentinel-command=sleep 4242",
          "--sentinel-command-timeout=1s",
        ],
      });
      const flood = await cluster.startDaemon("sentinel-flood", {
        kubeconfig: install.kubeconfig,
        args: [
          ...install.args,
          "--period=3s",
          "--reboot-sentinel-command=sh -c 'yes kreboot-flood | head -c 8000000 >&2; yes kreboot-flood | head -c 8000000; exit 3'",
          "--sentinel-command-timeout=10s",
        ],
      });
      const killed = await hang.waitForJson(
        (e) => e.reason === "SentinelError" && /did not finish within 1000 ms/.test(String(e.msg)),
        30_000,
      );
      assert.equal(killed.level, "warn", JSON.stringify(killed));
      const flooded = await flood.waitForJson((e) => /exited 3/.test(String(e.msg)), 30_000);
      const longest = Math.max(...flood.lines.map((l) => l.text.length));
      assert.ok(longest < 20_000, `the longest log line has ${longest} characters`);
      assert.ok(String(flooded.msg).includes("kreboot-flood"), "the start of the output is kept");
      // A second round, to see both come back every period rather than being stuck.
      const after = hang.lines.length;
      await hang.waitForJson((e) => /did not finish/.test(String(e.msg)), 30_000, { since: after });
      await hang.stop();
      await flood.stop();
      for (const d of [hang, flood]) assert.equal(d.reboots, 0);
      // No hung command survives its timeout (nor the daemon).
      await eventually("no sleep 4242 left", 10_000, async () => {
        const ps = await new Deno.Command("ps", { args: ["-eo", "args"], stdout: "piped" }).output();
        return new TextDecoder().decode(ps.stdout).split("\n").some((l) => l.trim() === "sleep 4242")
          ? undefined
          : true;
      });
    },
  );

  await t.step(
    "API server gone for a minute while one daemon drains and one waits: both complete",
    async () => {
      const install = await installKreboot(cluster, "outage");
      await cluster.createNode("outage-a");
      await cluster.createNode("outage-b");
      // a's pod takes its time to terminate, so a is still draining when the apiserver goes away.
      await cluster.createPod("work", { name: "outage-a-web", node: "outage-a", owner: "ReplicaSet" });
      await cluster.createPod("work", { name: "outage-b-web", node: "outage-b", owner: "ReplicaSet" });
      cluster.startKubelet({ nodes: ["outage-a", "outage-b"], delayMs: 15_000 });
      const args = [...install.args, "--period=1h", "--concurrency=1"];
      const a = await cluster.startDaemon("outage-a", {
        kubeconfig: install.kubeconfig,
        args,
        rebootRequired: true,
      });
      await a.waitForJson((e) => e.phase === "draining", 30_000);
      const b = await cluster.startDaemon("outage-b", {
        kubeconfig: install.kubeconfig,
        args,
        rebootRequired: true,
      });
      await b.waitForJson((e) => e.phase === "waiting", 30_000);
      const procA = a.proc;
      const procB = b.proc;
      const linesBefore = a.lines.length + b.lines.length;
      await cluster.restartApiserver({ downMs: 60_000 });
      // Neither process exited on its own during the outage (a may have rebooted since it came back).
      // (a may have finished its drain as soon as the apiserver answered: the harness then kills it with SIGKILL
      // for the simulated reboot, which is no exit of its own.)
      assert.ok(
        procA.exited === undefined || procA.exited.signal === "SIGKILL",
        `a's daemon exited by itself during the outage: ${JSON.stringify(procA.exited)}`,
      );
      assert.equal(procB.exited, undefined, "b's daemon survived the outage");
      const during = a.lines.length + b.lines.length - linesBefore;
      // (b re-checks its gates once the apiserver is back: an unreachable apiserver is retried in seconds.)
      assert.ok(during < 400, `${during} log lines during a one-minute outage: retries must back off`);
      await a.waitForReboots(1, 120_000);
      await b.waitForReboots(1, 120_000);
      for (const d of [a, b]) {
        await eventually(
          `${d.node} schedulable`,
          30_000,
          async () => (await schedulable(cluster, d.node)) || undefined,
        );
      }
      await eventually("slots free", 30_000, async () => (await slotsFree(cluster, "outage")) || undefined);
      assert.equal(a.reboots, 1);
      assert.equal(b.reboots, 1);
      assert.equal(a.crashes + b.crashes, 0);
      // Every process start was the first one or one after a simulated reboot: no crash loop.
      for (const d of [a, b]) {
        const starts = (await Deno.readTextFile(d.logFile)).split("\n").filter((l) =>
          l.startsWith("### harness: start")
        );
        assert.equal(starts.length, 2, `${d.node} was started ${starts.length} times`);
      }
      await a.stop();
      await b.stop();
    },
  );
});

Deno.test("metrics port already taken: a clear error and exit 2", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${REPO_ROOT}/main.ts`,
        "--node-id=n1",
        "--metrics-host=127.0.0.1",
        `--metrics-port=${port}`,
        "--kubeconfig=/nonexistent/kubeconfig",
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 2, stderr);
    const lines = stderr.split("\n").filter((l) => !/DeprecationWarning|punycode/.test(l));
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0] ?? "", new RegExp(`--metrics-port ${port}.*in use`));
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  } finally {
    taken.close();
  }
});
