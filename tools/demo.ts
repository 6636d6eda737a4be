/**
 * `deno task demo`: a rolling reboot you can watch. It starts the local control plane of the e2e tests (etcd +
 * kube-apiserver built from Go modules), three simulated nodes whose OS needs a reboot, each with a pod to
 * drain, and kreboot on each node as its own process with the generated RBAC. Every second it shows each
 * node's phase (from the daemon's /metrics), who holds the slot (from the Lease) and the reboots done, until
 * all three have rebooted and are back in service; then it stops everything.
 *
 *   deno task demo               # needs Go >= 1.26 the first time (builds the control plane, ~15 min cold)
 */
import { decodeSlot, LOCK_LABEL } from "../lib/lock/slots.ts";
import { type Daemon, startCluster, type TestCluster } from "../tests/harness/mod.ts";
import { installKreboot } from "../tests/e2e/support.ts";

const DS = "kreboot";
const NODES = ["node-1", "node-2", "node-3"];
const TIMEOUT_MS = 120_000;

async function buildControlPlane(): Promise<void> {
  const build = await new Deno.Command("bash", {
    args: [new URL("./controlplane/build.sh", import.meta.url).pathname],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!build.success) throw new Error("could not build the control plane (see above); the demo needs it");
}

async function phaseOf(d: Daemon): Promise<string> {
  try {
    const r = await fetch(`http://127.0.0.1:${d.metricsPort}/metrics`, {
      signal: AbortSignal.timeout(1_000),
    });
    const text = await r.text();
    return /^kreboot_phase\{[^}]*phase="([^"]+)"[^}]*\} 1$/m.exec(text)?.[1] ?? "?";
  } catch {
    return "(down)";
  }
}

interface Frame {
  lines: string[];
  done: boolean;
}

async function frame(cluster: TestCluster, daemons: Daemon[], startedAt: number): Promise<Frame> {
  const leases = await cluster.kube.coord.listNamespacedLease({
    namespace: "kube-system",
    labelSelector: `${LOCK_LABEL}=${DS}`,
  });
  const holders = leases.items.map(decodeSlot).filter((s) => s.holder);
  const slot = holders.length ? holders.map((s) => `${s.holder} (${s.phase ?? "?"})`).join(", ") : "free";
  const nodes = await cluster.kube.core.listNode({});
  const rows: string[] = [];
  let allBack = true;
  for (const d of daemons) {
    const node = nodes.items.find((n) => n.metadata?.name === d.node);
    const ready = node?.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
    const cordoned = node?.spec?.unschedulable === true;
    const phase = await phaseOf(d);
    if (d.reboots < 1 || cordoned || !ready || phase !== "idle") allBack = false;
    rows.push(
      `  ${d.node.padEnd(8)} ${phase.padEnd(13)} ${(ready ? "Ready" : "NotReady").padEnd(9)} ` +
        `${(cordoned ? "cordoned" : "").padEnd(9)} reboots: ${d.reboots}`,
    );
  }
  const secs = ((performance.now() - startedAt) / 1000).toFixed(0).padStart(3);
  const done = daemons.reduce((n, d) => n + Math.min(d.reboots, 1), 0);
  return {
    lines: [`[${secs}s] slot: ${slot.padEnd(30)} rebooted: ${done}/${daemons.length}`, ...rows],
    done: allBack && holders.length === 0,
  };
}

async function main(): Promise<number> {
  await buildControlPlane();
  console.log("starting etcd and kube-apiserver on 127.0.0.1 ...");
  await using cluster = await startCluster();
  await cluster.ensureNamespace("demo");
  const install = await installKreboot(cluster, DS);
  cluster.startKubelet({ delayMs: 1_000 });
  const daemons: Daemon[] = [];
  for (const name of NODES) {
    await cluster.createNode(name);
    await cluster.createPod("demo", { name: `${name}-web`, node: name, owner: "ReplicaSet" });
  }
  for (const name of NODES) {
    daemons.push(
      await cluster.startDaemon(name, {
        kubeconfig: install.kubeconfig,
        args: [...install.args, "--period=1h"],
        rebootRequired: true,
      }),
    );
  }
  console.log(
    `kreboot runs on ${
      NODES.join(", ")
    }; each needs a reboot (concurrency 1). Logs: ${cluster.cp.dir}/nodes/\n`,
  );

  const tty = Deno.stdout.isTerminal();
  const enc = new TextEncoder();
  const startedAt = performance.now();
  let previous = 0;
  let f: Frame;
  do {
    await new Promise((r) => setTimeout(r, 1_000));
    f = await frame(cluster, daemons, startedAt);
    // On a terminal the view is redrawn in place; piped, each second is one block.
    const up = tty && previous ? `\x1b[${previous}A` : "";
    Deno.stdout.writeSync(enc.encode(up + f.lines.map((l) => tty ? `${l}\x1b[K` : l).join("\n") + "\n"));
    previous = f.lines.length;
    if (performance.now() - startedAt > TIMEOUT_MS) {
      console.error(
        `not done after ${TIMEOUT_MS / 1000} s; the daemons' logs are in ${cluster.cp.dir}/nodes/`,
      );
      return 1;
    }
  } while (!f.done);
  const secs = ((performance.now() - startedAt) / 1000).toFixed(1);
  console.log(
    `\nall ${NODES.length} nodes rebooted one at a time and are back in service in ${secs} s; stopping`,
  );
  return 0;
}

try {
  Deno.exit(await main());
} catch (e) {
  console.error(`demo: ${e instanceof Error ? e.message : String(e)}`);
  Deno.exit(1);
}
