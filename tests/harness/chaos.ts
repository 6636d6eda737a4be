/**
 * One seeded chaos run, shared by the e2e test (a fixed set of seeds in CI) and `deno task chaos --runs N`.
 *
 * Six simulated nodes that all need a reboot, `--concurrency=2`, one of them cordoned by the administrator
 * beforehand, on the cluster with the real controllers: a Deployment and a StatefulSet under a PDB whose pods
 * the scheduler places, the drains evict and their controllers bring back elsewhere. While they roll, the run
 * (every random choice drawn from the seed) kills daemons with kill -9 at random moments and restarts them
 * after a random delay, restarts kube-apiserver once, deletes one Node while it holds a slot (its daemon is
 * killed first), flips the PDB's maxUnavailable between 0 and 1 (the disruption controller follows), and makes
 * the sentinel command hang now and then (killed by `--sentinel-command-timeout`); half the runs set
 * `--lock-ttl`. The safety monitor referees the whole run. A run passes when every remaining node rebooted
 * exactly once, is schedulable (the admin-cordoned one stays cordoned), every slot is free and the monitor
 * recorded no violation.
 *
 * Timing makes a run reproducible only in its choices (which daemon, when, how long): the interleaving with the
 * daemons is up to the machine. The seed is printed with every result.
 */
import { isNotFound } from "../../lib/kube/mod.ts";
import { type Phase, RECORDED_PHASES } from "../../lib/machine/mod.ts";
import { MERGE_PATCH } from "./full_kube.ts";
import { installKreboot } from "../e2e/support.ts";
import { REPO_ROOT } from "./controlplane.ts";
import type { Daemon } from "./daemon.ts";
import { startCluster } from "./mod.ts";
import { SafetyMonitor, type Violation } from "./monitor.ts";

export interface ChaosOptions {
  nodes?: number;
  concurrency?: number;
  /** Give up waiting for the roll-out after this long. */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface ChaosResult {
  seed: number;
  ok: boolean;
  durationMs: number;
  violations: Violation[];
  /** Problems with the end state (not rebooted exactly once, still cordoned, slot held, timeout). */
  failures: string[];
  crashes: number;
  deletedNode: string | undefined;
  maxDisrupted: number;
  summary: string;
}

function tryJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null ? v as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/** mulberry32: small, fast and good enough to make choices reproducible from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * How long a run's roll-out may take. Real evictions wait for real replacements and for the PDB's flips: most
 * runs take about a minute, but a StatefulSet pod slow to be Ready again keeps the PodDisruptionBudget at 0
 * and every drain waiting (50 s in a run of seed 9), and runs of 160-200 s were seen on 2 busy CPUs. After the
 * API server restart, kube-controller-manager's caches can lag for minutes: in one run of seed 10 the
 * PodDisruptionBudget counted 4 healthy pods for 2 minutes after kwok had made the fifth Ready again (the
 * StatefulSet controller meanwhile logged "read version 579 is not as new as written version 682"), and the
 * run took 234 s.
 */
const ROLLOUT_TIMEOUT_MS = 360_000;

const SENTINEL_COMMAND = `${REPO_ROOT}/tests/harness/sentinel_command.sh`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(seed: number, opts: ChaosOptions = {}): Promise<ChaosResult> {
  const rnd = seededRandom(seed);
  const between = (lo: number, hi: number) => Math.floor(lo + rnd() * (hi - lo));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const log = opts.log ?? (() => {});
  const nodeCount = opts.nodes ?? 6;
  const concurrency = opts.concurrency ?? 2;
  const t0 = Date.now();
  const at = () => `+${((Date.now() - t0) / 1000).toFixed(1)}s`;

  await using cluster = await startCluster({ controllers: true });
  const ds = "chaos";
  const install = await installKreboot(cluster, ds);
  await cluster.ensureNamespace("work");
  const names = Array.from({ length: nodeCount }, (_, i) => `chaos-${i}`);
  const admin = pick(names);
  const dbReplicas = between(1, nodeCount);
  // Pods that stop at once, or ignore SIGTERM for a second.
  const terminationSeconds = between(0, 2);
  for (const name of names) {
    await cluster.createNode(name, { pool: "chaos", unschedulable: name === admin });
  }
  await cluster.createDeployment("work", "web", { pool: "chaos", replicas: nodeCount, terminationSeconds });
  await cluster.createStatefulSet("work", "db", { pool: "chaos", replicas: dbReplicas, terminationSeconds });
  await cluster.createPdb("work", "db", { matchLabels: { app: "db" }, maxUnavailable: 1 });
  await cluster.waitForDeployment("work", "web");
  await cluster.waitForReadyPods("work", "app=db", dbReplicas);
  await cluster.waitForPdb("work", "db", 1);

  const monitor = await SafetyMonitor.start(cluster.kube, {
    dsName: ds,
    namespace: install.namespace,
    concurrency,
    nodeFilter: (n) => names.includes(n),
  });
  // Half the runs give the drain a short timeout, so that PDB flips make drains fail and nodes retreat (undo the
  // cordon, give the slot back) and try again a period later.
  const drainTimeout = rnd() < 0.5 ? `${between(3, 8)}s` : "0s";
  // More of the daemon's state to keep straight across crashes, each in about half the runs.
  const taint = rnd() < 0.5 ? "kreboot.dev/chaos" : undefined;
  const labels = rnd() < 0.5;
  // Half the runs set --lock-ttl, so holders renew through the kills and the apiserver restart and waiters
  // judge their silence; long enough for a killed holder to be back before it counts as silent.
  const lockTtl = rnd() < 0.5 ? `--lock-ttl=${between(20, 31)}s` : undefined;
  const extra = [
    ...(lockTtl ? [lockTtl] : []),
    ...(rnd() < 0.5 ? [`--lock-release-delay=${between(1, 4)}s`] : []),
    ...(taint ? [`--prefer-no-schedule-taint=${taint}`] : []),
    ...(labels ? ["--pre-reboot-node-labels=chaos=rebooting", "--post-reboot-node-labels=chaos=done"] : []),
    ...(rnd() < 0.5 ? ["--annotate-nodes"] : []),
  ];
  // kill -9 aimed at a phase: random moments rarely hit the short ones.
  const PHASES = [
    "cordoning",
    "draining",
    "recovering",
    "uncordoning",
    "release-delay",
    "releasing",
    "retreating",
  ];
  const aimed = [pick(PHASES), pick(PHASES)];
  const daemons = new Map<string, Daemon>();
  const hangFile = (node: string) => `${cluster.cp.dir}/nodes/${node}/hang`;
  for (const name of names) {
    const sentinel = `${cluster.cp.dir}/nodes/${name}/reboot-required`;
    const d = await cluster.startDaemon(name, {
      kubeconfig: install.kubeconfig,
      rebootRequired: true,
      rebootHooks: {
        before: monitor.rebootHooks.before ?? (() => {}),
        after: (d) => {
          log(`${at()} ${d.node} rebooted`);
          return monitor.rebootHooks.after?.(d);
        },
      },
      args: [
        ...install.args,
        `--concurrency=${concurrency}`,
        "--period=5s",
        `--reboot-sentinel-command=sh ${SENTINEL_COMMAND} ${sentinel} ${hangFile(name)}`,
        "--sentinel-command-timeout=2s",
        `--drain-timeout=${drainTimeout}`,
        ...extra,
      ],
    });
    monitor.attach(d);
    daemons.set(name, d);
  }
  log(
    `seed ${seed}: nodes ${names.join(",")}; admin-cordoned ${admin}; ${dbReplicas} PDB-guarded db pods; ` +
      `pods stop in ${terminationSeconds} s; ` +
      `drain timeout ${drainTimeout}; ${extra.join(" ") || "no extra flags"}; kill -9 aimed at ${
        aimed.join(", ")
      }`,
  );

  // The chaos, each kind its own task, all drawn from the seed up front where possible.
  let stop = false;
  let deleted: string | undefined;
  const live = () => [...daemons.values()].filter((d) => d.node !== deleted);
  const tasks: Promise<void>[] = [];
  const kills = Array.from({ length: between(3, 7) }, () => ({ at: between(1_000, 25_000) })).sort((a, b) =>
    a.at - b.at
  );
  tasks.push((async () => {
    const start = Date.now();
    for (const k of kills) {
      await sleep(Math.max(0, start + k.at - Date.now()));
      if (stop) return;
      const d = pick(live());
      const after = between(0, 3_000);
      log(`${at()} kill -9 ${d.node}, restart after ${after} ms`);
      tasks.push(d.crash(after));
    }
  })());
  const cleanups: (() => void)[] = [];
  /**
   * Calls `act` with the daemon of each slot holder as it enters `phase`, until `act` returns true. A phase
   * written on the slot Lease as the daemon enters it is seen as that lands there: the phases a restart needs
   * (RECORDED_PHASES), and with a TTL `recovering`, where the restarted daemon renews at once (lib/lock/keeper.ts)
   * — so an apiserver restart aimed there comes right after the holder's last write, as the TTL assumes. The
   * others are seen in the daemon's log, as its "phase changed" line comes.
   */
  const onPhase = (phase: string, act: (d: Daemon) => boolean) => {
    if (RECORDED_PHASES.has(phase as Phase) || (lockTtl && phase === "recovering")) {
      const unsubscribe = monitor.onSlotChange((holder, recorded) => {
        const d = daemons.get(holder);
        if (recorded === phase && d && act(d)) unsubscribe();
      });
      cleanups.push(unsubscribe);
      return;
    }
    const unsubscribes = [...daemons.values()].map((d) =>
      d.onLine((line) => {
        const entry = line.text.startsWith("{") ? tryJson(line.text) : undefined;
        if (entry?.msg !== "phase changed" || entry.phase !== phase || !act(d)) return;
        for (const u of unsubscribes) u();
      })
    );
    cleanups.push(...unsubscribes);
  };
  for (const phase of aimed) {
    const after = between(0, 2_000);
    onPhase(phase, (d) => {
      if (stop || d.node === deleted) return false;
      log(`${at()} kill -9 ${d.node} in phase ${phase}, restart after ${after} ms`);
      tasks.push(d.crash(after));
      return true;
    });
  }
  // The apiserver restart comes at a random moment, or (every other run, and every run with --lock-ttl) as a
  // slot holder enters a phase: with a TTL, one where it holds the slot for a while.
  const restartAt = between(3_000, 20_000);
  const downMs = between(500, 6_000);
  const restartPhase = lockTtl
    ? pick(["draining", "recovering"])
    : rnd() < 0.5
    ? pick(["cordoning", "draining", "recovering", "uncordoning", "releasing"])
    : undefined;
  let restartedAt: number | undefined;
  const restart = async (why: string) => {
    if (stop || restartedAt !== undefined) return;
    restartedAt = Date.now() - t0;
    log(`${at()} restarting kube-apiserver (down ${downMs} ms) ${why}`);
    await cluster.restartApiserver({ downMs });
    log(`${at()} kube-apiserver back`);
  };
  if (restartPhase !== undefined) {
    onPhase(restartPhase, (d) => {
      tasks.push(restart(`as ${d.node} enters ${restartPhase}`));
      return true;
    });
  }
  // Either way, there is one restart per run: at `restartAt`, or at the latest after 40 s.
  tasks.push(sleep(restartPhase === undefined ? restartAt : 40_000).then(() => restart("on schedule")));
  const deleteAfter = between(1_000, 15_000);
  tasks.push((async () => {
    await sleep(deleteAfter);
    while (!stop) {
      const holder = [...monitor.holders().values()].find((h) => h !== "" && h !== admin);
      const d = holder === undefined ? undefined : daemons.get(holder);
      if (d && d.reboots === 0) {
        deleted = d.node;
        log(`${at()} deleting node ${d.node} while it holds a slot (daemon killed first)`);
        d.kill("SIGKILL");
        await d.stop();
        await retry(() =>
          cluster.deleteNode(d.node).catch((e) => {
            if (!isNotFound(e)) throw e;
          })
        );
        return;
      }
      await sleep(200);
    }
  })());
  tasks.push((async () => {
    while (!stop) {
      await sleep(between(1_000, 3_000));
      if (stop) return;
      const maxUnavailable = rnd() < 0.5 ? 0 : 1;
      await retry(() =>
        cluster.kube.policy.patchNamespacedPodDisruptionBudget(
          { namespace: "work", name: "db", body: { spec: { maxUnavailable } } },
          MERGE_PATCH,
        )
      ).catch(() => {});
    }
  })());
  tasks.push((async () => {
    while (!stop) {
      await sleep(between(2_000, 5_000));
      if (stop) return;
      const node = pick(names);
      const ms = between(1_000, 6_000);
      await Deno.writeTextFile(hangFile(node), "").catch(() => {});
      await sleep(ms);
      await Deno.remove(hangFile(node)).catch(() => {});
    }
  })());

  // Wait for the roll-out: every remaining node rebooted, back in service (the admin's stays cordoned), slots
  // free.
  const failures: string[] = [];
  const deadline = t0 + (opts.timeoutMs ?? ROLLOUT_TIMEOUT_MS);
  let done = false;
  while (Date.now() < deadline) {
    await sleep(500);
    if (live().some((d) => d.reboots < 1)) continue;
    // Let the chaos that is scheduled run out before calling it done, so every run gets all of it.
    if (kills.length > 0 && Date.now() - t0 < Math.min(deadline - t0, (kills.at(-1)?.at ?? 0) + 1_000)) {
      continue;
    }
    if (deleted === undefined || restartedAt === undefined) continue;
    if (!(await endStateReached())) continue;
    done = true;
    break;
  }
  stop = true;
  for (const c of cleanups) c();
  await Promise.allSettled(tasks);
  for (const n of names) await Deno.remove(hangFile(n)).catch(() => {});
  if (!done) {
    failures.push(`the roll-out did not finish within ${opts.timeoutMs ?? ROLLOUT_TIMEOUT_MS} ms`);
    if (deleted === undefined) failures.push("no node was deleted while holding a slot");
  }
  // A little longer, to catch a node that would reboot a second time or cordon again.
  await sleep(3_000);
  await monitor.stop();
  for (const d of live()) {
    if (d.reboots !== 1) failures.push(`${d.node} rebooted ${d.reboots} times, expected exactly 1`);
  }
  if (!(await endStateReached(true))) failures.push("end state not reached (see above)");

  const crashes = [...daemons.values()].reduce((s, d) => s + d.crashes, 0);
  const durationMs = Date.now() - t0;
  const ok = failures.length === 0 && monitor.violations.length === 0;
  const restarts = cluster.cp.controllers?.restarts() ?? [];
  const summary =
    `seed ${seed}: ${ok ? "ok" : "FAILED"} in ${(durationMs / 1000).toFixed(1)}s; ${crashes} kill -9, ` +
    `apiserver down ${downMs} ms at ${
      restartedAt === undefined ? "-" : `+${(restartedAt / 1000).toFixed(1)}s`
    }, deleted ${deleted ?? "-"}, ` +
    `max disrupted ${monitor.maxDisrupted}; ${monitor.describe()}` +
    (restarts.length ? `\n  restarted (as a kubelet would): ${restarts.join(", ")}` : "") +
    (failures.length ? `\n  failures:\n    ${failures.join("\n    ")}` : "");
  if (!ok) {
    for (const d of daemons.values()) {
      log(`--- ${d.node}: ${d.reboots} reboots, ${d.crashes} crashes, log ${d.logFile}`);
      for (const l of d.lines.slice(-15)) log(`    ${l.text.slice(0, 400)}`);
    }
  }
  return {
    seed,
    ok,
    durationMs,
    violations: monitor.violations,
    failures,
    crashes,
    deletedNode: deleted,
    maxDisrupted: monitor.maxDisrupted,
    summary,
  };

  async function endStateReached(explain = false): Promise<boolean> {
    try {
      const nodes = await cluster.kube.core.listNode();
      let good = true;
      for (const n of nodes.items) {
        const name = n.metadata?.name ?? "";
        if (!names.includes(name)) continue;
        const cordoned = n.spec?.unschedulable === true;
        if (cordoned !== (name === admin)) {
          good = false;
          if (explain) failures.push(`${name} is ${cordoned ? "cordoned" : "schedulable"} at the end`);
        }
      }
      for (const n of nodes.items) {
        const name = n.metadata?.name ?? "";
        if (!names.includes(name)) continue;
        if (taint && (n.spec?.taints ?? []).some((t) => t.key === taint)) {
          good = false;
          if (explain) failures.push(`${name} still has the taint ${taint}`);
        }
        if (labels && n.metadata?.labels?.chaos !== "done") {
          good = false;
          if (explain) failures.push(`${name} has label chaos=${n.metadata?.labels?.chaos}, expected done`);
        }
      }
      const leases = await cluster.kube.coord.listNamespacedLease({
        namespace: install.namespace,
        labelSelector: `kreboot.dev/lock=${ds}`,
      });
      // A Lease that still names the deleted node is free as the lock judges it ("a slot whose holder Node no
      // longer exists is free"); it is rewritten by the next node that takes it.
      const existing = new Set(nodes.items.map((n) => n.metadata?.name ?? ""));
      for (const l of leases.items) {
        const holder = l.spec?.holderIdentity;
        if (l.metadata?.name?.includes("-slot-") && holder && existing.has(holder)) {
          good = false;
          if (explain) failures.push(`${l.metadata.name} still held by ${holder}`);
        }
      }
      return good;
    } catch (e) {
      if (explain) failures.push(`could not read the end state: ${String(e)}`);
      return false;
    }
  }
}

async function retry<T>(call: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(250);
    }
  }
}
