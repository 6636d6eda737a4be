/**
 * Issue 9.5, drain speed: a node with 100 ReplicaSet-owned pods (no PDB, terminationGracePeriodSeconds 0),
 * drained by kreboot (lib/drain/mod.ts `cordon` + `drain`, in-process) and by `kubectl drain --ignore-daemonsets
 * --delete-emptydir-data --force` (the harness's kubectl, admin kubeconfig), on the same apiserver with the
 * same fake kubelet running. Rounds alternate between the two; medians are compared.
 */
import { cordon, drain } from "../lib/drain/mod.ts";
import { loadKubeConfig, makeKube } from "../lib/kube/mod.ts";
import { startCluster, type TestCluster } from "../tests/harness/mod.ts";
import {
  type BenchOptions,
  type BenchResult,
  bounded,
  median,
  quietLog,
  type Row,
  row,
  sec,
} from "./common.ts";

const BENCH = "drain";
const NS = "drain";

async function fillNode(cluster: TestCluster, node: string, pods: number): Promise<void> {
  await cluster.createNode(node);
  const names = Array.from({ length: pods }, (_, i) => `${node}-${String(i).padStart(3, "0")}`);
  // Ten at a time: quick to set up, without flooding the apiserver the other engineers share.
  for (let i = 0; i < names.length; i += 10) {
    await Promise.all(
      names.slice(i, i + 10).map((name) =>
        cluster.createPod(NS, { name, node, owner: "ReplicaSet", terminationGracePeriodSeconds: 0 })
      ),
    );
  }
}

async function podsOn(cluster: TestCluster, node: string): Promise<number> {
  const list = await cluster.kube.core.listNamespacedPod({
    namespace: NS,
    fieldSelector: `spec.nodeName=${node}`,
  });
  return list.items.length;
}

async function kreboot(cluster: TestCluster, node: string): Promise<number> {
  const kube = makeKube(loadKubeConfig(cluster.cp.adminKubeconfig), false);
  const t0 = performance.now();
  await cordon(kube, node);
  const r = await drain(kube, node, {
    log: quietLog(node),
    gracePeriodSeconds: -1,
    timeoutMs: 0,
    skipWaitForDeleteTimeoutSeconds: 0,
    podSelector: "",
  });
  const ms = performance.now() - t0;
  if (!r.ok) throw new Error(`kreboot drain of ${node} failed: ${r.reason}`);
  return ms;
}

async function kubectl(cluster: TestCluster, node: string): Promise<number> {
  const t0 = performance.now();
  const r = await cluster.cp.kubectl(
    "drain",
    node,
    "--ignore-daemonsets",
    "--delete-emptydir-data",
    "--force",
  );
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`kubectl drain ${node} exited ${r.code}: ${r.stderr.trim()}`);
  return ms;
}

export async function drainSpeed(o: BenchOptions): Promise<BenchResult> {
  const pods = 100;
  const rounds = o.quick ? 2 : 5;
  const rows: Row[] = [];
  await using cluster = await startCluster();
  await cluster.ensureNamespace(NS);
  cluster.startKubelet();
  const times = { kreboot: [] as number[], kubectl: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    // Alternate who goes first, so neither always meets a warmer apiserver.
    const order = i % 2 === 0 ? (["kubectl", "kreboot"] as const) : (["kreboot", "kubectl"] as const);
    for (const tool of order) {
      const node = `${tool}-${i}`;
      await fillNode(cluster, node, pods);
      const ms = tool === "kreboot" ? await kreboot(cluster, node) : await kubectl(cluster, node);
      const left = await podsOn(cluster, node);
      if (left !== 0) throw new Error(`${tool} drained ${node} but ${left} pod(s) are still there`);
      times[tool].push(ms);
      o.progress(`${BENCH}: round ${i + 1}/${rounds}: ${tool} ${sec(ms, 2)}`);
    }
  }
  // Why kubectl is slow here: one more drain at -v=2 shows client-go's client-side rate limiter holding its
  // requests back (kured's drain uses the same library with the same default limits).
  await fillNode(cluster, "kubectl-v2", pods);
  const v2 = await cluster.cp.kubectl(
    "drain",
    "kubectl-v2",
    "--ignore-daemonsets",
    "--delete-emptydir-data",
    "--force",
    "-v=2",
  );
  // client-go logs a long wait as `"Waited before sending request" delay="1.19s" reason="client-side throttling…"`
  // (older versions: `Waited for 1.19s due to client-side throttling`).
  const waits = [
    ...v2.stderr.matchAll(
      /Waited before sending request" delay="([\d.]+)(m?s)" reason="client-side throttling/g,
    ),
    ...v2.stderr.matchAll(/Waited for ([\d.]+)(m?s) due to client-side throttling/g),
  ].map((m) => Number(m[1]) * (m[2] === "ms" ? 0.001 : 1));
  const k = median(times.kreboot);
  const c = median(times.kubectl);
  const t0 = performance.now();
  await cluster.cp.kubectl("version", "--client");
  const kubectlStart = performance.now() - t0;
  rows.push(row(BENCH, `${pods} pods: kreboot cordon + drain (median of ${rounds})`, sec(k, 2)));
  rows.push(
    row(BENCH, `${pods} pods: kubectl drain (median of ${rounds}, process start included)`, sec(c, 2)),
  );
  rows.push(bounded(BENCH, `${pods} pods: kreboot / kubectl`, k / c, 1.0));
  return {
    rows,
    notes: [
      `all rounds, kreboot: ${times.kreboot.map((t) => sec(t, 2)).join(", ")}; kubectl: ${
        times.kubectl.map((t) => sec(t, 2)).join(", ")
      }. \`kubectl version --client\` alone takes ${sec(kubectlStart, 2)} (its process start).`,
      `kubectl drain -v=2 of another ${pods} pods logged ${waits.length} requests held back by ` +
      `"client-side throttling" (client-go logs only the long waits; the longest ${
        Math.max(0, ...waits).toFixed(1)
      } s): its evictions and per-pod polls queue behind client-go's default rate limiter.`,
    ],
  };
}
