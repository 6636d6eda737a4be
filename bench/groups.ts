/**
 * Issue 15, groups in parallel: 24 simulated nodes in 3 groups of 8 (`--group-label`), `--concurrency=1` per
 * group, real daemon processes, every node needing a reboot at once. The groups lock independently, so the
 * rollout takes about as long as one group's: the target is makespan ≤ 1.10 × 8 × C, where C (one node's cycle
 * from its sentinel to its slot free) is measured alone in the same run, as bench/makespan.ts does.
 */
import { startCluster } from "../tests/harness/mod.ts";
import { installKreboot } from "../tests/e2e/support.ts";
import {
  type BenchOptions,
  type BenchResult,
  bounded,
  breakdown,
  loadAverage,
  median,
  row,
  sec,
} from "./common.ts";
import { KUBELET_DELAY_MS, measureCycle, prepareNode, rollout } from "./makespan.ts";
import { cycleSteps, daemonRequests, handovers, slotSpans, slotTimes } from "./rollout.ts";

const BENCH = "groups";
const LABEL = "topology.kubernetes.io/zone";
const ZONES = ["a", "b", "c"];

export async function groups(o: BenchOptions): Promise<BenchResult> {
  const perGroup = o.quick ? 3 : 8;
  const cycles = o.quick ? 2 : 3;
  const rows = [];
  const notes: string[] = [];
  await using cluster = await startCluster({ audit: true });
  await cluster.ensureNamespace("work");
  cluster.startKubelet({ delayMs: KUBELET_DELAY_MS });
  const { c } = await measureCycle(cluster, o, cycles, BENCH);
  rows.push(
    row(BENCH, `C: one node's cycle, sentinel → slot free (median of ${cycles})`, sec(c, 2), "", "info"),
  );

  const flags = [`--group-label=${LABEL}`, "--concurrency=1"];
  const install = await installKreboot(cluster, "zones", flags);
  const names: string[] = [];
  for (const zone of ZONES) {
    for (let i = 0; i < perGroup; i++) {
      const name = `g${zone}-${String(i).padStart(2, "0")}`;
      await prepareNode(cluster, name, { [LABEL]: zone });
      names.push(name);
    }
  }
  const loadBefore = loadAverage();
  const auditFrom = Date.now();
  const run = await rollout(cluster, { ...install, args: [...install.args, ...flags] }, names, 1_800_000);
  const n = names.length;
  const bound = perGroup * c;
  rows.push(
    row(
      BENCH,
      `N=${n} in ${ZONES.length} groups of ${perGroup}, --concurrency=1 per group: makespan`,
      sec(run.ms),
      "",
      "info",
    ),
  );
  rows.push(bounded(BENCH, `N=${n}: makespan / (${perGroup} × C = ${sec(bound)})`, run.ms / bound, 1.1));
  const steps = run.daemons.map(cycleSteps);
  const slots = slotTimes(steps);
  rows.push(row(
    BENCH,
    `N=${n}: one node's slot time, acquisition → release (median / max)`,
    `${sec(median(slots), 2)} / ${sec(Math.max(...slots), 2)}`,
    "",
    "info",
  ));
  const inner = perGroup * median(slots);
  rows.push(row(
    BENCH,
    `N=${n}: makespan / (${perGroup} × median slot time in this rollout = ${sec(inner)})`,
    (run.ms / inner).toFixed(2),
    "",
    "info",
  ));
  // Handovers within each group, from the daemons' own log times.
  const gaps: number[] = [];
  for (const zone of ZONES) {
    const mine = steps.filter((s) => s.node.startsWith(`g${zone}-`));
    gaps.push(...handovers(mine));
    notes.push(
      `group ${zone}: slot held (s after the sentinels appeared, acquisition→release, in order): ` +
        `${slotSpans(mine, run.t0Epoch)}.`,
    );
  }
  rows.push(row(
    BENCH,
    `N=${n}: handover within a group, release → next acquisition (median / max)`,
    `${sec(median(gaps), 2)} / ${sec(Math.max(...gaps), 2)}`,
    "",
    "info",
  ));
  const reqs = await daemonRequests(cluster, install, auditFrom);
  rows.push(row(
    BENCH,
    `N=${n}: API requests of all daemons per node cycle (start-up included)`,
    (reqs.length / n).toFixed(1),
    "",
    "info",
  ));
  notes.push(
    `load average ${loadBefore.toFixed(2)} before, ${loadAverage().toFixed(2)} after; requests: ${
      breakdown(reqs)
    }.`,
  );
  o.progress(`${BENCH}: N=${n}: ${sec(run.ms)} (bound ${sec(bound)}, ratio ${(run.ms / bound).toFixed(2)})`);

  // The same parallelism without groups: one group, --concurrency=3, as many fresh nodes. What the harness
  // costs at three reboots at a time, against which the groups' own cost can be told apart.
  const plain = await installKreboot(cluster, "plain", ["--concurrency=3"]);
  const plainNames: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `p-${String(i).padStart(2, "0")}`;
    await prepareNode(cluster, name);
    plainNames.push(name);
  }
  const base = await rollout(
    cluster,
    { ...plain, args: [...plain.args, "--concurrency=3"] },
    plainNames,
    1_800_000,
  );
  const baseSlots = slotTimes(base.daemons.map(cycleSteps));
  rows.push(row(
    BENCH,
    `the same without groups (N=${n}, --concurrency=3): makespan / (${perGroup} × C); median slot time`,
    `${(base.ms / bound).toFixed(2)}; ${sec(median(baseSlots), 2)}`,
    "",
    "info",
  ));
  o.progress(`${BENCH}: without groups: ${sec(base.ms)} (ratio ${(base.ms / bound).toFixed(2)})`);
  return { rows, notes };
}
