/**
 * Issue 9.1, rollout makespan: N simulated nodes that all need a reboot, real daemon processes, `--period=1m`.
 * The time from the sentinels appearing until every node was rebooted, uncordoned and every slot is free,
 * against the physical bound ceil(N/c) × C, where C (one node's cycle from sentinel to slot free) is measured
 * in the same run on the same harness. kured needs about ceil(N/c) × period here: its waiters poll once a period.
 */
import { type Daemon, startCluster, type TestCluster } from "../tests/harness/mod.ts";
import { type Install, installKreboot } from "../tests/e2e/support.ts";
import {
  type BenchOptions,
  type BenchResult,
  bounded,
  breakdown,
  loadAverage,
  median,
  row,
  sec,
  sleep,
  until,
} from "./common.ts";
import { cycleSteps, daemonRequests, handovers, monitorRollout, slotSpans, slotTimes } from "./rollout.ts";

const BENCH = "makespan";
const PERIOD = "1m";
const PERIOD_MS = 60_000;
/** The simulated reboot: the node stays NotReady this long. */
const DOWNTIME_MS = 2_000;
/** Pods per node and how long the fake kubelet takes to finish each after the eviction. */
const PODS_PER_NODE = 3;
export const KUBELET_DELAY_MS = 1_000;
const REQUESTS_PER_CYCLE_BOUND = 40;

export async function prepareNode(
  cluster: TestCluster,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  await cluster.createNode(name, { labels });
  for (let i = 0; i < PODS_PER_NODE; i++) {
    await cluster.createPod("work", { name: `${name}-p${i}`, node: name, owner: "ReplicaSet" });
  }
}

async function startIdle(cluster: TestCluster, install: Install, names: string[]): Promise<Daemon[]> {
  const daemons = await Promise.all(names.map((name) =>
    cluster.startDaemon(name, {
      kubeconfig: install.kubeconfig,
      args: [...install.args, `--period=${PERIOD}`],
      rebootDowntimeMs: DOWNTIME_MS,
    })
  ));
  // Started = logged its first line; then a moment for the start-up reads (Lease list, Node, DaemonSet).
  await Promise.all(daemons.map((d) => d.waitForLine(/kreboot starting/, 180_000)));
  await sleep(3_000);
  return daemons;
}

interface Run {
  ms: number;
  daemons: Daemon[];
  /** Date.now() when the sentinels were created. */
  t0Epoch: number;
}

/** Sentinels on every node at once; resolves when all were rebooted, uncordoned and every slot is free. */
export async function rollout(
  cluster: TestCluster,
  install: Install,
  names: string[],
  timeoutMs: number,
): Promise<Run> {
  const mon = await monitorRollout(cluster, install.namespace, install.dsName);
  try {
    const daemons = await startIdle(cluster, install, names);
    const t0 = performance.now();
    const t0Epoch = Date.now();
    await Promise.all(daemons.map((d) => d.setRebootRequired(true)));
    await until(
      `${names.length} nodes rebooted and every slot free`,
      timeoutMs,
      () =>
        daemons.every((d) => d.reboots >= 1) && mon.settled(names) && mon.lastFreeAt > t0 ? true : undefined,
    );
    const end = Math.max(mon.lastFreeAt, mon.lastUncordonAt);
    await Promise.all(daemons.map((d) => d.stop()));
    return { ms: end - t0, daemons, t0Epoch };
  } finally {
    mon.stop();
  }
}

/**
 * C, one node's cycle from its sentinel to its slot free: one node alone, `cycles` times, each on a fresh node
 * with the same pods (median), and its parts.
 */
export async function measureCycle(cluster: TestCluster, o: BenchOptions, cycles: number, bench: string) {
  const single = await installKreboot(cluster, `single-${bench}`);
  const cycleMs: number[] = [];
  const parts = {
    drain: [] as number[],
    reboot: [] as number[],
    back: [] as number[],
  };
  for (let i = 0; i < cycles; i++) {
    const name = `single-${bench}-${i}`;
    await prepareNode(cluster, name);
    const run = await rollout(cluster, single, [name], 120_000);
    cycleMs.push(run.ms);
    const s = cycleSteps(run.daemons[0]!);
    if (s.acquired && s.drained && s.rebootCommand && s.restarted && s.released) {
      parts.drain.push(s.drained - s.acquired);
      parts.reboot.push(s.restarted - s.rebootCommand);
      parts.back.push(s.released - s.restarted);
    }
    o.progress(`${bench}: single-node cycle ${i + 1}/${cycles}: ${sec(run.ms, 2)}`);
  }
  return { c: median(cycleMs), cycleMs, parts };
}

export async function makespan(o: BenchOptions): Promise<BenchResult> {
  const n = o.quick ? 6 : 20;
  const cycles = o.quick ? 2 : 3;
  const concurrencies = [1, 3];
  const rows = [];
  const notes: string[] = [];
  await using cluster = await startCluster({ audit: true });
  await cluster.ensureNamespace("work");
  cluster.startKubelet({ delayMs: KUBELET_DELAY_MS });

  const { c, parts } = await measureCycle(cluster, o, cycles, BENCH);
  rows.push(row(
    BENCH,
    `C: one node's cycle, sentinel → slot free (median of ${cycles})`,
    sec(c, 2),
    "",
    "info",
  ));
  notes.push(
    `C is made of: cordon+drain of ${PODS_PER_NODE} pods (kubelet finishes each ${KUBELET_DELAY_MS} ms after ` +
      `its eviction) ${
        sec(median(parts.drain), 2)
      }, the simulated reboot from the reboot command to the new ` +
      `daemon's first line (${DOWNTIME_MS} ms NotReady plus process start) ${
        sec(median(parts.reboot), 2)
      }, ` +
      `then confirm boot ID + uncordon + release ${sec(median(parts.back), 2)} (medians).`,
  );

  for (const conc of concurrencies) {
    const install = await installKreboot(cluster, `roll-c${conc}`, [`--concurrency=${conc}`]);
    const names = Array.from({ length: n }, (_, i) => `c${conc}-n${String(i).padStart(2, "0")}`);
    for (const name of names) await prepareNode(cluster, name);
    const loadBefore = loadAverage();
    const auditFrom = Date.now();
    const run = await rollout(
      cluster,
      { ...install, args: [...install.args, `--concurrency=${conc}`] },
      names,
      1_800_000,
    );
    const bound = Math.ceil(n / conc) * c;
    const ratio = run.ms / bound;
    rows.push(row(BENCH, `N=${n}, --concurrency=${conc}: makespan`, sec(run.ms), "", "info"));
    rows.push(
      bounded(BENCH, `N=${n}, --concurrency=${conc}: makespan / (ceil(N/c) × C = ${sec(bound)})`, ratio, 1.1),
    );
    rows.push(row(
      BENCH,
      `N=${n}, --concurrency=${conc}: kured at the same settings (≈ ceil(N/c) × period, not run)`,
      `≈ ${Math.ceil(n / conc) * PERIOD_MS / 60_000} min`,
      "",
      "info",
    ));
    // Handover: from one node's release to the next node's acquisition, from the daemons' own log times.
    const steps = run.daemons.map(cycleSteps);
    if (conc === 1) {
      const gaps = handovers(steps);
      rows.push(row(
        BENCH,
        `N=${n}, --concurrency=1: handover, release → next acquisition (median / max)`,
        `${sec(median(gaps), 2)} / ${sec(Math.max(...gaps), 2)}`,
        "",
        "info",
      ));
    }
    const cycles1 = slotTimes(steps);
    rows.push(row(
      BENCH,
      `N=${n}, --concurrency=${conc}: one node's slot time, acquisition → release (median / max)`,
      `${sec(median(cycles1), 2)} / ${sec(Math.max(...cycles1), 2)}`,
      "",
      "info",
    ));
    // The same ratio with the cycle as it ran inside this rollout (slot time, which starts at the acquisition):
    // what is left above 1 is the lock's and the start's own overhead, not CPU contention of the harness.
    const inner = Math.ceil(n / conc) * median(cycles1);
    rows.push(row(
      BENCH,
      `N=${n}, --concurrency=${conc}: makespan / (ceil(N/c) × median slot time in this rollout = ${
        sec(inner)
      })`,
      (run.ms / inner).toFixed(2),
      "",
      "info",
    ));
    const reqs = await daemonRequests(cluster, install, auditFrom);
    // Issue 17.5: at most 40 per node cycle (kured made 27, kreboot 57 before the issue).
    rows.push(bounded(
      BENCH,
      `N=${n}, --concurrency=${conc}: API requests of all daemons per node cycle (start-up included)`,
      reqs.length / n,
      REQUESTS_PER_CYCLE_BOUND,
      "",
      1,
    ));
    notes.push(
      `--concurrency=${conc}: slot held (s after the sentinels appeared, acquisition→release, in order): ` +
        `${slotSpans(steps, run.t0Epoch)}.`,
    );
    notes.push(
      `--concurrency=${conc}: load average ${loadBefore.toFixed(2)} before, ${
        loadAverage().toFixed(2)
      } after; ` +
        `requests: ${breakdown(reqs)}.`,
    );
    o.progress(`${BENCH}: N=${n} c=${conc}: ${sec(run.ms)} (bound ${sec(bound)}, ratio ${ratio.toFixed(2)})`);
  }
  return { rows, notes };
}
