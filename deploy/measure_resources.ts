/**
 * How the DaemonSet's memory request and limit were sized: runs one daemon (`deno run -A main.ts`, the same
 * code as the image's binary) against the harness control plane with the generated RBAC, reads its resident
 * memory after a minute idle, then during a drain of 50 pods, and prints the numbers.
 *
 *   deno run -A deploy/measure_resources.ts            (needs the control plane: deno task controlplane)
 */
import { startCluster } from "../tests/harness/mod.ts";
import { installKreboot } from "../tests/e2e/support.ts";

const PODS = 50;
const IDLE_MS = 60_000;

function status(pid: number): { rss: number; hwm: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (k: string) => Number(text.match(new RegExp(`^${k}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN);
  return { rss: kb("VmRSS") * 1024, hwm: kb("VmHWM") * 1024 };
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

await using cluster = await startCluster();
await cluster.ensureNamespace("work");
const install = await installKreboot(cluster, "measure");
await cluster.createNode("measure-a");
for (let i = 0; i < PODS; i++) {
  await cluster.createPod("work", { name: `web-${i}`, node: "measure-a", owner: "ReplicaSet" });
}
cluster.startKubelet({ delayMs: 2_000, nodes: ["measure-a"] });
const d = await cluster.startDaemon("measure-a", {
  kubeconfig: install.kubeconfig,
  args: [...install.args, "--period=1h"],
});
await new Promise((r) => setTimeout(r, IDLE_MS));
const idle = status(d.proc.pid);
console.log(`idle after ${IDLE_MS / 1000} s: RSS ${mib(idle.rss)} (peak so far ${mib(idle.hwm)})`);

let peakSampled = 0;
const sampler = setInterval(() => {
  try {
    peakSampled = Math.max(peakSampled, status(d.proc.pid).rss);
  } catch { /* the process is being replaced by the simulated reboot */ }
}, 100);
const started = Date.now();
const pid = d.proc.pid;
await d.setRebootRequired(true);
await d.waitForJson((e) => e.msg === "node drained", 180_000);
const afterDrain = status(pid);
clearInterval(sampler);
console.log(
  `drain of ${PODS} pods (${((Date.now() - started) / 1000).toFixed(1)} s): RSS sampled peak ${
    mib(peakSampled)
  }, VmHWM ${mib(afterDrain.hwm)}`,
);
await d.waitForReboots(1, 60_000);
await d.stop();
