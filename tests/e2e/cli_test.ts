/**
 * `kreboot status`, `pause` and `resume` as an operator runs them: the real CLI process with the admin
 * kubeconfig, against a cluster where real daemons hold a slot, wait for one, or are blocked by a PDB or by
 * the reboot window.
 */
import assert from "node:assert/strict";
import type { StatusReport } from "../../lib/cli/status.ts";
import { startCluster, type TestCluster } from "../harness/mod.ts";
import { type CliResult, eventually, type Install, installKreboot, runKreboot } from "./support.ts";

function kreboot(cluster: TestCluster, args: string[]): Promise<CliResult> {
  return runKreboot(cluster.cp.adminKubeconfig, args);
}

async function statusJson(cluster: TestCluster, install: Install): Promise<StatusReport> {
  const r = await kreboot(cluster, ["status", "-o", "json", ...install.args]);
  assert.equal(r.code, 0, `status -o json failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as StatusReport;
}

/** The status of one node, once `ok` accepts it (daemons write their condition in the background). */
function nodeStatus(
  cluster: TestCluster,
  install: Install,
  node: string,
  ok: (n: StatusReport["nodes"][number]) => boolean,
  timeoutMs = 60_000,
) {
  return eventually(`status of ${node}`, timeoutMs, async () => {
    const n = (await statusJson(cluster, install)).nodes.find((x) => x.node === node);
    return n && ok(n) ? n : undefined;
  });
}

Deno.test("kreboot status, pause and resume e2e", async (t) => {
  await using cluster = await startCluster();
  await cluster.ensureNamespace("work");

  await t.step("status says plainly when kreboot does not run in the cluster (exit 3)", async () => {
    const r = await kreboot(cluster, ["status", "--ds-name=nowhere"]);
    assert.equal(r.code, 3, `exit 3; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stderr, /does not seem to run here/);
    assert.match(r.stderr, /kube-system\/nowhere/);
    const j = await kreboot(cluster, ["status", "-o", "json", "--ds-name=nowhere"]);
    assert.equal(j.code, 3);
    const report = JSON.parse(j.stdout) as StatusReport;
    assert.equal(report.installed, false);
    assert.deepEqual(report.slots, []);
  });

  const install = await installKreboot(cluster, "st");
  const base = [...install.args, "--period=1h"];
  const now = new Date();
  const closed = [
    `--start-time=${(now.getUTCHours() + 2) % 24}:00`,
    `--end-time=${(now.getUTCHours() + 3) % 24}:00`,
  ];

  // st-hold drains a pod no kubelet finishes: it holds the only slot, in phase draining, until we start one.
  await cluster.createNode("st-hold");
  await cluster.createPod("work", { name: "stuck", node: "st-hold", owner: "ReplicaSet" });
  // st-pdb runs the only replica a PDB protects: its pre-flight refuses before it would take a slot.
  await cluster.createNode("st-pdb");
  await cluster.createPod("work", {
    name: "db-0",
    node: "st-pdb",
    owner: "StatefulSet",
    labels: { app: "db" },
  });
  await cluster.createPdb("work", "db", { matchLabels: { app: "db" }, minAvailable: 1 });
  await cluster.setPdbStatus("work", "db", 0);
  await cluster.createNode("st-window");
  await cluster.createNode("st-wait");

  const hold = await cluster.startDaemon("st-hold", { kubeconfig: install.kubeconfig, args: base });
  await hold.setRebootRequired(true);
  await hold.waitForJson((e) => e.phase === "draining", 60_000);
  const pdb = await cluster.startDaemon("st-pdb", { kubeconfig: install.kubeconfig, args: base });
  const win = await cluster.startDaemon("st-window", {
    kubeconfig: install.kubeconfig,
    args: [...base, ...closed],
  });
  const wait = await cluster.startDaemon("st-wait", { kubeconfig: install.kubeconfig, args: base });
  for (const d of [pdb, win, wait]) await d.setRebootRequired(true);

  await t.step("status -o json names the holder and why each other node waits", async () => {
    const p = await nodeStatus(cluster, install, "st-pdb", (n) => n.blockedBy === "pdb");
    assert.match(p.message ?? "", /work\/db/, `names the PDB: ${p.message}`);
    assert.equal(p.rebootRequired, true);
    const w = await nodeStatus(cluster, install, "st-window", (n) => n.blockedBy === "window");
    assert.match(w.message ?? "", /window/);
    const l = await nodeStatus(cluster, install, "st-wait", (n) => n.blockedBy === "lock");
    assert.match(l.message ?? "", /st-hold/, `names the holder it waits for: ${l.message}`);

    // The slot Lease says cordoning through the drain; status brings it forward by the holder's condition.
    await nodeStatus(cluster, install, "st-hold", (n) => n.reason === "Draining");
    const report = await statusJson(cluster, install);
    assert.equal(report.installed, true);
    assert.equal(report.paused.paused, false);
    const slot = report.slots.find((s) => s.holder === "st-hold");
    assert.ok(slot, `st-hold holds a slot: ${JSON.stringify(report.slots)}`);
    assert.equal(slot.slot, "st-slot-0");
    assert.equal(slot.phase, "draining");
    assert.ok(slot.since, "the slot says since when");
    const h = report.nodes.find((n) => n.node === "st-hold");
    assert.equal(h?.slot, "st-slot-0");
    assert.equal(h?.blockedBy, undefined, "the holder is not blocked");
  });

  await t.step("the text output has the same facts in tables", async () => {
    const r = await kreboot(cluster, ["status", ...install.args]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Reboots are not paused/);
    assert.match(r.stdout, /^st-slot-0\s+st-hold\s+draining\s/m);
    assert.match(r.stdout, /^st-pdb\s+RebootBlocked\s+pdb\s/m);
    assert.match(r.stdout, /^st-window\s+RebootBlocked\s+window\s/m);
    assert.match(r.stdout, /^st-wait\s+RebootBlocked\s+lock\s/m);
  });

  await t.step("pause stops new reboots; status shows who and why; resume lets them continue", async () => {
    const p = await kreboot(cluster, [
      "pause",
      "--reason",
      "change freeze until Monday",
      "--by",
      "alice",
      ...install.args,
    ]);
    assert.equal(p.code, 0, p.stderr);
    let report = await statusJson(cluster, install);
    assert.equal(report.paused.paused, true);
    assert.ok(report.paused.paused);
    assert.equal(report.paused.by, "alice");
    assert.equal(report.paused.reason, "change freeze until Monday");
    const text = await kreboot(cluster, ["status", ...install.args]);
    assert.match(text.stdout, /Reboots PAUSED by alice: change freeze until Monday/);

    // The holder finishes its reboot while paused (pause only stops new acquisitions) and frees the slot.
    const kubelet = cluster.startKubelet({ nodes: ["st-hold", "st-wait"] });
    await hold.waitForReboots(1, 60_000);
    await eventually("st-slot-0 free", 60_000, async () => {
      const s = (await statusJson(cluster, install)).slots.find((x) => x.slot === "st-slot-0");
      return s && !s.holder ? true : undefined;
    });
    // The free slot wakes st-wait, which finds reboots paused.
    await nodeStatus(cluster, install, "st-wait", (n) => n.blockedBy === "paused");
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(wait.reboots, 0, "no reboot while paused");
    report = await statusJson(cluster, install);
    assert.ok(!report.slots.some((s) => s.holder === "st-wait"), "st-wait took no slot while paused");

    const r = await kreboot(cluster, ["resume", ...install.args]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await statusJson(cluster, install)).paused.paused, false);
    await wait.waitForReboots(1, 60_000);
    assert.equal(pdb.reboots, 0, "the PDB still blocks st-pdb");
    assert.equal(win.reboots, 0, "the window still blocks st-window");
    for (const d of [hold, pdb, win, wait]) await d.stop();
    await kubelet.stop();
  });
});
