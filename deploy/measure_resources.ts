/**
 * How the DaemonSet's memory request and limit were sized: runs one daemon in the shipped form (the bundle
 * with the compiled binary's flags, bench/shipped.ts) against the harness control plane with the generated
 * RBAC, reads its resident memory after a minute idle, then its peak while it drains 50 pods and reboots, and
 * prints the numbers with the request and limit they give: the request is the idle RSS rounded up to a
 * multiple of 16 MiB, the limit about 1.8 times the drain peak, rounded up to a multiple of 32 MiB.
 *
 *   deno run -A deploy/measure_resources.ts            (needs the control plane: deno task controlplane)
 */
import { startCluster } from "../tests/harness/mod.ts";
import { installKreboot } from "../tests/e2e/support.ts";
import { bundle, shippedCommand } from "../bench/shipped.ts";

const PODS = 50;
const IDLE_MS = 60_000;

function status(pid: number): { rss: number; hwm: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (k: string) => Number(text.match(new RegExp(`^${k}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN);
  return { rss: kb("VmRSS") * 1024, hwm: kb("VmHWM") * 1024 };
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const roundUp = (bytes: number, step: number) => Math.ceil(bytes / 2 ** 20 / step) * step;

const dir = await Deno.makeTempDir({ prefix: "kreboot-measure-" });
try {
  const command = shippedCommand(await bundle("main.ts", dir));
  await using cluster = await startCluster();
  await cluster.ensureNamespace("work");
  const install = await installKreboot(cluster, "measure");
  await cluster.createNode("measure-a");
  for (let i = 0; i < PODS; i++) {
    await cluster.createPod("work", { name: `web-${i}`, node: "measure-a", owner: "ReplicaSet" });
  }
  cluster.startKubelet({ delayMs: 2_000, nodes: ["measure-a"] });
  let peak = NaN;
  const d = await cluster.startDaemon("measure-a", {
    kubeconfig: install.kubeconfig,
    args: [...install.args, "--period=1h"],
    command,
    // The simulated reboot SIGKILLs the process: read its high-water mark just before.
    rebootHooks: { before: (daemon) => void (peak = status(daemon.proc.pid).hwm) },
  });
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const idle = status(d.proc.pid);
  console.log(`idle after ${IDLE_MS / 1000} s: RSS ${mib(idle.rss)} (peak so far ${mib(idle.hwm)})`);

  const started = Date.now();
  await d.setRebootRequired(true);
  await d.waitForReboots(1, 180_000);
  console.log(
    `drain of ${PODS} pods and reboot (${((Date.now() - started) / 1000).toFixed(1)} s): peak RSS ${
      mib(peak)
    }`,
  );
  console.log(
    `resources: requests.memory ${roundUp(idle.rss, 16)}Mi, limits.memory ${roundUp(peak * 1.8, 32)}Mi`,
  );
  await d.stop();
} finally {
  await Deno.remove(dir, { recursive: true });
}
