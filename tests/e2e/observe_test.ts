/**
 * What an operator sees of a reboot cycle from outside the daemon, with real daemon processes on the real
 * apiserver: `/metrics` while it happens, the Events and the RebootRequired condition on the Node in order,
 * and the webhook notifications, including webhooks that fail or hang.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { type Daemon, startCluster, type TestCluster } from "../harness/mod.ts";
import { eventually, installKreboot } from "./support.ts";

/** One sample: `name{labels}` -> value, e.g. `kreboot_phase{phase="draining"}` (the node label left out). */
type Sample = Map<string, number>;

function parseMetrics(text: string): Sample {
  const out: Sample = new Map();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] === undefined || m[3] === undefined) continue;
    const labels = [...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)]
      .filter((l) => l[1] !== "node")
      .map((l) => `${l[1]}="${l[2]}"`);
    out.set(labels.length ? `${m[1]}{${labels.join(",")}}` : m[1], Number(m[3]));
  }
  return out;
}

/** The label value whose series is 1, e.g. the current phase. */
function current(s: Sample, metric: string, label: string): string | undefined {
  for (const [k, v] of s) {
    const m = new RegExp(`^${metric}\\{${label}="([^"]+)"\\}$`).exec(k);
    if (m && v === 1) return m[1];
  }
  return undefined;
}

/** Scrapes a daemon's /metrics every 150 ms (skipping while it is down for its reboot) until stopped. */
function sampler(d: Daemon) {
  const samples: Sample[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      try {
        const r = await fetch(`http://127.0.0.1:${d.metricsPort}/metrics`, {
          signal: AbortSignal.timeout(2_000),
        });
        if (r.ok) samples.push(parseMetrics(await r.text()));
        else await r.body?.cancel();
      } catch {
        // Down for its simulated reboot, or not listening yet.
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return {
    samples,
    latest: () => samples.at(-1),
    async stop() {
      running = false;
      await done;
    },
  };
}

/** Consecutive duplicates removed. */
function runs<T>(xs: T[]): T[] {
  return xs.filter((x, i) => i === 0 || x !== xs[i - 1]);
}

/** A webhook sink: /hook answers 204, /fail answers 500, /hang never answers (until the client gives up). */
function webhook() {
  const received: { path: string; body: string }[] = [];
  const release = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    received.push({ path, body: await req.text() });
    if (path === "/fail") return new Response("boom", { status: 500 });
    if (path === "/hang") {
      // Held until the test ends; the daemon has given up long before (--notify-timeout).
      await new Promise((r) => release.signal.addEventListener("abort", r, { once: true }));
      return new Response("too late", { status: 200 });
    }
    return new Response(null, { status: 204 });
  });
  return {
    received,
    url: (path: string) => `generic+http://127.0.0.1:${server.addr.port}${path}`,
    async [Symbol.asyncDispose]() {
      release.abort();
      await server.shutdown();
    },
  };
}

/** The node's Events as `kubectl describe node` finds them, oldest first. */
async function nodeEvents(cluster: TestCluster, node: string): Promise<k8s.CoreV1Event[]> {
  const list = await cluster.kube.core.listNamespacedEvent({
    namespace: "default",
    fieldSelector: `involvedObject.kind=Node,involvedObject.name=${node}`,
  });
  const time = (e: k8s.CoreV1Event) => new Date(String(e.eventTime ?? e.firstTimestamp)).getTime();
  return list.items.sort((a, b) => time(a) - time(b));
}

/** Records every distinct (status, reason) the node's RebootRequired condition goes through. */
async function conditionHistory(cluster: TestCluster, node: string) {
  const seen: string[] = [];
  const req = await cluster.kube.watch.watch(
    "/api/v1/nodes",
    { fieldSelector: `metadata.name=${node}` },
    (_type, obj: k8s.V1Node) => {
      const c = obj.status?.conditions?.find((x) => x.type === "RebootRequired");
      if (!c) return;
      const entry = `${c.status}/${c.reason}`;
      if (seen.at(-1) !== entry) seen.push(entry);
    },
    () => {},
  );
  return { seen, stop: () => req.abort() };
}

function hookMessage(body: string): { title?: string; message?: string } {
  return JSON.parse(body) as { title?: string; message?: string };
}

function logTime(e: Record<string, unknown>): number {
  return new Date(String(e.time)).getTime();
}

Deno.test("observability e2e: metrics, Events, condition and notifications during a cycle", async (t) => {
  await using cluster = await startCluster();
  await using hook = webhook();
  await cluster.ensureNamespace("work");

  await t.step(
    "a rolling reboot of two nodes as metrics, Events, condition and webhook show it",
    async () => {
      const install = await installKreboot(cluster, "obs");
      // Each eviction takes 3 s to finish: long enough to see the drain from outside.
      const kubelet = cluster.startKubelet({ delayMs: 3_000, nodes: ["obs-a", "obs-b"] });
      const daemons: Daemon[] = [];
      for (const name of ["obs-a", "obs-b"]) {
        await cluster.createNode(name);
        await cluster.createPod("work", { name: `${name}-web`, node: name, owner: "ReplicaSet" });
        daemons.push(
          await cluster.startDaemon(name, {
            kubeconfig: install.kubeconfig,
            args: [...install.args, "--period=1h", `--notify-url=${hook.url("/hook")}`],
          }),
        );
      }
      const [a, b] = daemons;
      assert.ok(a && b);
      const condition = await conditionHistory(cluster, "obs-a");
      const ma = sampler(a);
      const mb = sampler(b);
      await eventually("obs-a idle on /metrics", 30_000, () => {
        const s = ma.latest();
        return Promise.resolve(s && current(s, "kreboot_phase", "phase") === "idle" ? true : undefined);
      });
      assert.equal(ma.latest()?.get("kured_reboot_required"), 0);

      await a.setRebootRequired(true);
      await a.waitForJson((e) => e.phase === "draining", 30_000);
      await b.setRebootRequired(true);
      // While obs-a drains, obs-b waits for the slot, and its metrics say so.
      const waiting = await eventually("obs-b blocked by the lock on /metrics", 30_000, () => {
        const s = mb.latest();
        return Promise.resolve(s?.get('kreboot_reboot_blocked{reason="lock"}') === 1 ? s : undefined);
      });
      assert.equal(current(waiting, "kreboot_phase", "phase"), "waiting");
      assert.equal(waiting.get("kured_reboot_required"), 1);
      assert.equal(waiting.get("kreboot_slot_held"), 0);

      await a.waitForReboots(1, 60_000);
      await b.waitForReboots(1, 60_000);
      for (const [m, name] of [[ma, "obs-a"], [mb, "obs-b"]] as const) {
        await eventually(`${name} idle again with no reboot required`, 60_000, () => {
          const s = m.latest();
          const back = s && current(s, "kreboot_phase", "phase") === "idle" &&
            s.get("kured_reboot_required") === 0;
          return Promise.resolve(back ? s : undefined);
        });
      }
      await ma.stop();
      await mb.stop();

      // obs-a: required, then draining while it held the slot, then idle with no reboot required.
      const aPhases = runs(ma.samples.map((s) => current(s, "kreboot_phase", "phase") ?? "?"));
      const draining = aPhases.indexOf("draining");
      assert.ok(
        draining > 0 && aPhases.lastIndexOf("idle") > draining,
        `phases of obs-a: ${aPhases.join(" ")}`,
      );
      const drainSample = ma.samples.find((s) => current(s, "kreboot_phase", "phase") === "draining");
      assert.equal(drainSample?.get("kured_reboot_required"), 1);
      assert.equal(drainSample?.get("kreboot_slot_held"), 1);
      const aRequired = runs(ma.samples.map((s) => s.get("kured_reboot_required")));
      assert.deepEqual(aRequired, [0, 1, 0], "kured_reboot_required 0 -> 1 -> 0");
      // The process after the reboot counted it, and obs-b's block went from lock to nothing.
      assert.equal(ma.latest()?.get('kreboot_reboots_total{result="ok"}'), 1);
      const bBlocked = runs(mb.samples.map((s) => current(s, "kreboot_reboot_blocked", "reason") ?? "-"));
      assert.deepEqual(
        bBlocked,
        ["-", "lock", "-"],
        `obs-b's blocked reason over time: ${bBlocked.join(" ")}`,
      );

      // The Events on the Node tell the cycle in order.
      const expected = [
        "RebootRequired",
        "SlotAcquired",
        "Cordoned",
        "Draining",
        "Rebooting",
        "RebootConfirmed",
        "Uncordoned",
        "SlotReleased",
      ];
      const events = await eventually("obs-a's SlotReleased Event", 30_000, async () => {
        const evs = await nodeEvents(cluster, "obs-a");
        return evs.some((e) => e.reason === "SlotReleased") ? evs : undefined;
      });
      assert.deepEqual(events.map((e) => e.reason), expected);
      assert.ok(events.every((e) => e.type === "Normal"), "a clean cycle has no Warning Events");
      // obs-b's block message names obs-a's phase, so it may have been blocked twice with different messages.
      const bEvents = runs((await nodeEvents(cluster, "obs-b")).map((e) => e.reason));
      assert.deepEqual(
        bEvents,
        [expected[0], "RebootBlocked", ...expected.slice(1)],
        `obs-b: ${bEvents.join(" ")}`,
      );

      // The condition went through the steps that stood, in the same order, and ends False. A step replaced
      // within a second is not written (CONDITION_SETTLE_MS in lib/report/settling.ts): Cordoned never is, as
      // Draining follows it at once; the drain, the reboot and the return always are.
      condition.stop();
      const steps = [
        "True/RebootRequired",
        "True/SlotAcquired",
        "True/Cordoned",
        "True/Draining",
        "True/Rebooting",
        "False/RebootConfirmed",
      ];
      const order = condition.seen.map((s) => steps.indexOf(s));
      assert.ok(
        order.every((i, k) => i >= 0 && (k === 0 || i > (order[k - 1] ?? -1))),
        `condition steps in order: ${condition.seen.join(" ")}`,
      );
      assert.deepEqual(condition.seen.slice(-3), steps.slice(-3));
      assert.ok(
        !condition.seen.includes("True/Cordoned"),
        `a step that stood for moments: ${condition.seen}`,
      );

      // The webhook got kured's three messages for each node, in order.
      for (const node of ["obs-a", "obs-b"]) {
        // shoutrrr's generic service sends JSON with title and message by default.
        const messages = hook.received.filter((r) => r.path === "/hook").map((r) => hookMessage(r.body))
          .filter((m) => m.title === `kreboot: ${node}`).map((m) => m.message);
        assert.deepEqual(messages, [
          `Draining node ${node}`,
          `Rebooting node ${node}`,
          `Node ${node} rebooted & uncordoned successfully!`,
        ]);
      }
      for (const d of daemons) await d.stop();
      await kubelet.stop();
    },
  );

  await t.step(
    "a webhook that answers 500 or hangs delays the reboot by at most --notify-timeout",
    async () => {
      const install = await installKreboot(cluster, "hooks");
      const timeoutMs = 3_000;
      for (const path of ["/fail", "/hang"]) {
        const node = `hooks${path.replace("/", "-")}`;
        await cluster.createNode(node);
        const d = await cluster.startDaemon(node, {
          kubeconfig: install.kubeconfig,
          args: [
            ...install.args,
            "--period=1h",
            `--notify-url=${hook.url(path)}`,
            `--notify-timeout=${timeoutMs}ms`,
          ],
        });
        await d.setRebootRequired(true);
        const rebooting = await d.waitForJson((e) => e.reason === "Rebooting", 30_000);
        const command = await d.waitForJson((e) => /^running: /.test(String(e.msg)), 30_000);
        const delay = logTime(command) - logTime(rebooting);
        // Generous margin for a shared machine; without the bound a hung webhook would hold the reboot forever.
        assert.ok(
          delay <= timeoutMs + 2_000,
          `${path}: reboot command ${delay} ms after the Rebooting report`,
        );
        const warned = await d.waitForJson(
          (e) => /could not send the notification/.test(String(e.msg)),
          10_000,
        );
        assert.match(String(warned.error), path === "/fail" ? /500/ : /--notify-timeout/);
        await d.waitForReboots(1, 30_000);
        await d.waitForJson((e) => e.reason === "SlotReleased", 30_000, { since: 0 });
        assert.ok(
          hook.received.some((r) =>
            r.path === path && hookMessage(r.body).message === `Rebooting node ${node}`
          ),
          `the reboot message was sent to ${path}`,
        );
        await d.stop();
      }
    },
  );
});
